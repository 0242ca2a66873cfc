"""Learning to a threshold: minutes of CPU, so behind `-m slow` (`make test-slow`)."""

import pytest

pytest.importorskip("torch", reason="install the 'agents' extra")

from agents.evaluation import evaluate_policy
from agents.ppo import PPO, PPOConfig


@pytest.mark.slow
@pytest.mark.parametrize("task, goal", [("copy", 0.99), ("reverse", 0.95)])
def test_ppo_from_scratch_reaches_the_quality_goal_within_1m_steps(task, goal):
    config = PPOConfig(task=task, total_env_steps=1_000_000, seed=0)  # PPO's defaults
    agent = PPO(config)
    agent.learn()
    assert evaluate_policy(agent.policy, config, "test")["mean_similarity"] >= goal

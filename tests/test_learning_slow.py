"""Learning to a threshold: minutes of CPU, so behind `-m slow` (`make test-slow`)."""

import pytest

pytest.importorskip("torch", reason="install the 'agents' extra")

from agents.evaluation import evaluate_policy  # noqa: E402
from agents.ppo import PPO, PPOConfig  # noqa: E402


@pytest.mark.slow
def test_ppo_learns_copy_from_scratch():
    config = PPOConfig(task="copy", total_env_steps=400_000, seed=0)
    agent = PPO(config)
    agent.learn()
    assert evaluate_policy(agent.policy, config, "test")["mean_similarity"] >= 0.9

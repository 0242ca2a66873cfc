"""Learning to the goals: minutes to tens of minutes of CPU each, so behind `-m slow` (`make test-slow`).

The same runs, with their figures, are committed by benchmarks/agent_quality.py and
benchmarks/own_data.py.
"""

import json
import random

import pytest

pytest.importorskip("torch", reason="install the 'agents' extra")

from agents.algorithms.ppo import PPO, PPOConfig
from agents.algorithms.pretrain import Pretrain
from agents.model.evaluation import copy_baseline, evaluate_policy
from agents.recipes import ADDITION, SPELLING, long_reverse_config
from agents.runs.config import EnvConfig


def train_until(config: PPOConfig, goal, chunk: int = 1_000_000) -> dict:
    agent = PPO(config)
    while agent.env_steps < config.total_env_steps:
        agent.learn(until=agent.env_steps + chunk)
        result = agent.evaluate()
        if goal(result):
            break
    return result


@pytest.mark.slow
@pytest.mark.parametrize("task, goal", [("copy", 0.99), ("reverse", 0.95)])
def test_ppo_from_scratch_reaches_the_quality_goal_within_1m_steps(task, goal):
    agent = PPO(PPOConfig(env=EnvConfig(task=task), total_env_steps=1_000_000, seed=0))  # PPO's defaults
    agent.learn()
    assert agent.evaluate()["mean_similarity"] >= goal


@pytest.mark.slow
def test_curriculum_reverses_3_to_20_letters_within_10m_steps():
    result = train_until(long_reverse_config(), lambda r: r["mean_similarity"] >= 0.99 and r["exact_rate"] >= 0.95)
    assert result["mean_similarity"] >= 0.99 and result["exact_rate"] >= 0.95


@pytest.mark.slow
def test_addition_of_up_to_3_digits_within_10m_steps(tmp_path):
    """The ADDITION recipe: pre-training tokens plus PPO env steps stay within 10M."""
    pre = Pretrain(ADDITION.pretrain_config(0, str(tmp_path / "pre")))
    pre.learn()
    ppo_budget = 10_000_000 - pre.env_steps
    assert ppo_budget >= ADDITION.ppo_steps
    config = ADDITION.finetune_config(0, str(tmp_path / "pre" / "checkpoint.pt"), None)
    result = train_until(config, lambda r: r["exact_rate"] >= 0.95)
    assert result["exact_rate"] >= 0.95


@pytest.mark.slow
def test_spelling_recipe_beats_copying_the_input(tmp_path):
    pre = Pretrain(SPELLING.pretrain_config(0, str(tmp_path / "pre")))
    pre.learn()
    ppo = PPO(SPELLING.finetune_config(0, str(tmp_path / "pre" / "checkpoint.pt"), None))
    ppo.learn()
    test = pre.heldout_task()
    finetuned, pretrained = evaluate_policy(ppo.policy, test)["mean_similarity"], pre.evaluate()["mean_similarity"]
    assert finetuned > copy_baseline(test) + 0.03 and finetuned > pretrained


def write(path, pairs):
    path.write_text("".join(json.dumps({"prompt": p, "target": t}) + "\n" for p, t in pairs), encoding="utf-8")
    return str(path)


@pytest.mark.slow
def test_own_data_char_and_word_level(tmp_path):
    import importlib
    import inspect

    words, phrases = set(), []
    rng = random.Random(0)
    for name in (
        "argparse",
        "collections",
        "json",
        "logging",
        "pathlib",
        "subprocess",
        "typing",
        "unittest",
        "email",
        "decimal",
    ):
        module = importlib.import_module(name)
        for _, member in inspect.getmembers(module):
            for run in " ".join((inspect.getdoc(member) or "").split()).split("."):
                run = [w for w in run.split() if w.isalpha() and w.islower()]
                words.update(w for w in run if 3 <= len(w) <= 12)
                if len(run) >= 3:
                    phrases.append(" ".join(run[: rng.randint(3, 8)]))
    char_pairs = [(w, w.upper()) for w in sorted(words)]
    word_pairs = [(p, " ".join(reversed(p.split()))) for p in dict.fromkeys(phrases)]
    char = PPO(
        PPOConfig(
            env=EnvConfig(dataset=write(tmp_path / "upper.jsonl", char_pairs)), total_env_steps=1_000_000, update_epochs=6
        )
    )
    char.learn()
    assert char.evaluate()["mean_similarity"] >= 0.95
    word = PPO(
        PPOConfig(
            env=EnvConfig(dataset=write(tmp_path / "words.jsonl", word_pairs), tokenizer="word"), total_env_steps=3_000_000
        )
    )
    assert word.task.vocab_size > 1000
    word.learn()
    assert word.evaluate()["mean_similarity"] >= 0.9

"""Learning quality of the reference agents against their goals, with greedy held-out similarity.

    python benchmarks/agent_quality.py ppo-copy             # PPO from scratch on copy, 1M env steps
    python benchmarks/agent_quality.py ppo-reverse          # PPO from scratch on reverse (3-8 letters), 1M env steps
    python benchmarks/agent_quality.py reverse-curriculum   # PPO + length curriculum, reverse of 3-20 letters, up to 10M
    python benchmarks/agent_quality.py addition             # pre-training + PPO on addition of up to 3 digits, 10M in all
    python benchmarks/agent_quality.py spelling             # the demo recipe on spelling, 3 seeds, vs the copy baseline
    python benchmarks/agent_quality.py continue             # pre-training alone vs pre-training + PPO on continue

Each writes benchmarks/results/agent_quality_<name>.json. Runs with a budget of
several million steps are evaluated on the whole held-out split after every
million, and stop once their goal is met there (the JSON says where).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

from agents.algorithms.ppo import PPO, PPOConfig
from agents.algorithms.pretrain import Pretrain
from agents.bench import interval
from agents.model.evaluation import copy_baseline
from agents.recipes import ADDITION, CONTINUE, SPELLING, Recipe, long_reverse_config
from agents.runs.config import EnvConfig

RESULTS = Path(__file__).resolve().parent / "results"


def from_scratch(task: str, steps: int = 1_000_000) -> dict:
    config = PPOConfig(env=EnvConfig(task=task), total_env_steps=steps, seed=0)  # PPO's defaults
    started = time.perf_counter()
    agent = PPO(config)
    agent.learn()
    result = agent.evaluate()
    return {
        "task": task,
        "env_steps": agent.env_steps,
        "wall_s": time.perf_counter() - started,
        "heldout_similarity_greedy": result["mean_similarity"],
        "heldout_exact_rate": result["exact_rate"],
        "train_env_steps_per_s": agent.env_steps / (time.perf_counter() - started),
    }


def until_goal(config: PPOConfig, goal, chunk: int = 1_000_000) -> dict:
    """Train in chunks, evaluating the whole held-out split after each, until `goal(result)` or the budget."""
    agent, started, points = PPO(config), time.perf_counter(), []
    while agent.env_steps < config.total_env_steps:
        agent.learn(until=agent.env_steps + chunk)
        result = agent.evaluate()
        point = {
            "env_steps": agent.env_steps,
            "wall_s": time.perf_counter() - started,
            "heldout_similarity": result["mean_similarity"],
            "heldout_exact_rate": result["exact_rate"],
            "curriculum_max_length": agent.curriculum.max_length if agent.curriculum is not None else None,
        }
        points.append(point)
        print(json.dumps(point), flush=True)
        if goal(result):
            break
    met = goal(result)
    return {
        "config": json.loads(config.to_json()),
        "goal_met": met,
        "env_steps_to_goal": points[-1]["env_steps"] if met else None,
        "train_env_steps_per_s": agent.env_steps / points[-1]["wall_s"],
        "points": points,
    }


def reverse_curriculum() -> dict:
    """Reverse strings of 3-20 letters to >= 0.99 held-out similarity and >= 95% exact, within 10M env steps."""
    config = long_reverse_config(seed=0)
    return {
        "goal": "similarity >= 0.99 and exact >= 0.95",
        **until_goal(config, lambda r: r["mean_similarity"] >= 0.99 and r["exact_rate"] >= 0.95),
    }


def addition() -> dict:
    """Add numbers of up to 3 digits to >= 95% exact held-out matches within 10M env steps (the ADDITION recipe).

    Pre-training's target tokens count against the budget as env steps would: each is one
    token the policy was taught, as each env step is one token it tried.
    """
    started = time.perf_counter()
    pre = Pretrain(ADDITION.pretrain_config(0, "runs/quality/addition/pretrain"))
    pre.learn()
    pretrained = pre.evaluate()
    pretrain_point = {
        "pretrain_epochs": ADDITION.pretrain_epochs,
        "pretrain_target_tokens": pre.env_steps,
        "wall_s": time.perf_counter() - started,
        "heldout_similarity": pretrained["mean_similarity"],
        "heldout_exact_rate": pretrained["exact_rate"],
    }
    print(json.dumps(pretrain_point), flush=True)
    config = ADDITION.finetune_config(0, "runs/quality/addition/pretrain/checkpoint.pt", None)
    finetuned = until_goal(config, lambda r: r["exact_rate"] >= 0.95, chunk=500_000)
    steps = finetuned["env_steps_to_goal"]
    return {
        "goal": "exact >= 0.95 within 10M env steps, pre-training tokens included",
        "goal_met": finetuned["goal_met"] and pre.env_steps + steps <= 10_000_000,
        "total_steps_to_goal": pre.env_steps + steps if steps is not None else None,
        "pretrain": pretrain_point,
        "ppo": finetuned,
    }


def pretrain_then_finetune(recipe: Recipe, seed: int) -> dict:
    """Pre-training alone vs pre-training + PPO, held-out; the `make demo` recipe."""
    run = Path(f"runs/quality/{recipe.task}-{seed}")
    pre = Pretrain(recipe.pretrain_config(seed, str(run / "pretrain")))
    pre.learn()
    pretrained = pre.evaluate()
    ppo = PPO(recipe.finetune_config(seed, str(run / "pretrain" / "checkpoint.pt"), None))
    ppo.learn()
    finetuned = ppo.evaluate()
    test = pre.heldout_task()
    return {
        "seed": seed,
        "copy_baseline_similarity": copy_baseline(test),
        "pretrained_heldout_similarity": pretrained["mean_similarity"],
        "finetuned_heldout_similarity": finetuned["mean_similarity"],
        "pretrained_exact_rate": pretrained["exact_rate"],
        "finetuned_exact_rate": finetuned["exact_rate"],
        "ppo_env_steps": ppo.env_steps,
    }


def spelling() -> dict:
    """The demo's recipe on spelling, 3 seeds: the margin over the copy-the-input baseline, with its 95% interval."""
    seeds = [pretrain_then_finetune(SPELLING, seed) for seed in (0, 1, 2)]
    margins = [s["finetuned_heldout_similarity"] - s["copy_baseline_similarity"] for s in seeds]
    gains = [s["finetuned_heldout_similarity"] - s["pretrained_heldout_similarity"] for s in seeds]
    (margin, margin_ci), (gain, gain_ci) = interval(margins), interval(gains)
    return {
        "task": "spelling",
        "margin_over_copy": margin,
        "margin_ci95": margin_ci,
        "gain_from_ppo": gain,
        "gain_ci95": gain_ci,
        "seeds": seeds,
    }


def continue_task() -> dict:
    result = pretrain_then_finetune(CONTINUE, 0)
    return {"task": "continue", **result}


JOBS = {
    "ppo-copy": lambda: from_scratch("copy"),
    "ppo-reverse": lambda: from_scratch("reverse"),
    "reverse-curriculum": reverse_curriculum,
    "addition": addition,
    "spelling": spelling,
    "continue": continue_task,
}

if __name__ == "__main__":
    name = sys.argv[1] if len(sys.argv) > 1 else "ppo-copy"
    if name not in JOBS:
        raise SystemExit(f"unknown benchmark {name!r}; choose from {sorted(JOBS)}")
    result = {
        "command": f"python benchmarks/agent_quality.py {name}",
        "torch_threads": torch.get_num_threads(),
        **JOBS[name](),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"agent_quality_{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))

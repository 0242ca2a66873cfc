"""Learning quality of the reference agents, with greedy held-out similarity.

    python benchmarks/agent_quality.py ppo-copy      # PPO from scratch on copy, 1M env steps
    python benchmarks/agent_quality.py ppo-reverse   # PPO from scratch on reverse (3-8 letters), 1M env steps
    python benchmarks/agent_quality.py continue      # pre-training alone vs pre-training + PPO on continue

Each writes benchmarks/results/agent_quality_<name>.json.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

from agents.ppo import PPO, PPOConfig
from agents.pretrain import Pretrain
from agents.recipes import PRETRAIN_EPOCHS, finetune_config, pretrain_config

RESULTS = Path(__file__).resolve().parent / "results"


def from_scratch(task: str, steps: int = 1_000_000) -> dict:
    config = PPOConfig(task=task, total_env_steps=steps, seed=0)  # PPO's defaults
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
        "train_env_steps_per_s": agent.history[-1]["env_steps_per_s"],
    }


def pretrain_then_finetune(steps: int = 400_000) -> dict:
    """The `make demo` recipe, measured: pre-training alone vs pre-training + PPO on continue."""
    pre = Pretrain(pretrain_config("continue", epochs=PRETRAIN_EPOCHS, seed=0, run_dir="runs/quality/pretrain"))
    pre.learn()
    pretrained = pre.evaluate()
    ppo = PPO(finetune_config("continue", steps, seed=0, pretrained="runs/quality/pretrain/checkpoint.pt", run_dir=None))
    ppo.learn()
    finetuned = ppo.evaluate()
    return {
        "task": "continue",
        "pretrained_heldout_similarity": pretrained["mean_similarity"],
        "finetuned_heldout_similarity": finetuned["mean_similarity"],
        "pretrained_exact_rate": pretrained["exact_rate"],
        "finetuned_exact_rate": finetuned["exact_rate"],
        "ppo_env_steps": ppo.env_steps,
        "train_env_steps_per_s": ppo.history[-1]["env_steps_per_s"],
    }


if __name__ == "__main__":
    name = sys.argv[1] if len(sys.argv) > 1 else "ppo-copy"
    jobs = {
        "ppo-copy": lambda: from_scratch("copy"),
        "ppo-reverse": lambda: from_scratch("reverse"),
        "continue": pretrain_then_finetune,
    }
    if name not in jobs:
        raise SystemExit(f"unknown benchmark {name!r}; choose from {sorted(jobs)}")
    result = {
        "command": f"python benchmarks/agent_quality.py {name}",
        "torch_threads": torch.get_num_threads(),
        **jobs[name](),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"agent_quality_{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))

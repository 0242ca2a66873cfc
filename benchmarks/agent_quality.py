"""Learning quality of the reference agents against their goals, with greedy held-out similarity.

    python benchmarks/agent_quality.py ppo-copy             # PPO from scratch on copy, 1M env steps
    python benchmarks/agent_quality.py ppo-reverse          # PPO from scratch on reverse (3-8 letters), 1M env steps
    python benchmarks/agent_quality.py reverse-curriculum   # PPO + length curriculum, reverse of 3-20 letters, up to 10M
    python benchmarks/agent_quality.py addition             # pre-training + PPO on addition of up to 3 digits, 10M in all
    python benchmarks/agent_quality.py spelling             # the demo recipe on spelling, 5 seeds: what RL adds
    python benchmarks/agent_quality.py own-spelling         # the same recipe on your own text (docstring sentences), 5 seeds
    python benchmarks/agent_quality.py spelling-from-scratch  # PPO alone on spelling, up to 5M, vs copying the input
    python benchmarks/agent_quality.py long-copy            # PPO from scratch on copy of 3-64 letters, up to 2M
    python benchmarks/agent_quality.py long-copy-curriculum  # the same with the length curriculum
    python benchmarks/agent_quality.py reverse-text         # PPO from scratch on reverse_text, up to 10M (difflib ratio)
    python benchmarks/agent_quality.py reverse-text-errors  # where reverse_text goes wrong after 1M: by split and length
    python benchmarks/agent_quality.py reverse-text-curriculum  # reverse_text with the length curriculum, 3M
    python benchmarks/agent_quality.py continue             # pre-training alone vs pre-training + PPO on continue

Each writes benchmarks/results/agent_quality_<name>.json. Runs with a budget of
several million steps are evaluated on the whole held-out split after every
million, and stop once their goal is met there (the JSON says where).
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import platform
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path

import torch

from agents.algorithms.ppo import PPO, PPOConfig
from agents.algorithms.pretrain import Pretrain
from agents.bench import interval
from agents.model.evaluation import copy_baseline, evaluate_policy
from agents.recipes import ADDITION, CONTINUE, SPELLING, Recipe, long_reverse_config
from agents.runs.config import EnvConfig
from agents.runs.rundir import CHECKPOINT_NAME
from textgen_env.task import TextTask
from textgen_env.trl import difflib_ratio

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
        agent.learn(until=min(agent.env_steps + chunk, config.total_env_steps))
        result = agent.evaluate()
        point = {
            "env_steps": agent.env_steps,
            "wall_s": time.perf_counter() - started,
            "heldout_similarity": result["mean_similarity"],
            "heldout_exact_rate": result["exact_rate"],
            "heldout_difflib_ratio": result["mean_difflib_ratio"],
            "curriculum_max_length": agent.curriculum.max_length if agent.curriculum is not None else None,
        }
        points.append(point)
        print(json.dumps(point), flush=True)
        if goal(result):
            break
    met = goal(result)
    return {
        "config": asdict(config),
        "goal_met": met,
        "env_steps_to_goal": points[-1]["env_steps"] if met else None,
        "train_env_steps_per_s": agent.env_steps / points[-1]["wall_s"],
        "points": points,
    }


def long_copy() -> dict:
    """Copy strings of 3-64 letters to >= 0.99 held-out similarity within 2M env steps, PPO's defaults."""
    config = PPOConfig(env=EnvConfig(task="copy", task_options={"max_length": 64}), total_env_steps=2_000_000)
    return {"goal": "similarity >= 0.99 within 2M", **until_goal(config, lambda r: r["mean_similarity"] >= 0.99, 250_000)}


def long_copy_curriculum() -> dict:
    """long-copy with the length curriculum (shortest strings first), PPO's defaults otherwise."""
    config = PPOConfig(env=EnvConfig(task="copy", task_options={"max_length": 64}), total_env_steps=2_000_000, curriculum=True)
    return {"goal": "similarity >= 0.99 within 2M", **until_goal(config, lambda r: r["mean_similarity"] >= 0.99, 500_000)}


def reverse_text() -> dict:
    """Reverse the built-in sentences (28-74 characters) to a held-out difflib ratio >= 0.95 within 10M, PPO's defaults."""
    config = PPOConfig(env=EnvConfig(task="reverse_text"), total_env_steps=10_000_000)
    return {
        "goal": "difflib ratio >= 0.95 within 10M",
        **until_goal(config, lambda r: r["mean_difflib_ratio"] >= 0.95, 1_000_000),
    }


def reverse_text_curriculum() -> dict:
    """`reverse_text` with the length curriculum (shortest sentences first), PPO's defaults otherwise: a first
    look at 3M env steps of the 10M budget, evaluated every 1M."""
    config = PPOConfig(env=EnvConfig(task="reverse_text"), total_env_steps=3_000_000, curriculum=True)
    return {
        "goal": "difflib ratio >= 0.95 within 10M (3M run here)",
        **until_goal(config, lambda r: r["mean_difflib_ratio"] >= 0.95, 1_000_000),
    }


def reverse_text_errors(steps: int = 1_000_000) -> dict:
    """Where `reverse_text` goes wrong: PPO's defaults for `steps`, then greedy scores on the training and the
    held-out sentences by length, and the held-out sentences reversed worst. Memorized training sentences
    would score far above held-out ones; a pointer that loses its place would score lower the longer the text."""
    config = PPOConfig(env=EnvConfig(task="reverse_text"), total_env_steps=steps, seed=0)
    agent = PPO(config)
    agent.learn()
    splits = {}
    for split in ("train", "test"):
        task = TextTask(config.env.task_config(split, agent.task.tokenizer))
        result = evaluate_policy(agent.policy, task)
        ratios = [difflib_ratio(a, b) for a, b in zip(result["texts"], task.target_texts)]
        bands = {}
        for low, high in ((1, 40), (40, 50), (50, 60), (60, 200)):
            rows = [i for i, text in enumerate(task.target_texts) if low <= len(text) < high]
            bands[f"{low}-{high - 1} characters"] = {
                "sentences": len(rows),
                "difflib_ratio": sum(ratios[i] for i in rows) / max(len(rows), 1),
                "exact_rate": sum(result["texts"][i] == task.target_texts[i] for i in rows) / max(len(rows), 1),
            }
        worst = sorted(range(len(ratios)), key=ratios.__getitem__)[:5]
        splits[split] = {
            "sentences": len(task.dataset),
            "similarity": result["mean_similarity"],
            "difflib_ratio": result["mean_difflib_ratio"],
            "exact_rate": result["exact_rate"],
            "by_length": bands,
            "worst": [{"target": task.target_texts[i], "generated": result["texts"][i]} for i in worst],
        }
    return {"env_steps": agent.env_steps, "splits": splits}


def spelling_from_scratch() -> dict:
    """Spelling with PPO's defaults and no pre-training: above copying the input within 5M env steps."""
    config = PPOConfig(env=EnvConfig(task="spelling"), total_env_steps=5_000_000)
    bar = copy_baseline(TextTask(config.env.task_config("test")))
    return {
        "goal": f"similarity above copying the input ({bar:.3f}) within 5M",
        "copy_baseline_similarity": bar,
        **until_goal(config, lambda r: r["mean_similarity"] > bar, 1_000_000),
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
    config = ADDITION.finetune_config(0, f"runs/quality/addition/pretrain/{CHECKPOINT_NAME}", None)
    finetuned = until_goal(config, lambda r: r["exact_rate"] >= 0.95, chunk=500_000)
    steps = finetuned["env_steps_to_goal"]
    return {
        "goal": "exact >= 0.95 within 10M env steps, pre-training tokens included",
        "goal_met": finetuned["goal_met"] and pre.env_steps + steps <= 10_000_000,
        "total_steps_to_goal": pre.env_steps + steps if steps is not None else None,
        "pretrain": pretrain_point,
        "ppo": finetuned,
    }


def _one_thread() -> None:
    torch.set_num_threads(1)


def in_processes(function, arguments: list[tuple], jobs: int = 2) -> list:
    """`function(*a)` for each `a` of `arguments`, in `jobs` one-thread processes (independent seeds parallelize)."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_one_thread) as pool:
        return list(pool.map(function, *zip(*arguments)))


def pretrain_then_finetune(recipe: Recipe, seed: int, name: str | None = None) -> dict:
    """Pre-training alone vs pre-training + PPO, held-out; the `make demo` recipe.

    The pre-trained policy is also scored greedily on its own training pairs, next to its
    teacher-forced loss there: a low loss with errors in free-running decoding is exposure bias,
    which RL on the policy's own samples can correct.
    """
    run = Path(f"runs/quality/{name or recipe.task}-{seed}")
    shutil.rmtree(run, ignore_errors=True)  # a scratch folder: a second run of the benchmark replaces the first's
    pre = Pretrain(recipe.pretrain_config(seed, str(run / "pretrain")))
    pre.learn()
    pretrained = pre.evaluate()
    on_training_pairs = evaluate_policy(pre.policy, pre.task, episodes=len(pre.heldout_task().dataset))
    ppo = PPO(recipe.finetune_config(seed, str(run / "pretrain" / CHECKPOINT_NAME), None))
    ppo.learn()
    test = pre.heldout_task()  # the fine-tuning's prompts may differ (new noise): both are scored on these
    finetuned = evaluate_policy(ppo.policy, test)
    return {
        "seed": seed,
        "copy_baseline_similarity": copy_baseline(test),
        "pretrained_heldout_similarity": pretrained["mean_similarity"],
        "finetuned_heldout_similarity": finetuned["mean_similarity"],
        "pretrained_exact_rate": pretrained["exact_rate"],
        "finetuned_exact_rate": finetuned["exact_rate"],
        "pretrained_heldout_difflib_ratio": pretrained["mean_difflib_ratio"],
        "finetuned_heldout_difflib_ratio": finetuned["mean_difflib_ratio"],
        "pretrained_training_pairs_similarity": on_training_pairs["mean_similarity"],
        "pretrained_final_loss": pre.history[-1]["loss"],
        "ppo_env_steps": ppo.env_steps,
    }


def five_seeds(recipe: Recipe, name: str) -> dict:
    """`recipe` over 5 seeds: the gain RL adds to its pre-trained start and the margin over copying the
    input, each with its 95% interval."""
    seeds = in_processes(pretrain_then_finetune, [(recipe, seed, name) for seed in range(5)])
    margins = [s["finetuned_heldout_similarity"] - s["copy_baseline_similarity"] for s in seeds]
    gains = [s["finetuned_heldout_similarity"] - s["pretrained_heldout_similarity"] for s in seeds]
    (margin, margin_ci), (gain, gain_ci) = interval(margins), interval(gains)
    return {
        "task": recipe.task,
        "task_options": recipe.task_options,
        "margin_over_copy": margin,
        "margin_ci95": margin_ci,
        "gain_from_ppo": gain,
        "gain_ci95": gain_ci,
        "seeds": seeds,
    }


def spelling() -> dict:
    """The demo's recipe on spelling, 5 seeds."""
    return five_seeds(SPELLING, "spelling")


def own_spelling() -> dict:
    """The demo's recipe on a user's own text, 5 seeds: the spelling task over the sentences of a .txt file.

    The file holds the whole sentences (30-100 characters) of Python's standard-library docstrings
    (benchmarks/own_data.py), written by this job: nothing is downloaded, and the text depends
    only on the Python version.
    """
    from own_data import docstring_sentences  # benchmarks/, next to this file

    source = Path("runs/quality/own_text/docstring_sentences.txt")
    source.parent.mkdir(parents=True, exist_ok=True)
    sentences = docstring_sentences()
    source.write_text("".join(f"{sentence}\n" for sentence in sentences), encoding="utf-8")
    recipe = dataclasses.replace(SPELLING, task_options={"source": str(source)})
    return {"python": platform.python_version(), "sentences": len(sentences), **five_seeds(recipe, "own-spelling")}


def continue_task() -> dict:
    result = pretrain_then_finetune(CONTINUE, 0)
    return {"task": "continue", **result}


JOBS = {
    "ppo-copy": lambda: from_scratch("copy"),
    "ppo-reverse": lambda: from_scratch("reverse"),
    "reverse-curriculum": reverse_curriculum,
    "addition": addition,
    "spelling": spelling,
    "own-spelling": own_spelling,
    "spelling-from-scratch": spelling_from_scratch,
    "long-copy": long_copy,
    "long-copy-curriculum": long_copy_curriculum,
    "reverse-text": reverse_text,
    "reverse-text-errors": reverse_text_errors,
    "reverse-text-curriculum": reverse_text_curriculum,
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

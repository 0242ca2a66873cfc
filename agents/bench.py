"""Agents side by side: a grid of agents x tasks x seeds at one env-step budget.

Every agent, ours or a third party's, is driven through one small interface,
:class:`BenchAgent`: set up on a task and seed, train for more env steps, then
write texts for prompts. The harness trains in chunks, scores greedy generations
on the task's held-out split after each chunk (normalized Levenshtein similarity
over tokens, as the env's ``info["similarity"]``, and exact matches), and reports
per cell: final similarity and exact-match rate (mean over seeds with a 95%
interval), env steps to reach 0.9 similarity, training wall time and env-steps/s.

To benchmark your own agent, write a class with the three methods of
:class:`BenchAgent` and pass ``--agent your_module:YourClass``.
"""

from __future__ import annotations

import importlib
import json
import math
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
from rapidfuzz.distance import Levenshtein

from textgen_env.task import TextTask

SIMILARITY_GOAL = 0.9


@runtime_checkable
class BenchAgent(Protocol):
    """What the harness needs from an agent."""

    def setup(self, env_kwargs: dict, seed: int, budget: int) -> None:
        """Prepare to learn `TextGeneration-v0(**env_kwargs, split="train")` within `budget` env steps."""

    def train(self, env_steps: int) -> int:
        """Train for about `env_steps` more env steps; return the env steps used so far."""

    def generate(self, prompts: list[str]) -> list[str]:
        """Greedy generations for `prompts`."""


class ReferenceAgent:
    """One of our algorithms (reinforce, a2c, ppo) as a BenchAgent."""

    DEFAULTS = {"ppo": {}, "a2c": {"num_envs": 256}, "reinforce": {"num_envs": 256}}  # beyond each config's defaults

    def __init__(self, algorithm: str, **overrides):
        from agents.cli import ALGORITHMS

        self.algorithm_class = ALGORITHMS[algorithm]
        self.overrides = {**self.DEFAULTS[algorithm], **overrides}

    def setup(self, env_kwargs: dict, seed: int, budget: int) -> None:
        config = self.algorithm_class.config_class(**env_kwargs, seed=seed, total_env_steps=budget, **self.overrides)
        self.algorithm = self.algorithm_class(config)
        self.task = TextTask(split="all", **config.env_kwargs())

    def train(self, env_steps: int) -> int:
        self.algorithm.learn(until=self.algorithm.env_steps + env_steps)
        return self.algorithm.env_steps

    def generate(self, prompts: list[str]) -> list[str]:
        from agents.evaluation import generate_texts

        return generate_texts(self.algorithm.policy, self.task, prompts)


class StableBaselinesAgent:
    """Stable-Baselines3's PPO or A2C, or sb3-contrib's MaskablePPO, with MultiInputPolicy and default settings."""

    def __init__(self, algorithm: str, n_envs: int = 8):
        self.algorithm, self.n_envs = algorithm, n_envs

    def setup(self, env_kwargs: dict, seed: int, budget: int) -> None:
        from stable_baselines3.common.env_util import make_vec_env

        from textgen_env.env import TextGenerationEnv

        if self.algorithm == "MaskablePPO":
            from sb3_contrib import MaskablePPO as algorithm_class
        else:
            import stable_baselines3

            algorithm_class = getattr(stable_baselines3, self.algorithm)
        venv = make_vec_env("TextGeneration-v0", n_envs=self.n_envs, seed=seed, env_kwargs={**env_kwargs, "split": "train"})
        self.model = algorithm_class("MultiInputPolicy", venv, seed=seed, verbose=0)
        self.writer = TextGenerationEnv(**env_kwargs, split="all")  # writes for any prompt, scored by the harness
        self.masked = self.algorithm == "MaskablePPO"

    def train(self, env_steps: int) -> int:
        self.model.learn(env_steps, reset_num_timesteps=False)
        return int(self.model.num_timesteps)

    def generate(self, prompts: list[str]) -> list[str]:
        texts = []
        for prompt in prompts:
            obs, _ = self.writer.reset(options={"prompt": prompt, "target": ""})
            done = False
            while not done:
                extra = {"action_masks": self.writer.action_masks()} if self.masked else {}
                action, _ = self.model.predict(obs, deterministic=True, **extra)
                obs, _, done, _, info = self.writer.step(int(action))
            texts.append(self.writer.generated_text())
        return texts


EXTRAS = {"sb3-ppo": "sb3", "sb3-a2c": "sb3", "sb3-maskable-ppo": "sb3"}
BUILTIN_AGENTS = {
    "ours-ppo": lambda: ReferenceAgent("ppo"),
    "ours-a2c": lambda: ReferenceAgent("a2c"),
    "ours-reinforce": lambda: ReferenceAgent("reinforce"),
    "sb3-ppo": lambda: StableBaselinesAgent("PPO"),
    "sb3-a2c": lambda: StableBaselinesAgent("A2C"),
    "sb3-maskable-ppo": lambda: StableBaselinesAgent("MaskablePPO"),
}


def agent_available(name: str) -> bool:
    if name not in EXTRAS:
        return True
    try:
        importlib.import_module("stable_baselines3")
        importlib.import_module("sb3_contrib")
    except ImportError:
        return False
    return True


def make_agent(name: str) -> BenchAgent:
    """A built-in agent by name, or `module:Class` for your own."""
    if name in BUILTIN_AGENTS:
        if not agent_available(name):
            raise ValueError(f"agent {name!r} needs the '{EXTRAS[name]}' extra: pip install 'textgen-env[{EXTRAS[name]}]'")
        return BUILTIN_AGENTS[name]()
    if ":" in name:
        module, _, attribute = name.partition(":")
        try:
            agent = getattr(importlib.import_module(module), attribute)()
        except (ImportError, AttributeError) as e:
            raise ValueError(f"agent {name!r}: cannot load it ({e})") from None
        if not isinstance(agent, BenchAgent):
            raise ValueError(f"agent {name!r} lacks setup/train/generate (see agents.bench.BenchAgent)")
        return agent
    raise ValueError(f"agent {name!r}: allowed are {sorted(BUILTIN_AGENTS)} or 'module:Class'")


@dataclass
class BenchSpec:
    agents: list[str]
    tasks: list[str]
    seeds: list[int]
    budget: int
    eval_points: int = 5
    eval_episodes: int | None = 100  # None: the whole held-out split
    name: str = "custom"


PRESETS = {
    "quick": BenchSpec(list(BUILTIN_AGENTS), ["copy", "reverse"], [0, 1], 30_000, 3, 100, "quick"),
    "full": BenchSpec(list(BUILTIN_AGENTS), ["copy", "reverse", "continue"], [0, 1, 2], 300_000, 10, None, "full"),
}


def score(texts: list[str], targets: list[str], tokenizer) -> tuple[float, float]:
    """Mean normalized similarity over tokens, and the exact-match rate."""
    similarity = [Levenshtein.normalized_similarity(tokenizer.encode(t), tokenizer.encode(g)) for g, t in zip(texts, targets)]
    exact = [g == t for g, t in zip(texts, targets)]
    return float(np.mean(similarity)), float(np.mean(exact))


def run_cell(agent_name: str, task: str, seed: int, spec: BenchSpec) -> dict:
    """Train one agent on one task with one seed; evaluate after each chunk of the budget."""
    agent = make_agent(agent_name)
    agent.setup({"task": task}, seed, spec.budget)
    held_out = TextTask(task=task, split="test")
    count = len(held_out.dataset) if spec.eval_episodes is None else min(spec.eval_episodes, len(held_out.dataset))
    prompts, targets = held_out.dataset.prompts[:count], held_out.target_texts[:count]
    curve, used, train_seconds = [], 0, 0.0
    for point in range(1, spec.eval_points + 1):
        started = time.perf_counter()
        used = agent.train(max(1, spec.budget * point // spec.eval_points - used))
        train_seconds += time.perf_counter() - started
        similarity, exact = score(agent.generate(prompts), targets, held_out.tokenizer)
        curve.append({"env_steps": used, "similarity": similarity, "exact_rate": exact})
    reached = next((p["env_steps"] for p in curve if p["similarity"] >= SIMILARITY_GOAL), None)
    return {
        "agent": agent_name,
        "task": task,
        "seed": seed,
        "similarity": curve[-1]["similarity"],
        "exact_rate": curve[-1]["exact_rate"],
        "steps_to_goal": reached,
        "train_seconds": train_seconds,
        "env_steps": used,
        "env_steps_per_s": used / train_seconds,
        "curve": curve,
    }


_T_95 = {1: 12.71, 2: 4.30, 3: 3.18, 4: 2.78, 5: 2.57, 6: 2.45, 7: 2.36, 8: 2.31, 9: 2.26}


def interval(values: list[float]) -> tuple[float, float]:
    """Mean and half-width of the 95% t-interval (0 for a single value)."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, 0.0
    t = _T_95.get(len(values) - 1, 1.96)
    return mean, t * statistics.stdev(values) / math.sqrt(len(values))


def summarize(cells: list[dict]) -> list[dict]:
    rows = []
    for agent, task in dict.fromkeys((c["agent"], c["task"]) for c in cells):
        group = [c for c in cells if c["agent"] == agent and c["task"] == task]
        similarity, half_width = interval([c["similarity"] for c in group])
        reached = [c["steps_to_goal"] for c in group if c["steps_to_goal"] is not None]
        rows.append(
            {
                "agent": agent,
                "task": task,
                "seeds": len(group),
                "similarity": similarity,
                "similarity_ci95": half_width,
                "exact_rate": statistics.fmean(c["exact_rate"] for c in group),
                "steps_to_goal": statistics.fmean(reached) if reached else None,
                "seeds_reaching_goal": len(reached),
                "train_seconds": statistics.fmean(c["train_seconds"] for c in group),
                "env_steps_per_s": statistics.fmean(c["env_steps_per_s"] for c in group),
            }
        )
    return rows


def to_markdown(spec: BenchSpec, rows: list[dict], command: str) -> str:
    lines = [
        f"# Agents side by side ({spec.name})",
        "",
        f"Command: `{command}`. Budget {spec.budget:,} env steps per run, seeds {spec.seeds}; greedy decoding on the held-out split"
        f" ({'all' if spec.eval_episodes is None else spec.eval_episodes} prompts). Similarity: mean ± 95% interval over seeds.",
        "",
        "| task | agent | similarity | exact | steps to 0.9 | train s | env steps/s |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: (r["task"], -r["similarity"])):
        goal = (
            f"{r['steps_to_goal']:,.0f} ({r['seeds_reaching_goal']}/{r['seeds']})"
            if r["steps_to_goal"] is not None
            else f"not reached (0/{r['seeds']})"
        )
        lines.append(
            f"| {r['task']} | {r['agent']} | {r['similarity']:.3f} ± {r['similarity_ci95']:.3f} | {r['exact_rate']:.1%} | {goal} | {r['train_seconds']:.0f} | {r['env_steps_per_s']:,.0f} |"
        )
    return "\n".join(lines + ppo_comparison(rows)) + "\n"


def ppo_comparison(rows: list[dict], ours: str = "ours-ppo", theirs: str = "sb3-ppo") -> list[str]:
    """Markdown lines comparing our PPO with Stable-Baselines3's, per task, when both ran."""
    by_key = {(r["task"], r["agent"]): r for r in rows}
    tasks = [t for t in dict.fromkeys(r["task"] for r in rows) if (t, ours) in by_key and (t, theirs) in by_key]
    if not tasks:
        return []
    lines = [
        "",
        f"{ours} vs {theirs} (same run, same budget):",
        "",
        "| task | env-steps/s ratio | similarity, ours - theirs |",
        "|---|---|---|",
    ]
    for task in tasks:
        a, b = by_key[(task, ours)], by_key[(task, theirs)]
        lines.append(
            f"| {task} | {a['env_steps_per_s'] / b['env_steps_per_s']:.1f}x | {a['similarity'] - b['similarity']:+.3f} |"
        )
    return lines


def plot_curves(cells: list[dict], path_prefix: Path) -> list[Path]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    written = []
    for task in dict.fromkeys(c["task"] for c in cells):
        fig, axis = plt.subplots(figsize=(6, 4))
        for agent in dict.fromkeys(c["agent"] for c in cells):
            group = [c for c in cells if c["agent"] == agent and c["task"] == task]
            if not group:
                continue
            steps = [p["env_steps"] for p in group[0]["curve"]]
            mean = np.mean([[p["similarity"] for p in c["curve"]] for c in group], axis=0)
            axis.plot(steps, mean, marker="o", label=agent)
        axis.axhline(SIMILARITY_GOAL, color="grey", linestyle=":", linewidth=1)
        axis.set(title=f"{task}: held-out similarity (greedy)", xlabel="env steps", ylabel="mean similarity", ylim=(0, 1.02))
        axis.legend(fontsize=8)
        fig.tight_layout()
        path = Path(f"{path_prefix}_{task}.png")
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


def run_benchmark(spec: BenchSpec, out_dir: Path, command: str, log=print) -> dict:
    available = [a for a in spec.agents if agent_available(a)]
    for skipped in sorted(set(spec.agents) - set(available)):
        log(f"skipping {skipped}: install the '{EXTRAS[skipped]}' extra (pip install 'textgen-env[{EXTRAS[skipped]}]')")
    cells = []
    for task in spec.tasks:
        for agent in available:
            for seed in spec.seeds:
                cell = run_cell(agent, task, seed, spec)
                log(
                    f"{task:9} {agent:17} seed {seed}: similarity {cell['similarity']:.3f}, {cell['env_steps_per_s']:,.0f} env steps/s"
                )
                cells.append(cell)
    rows = summarize(cells)
    out_dir.mkdir(parents=True, exist_ok=True)
    prefix = out_dir / f"agents_{spec.name}"
    result = {"command": command, "spec": asdict(spec), "summary": rows, "cells": cells}
    Path(f"{prefix}.json").write_text(json.dumps(result, indent=2) + "\n")
    Path(f"{prefix}.md").write_text(to_markdown(spec, rows, command))
    result["plots"] = [str(p) for p in plot_curves(cells, prefix)]
    log(to_markdown(spec, rows, command))
    return result

"""Agents side by side: a grid of agents x tasks x seeds at a fixed env-step budget per task.

Every agent, ours or a third party's, is driven through one small interface,
:class:`BenchAgent`: set up on a task and seed, train for more env steps, then
write texts for prompts. The harness trains in chunks, scores greedy generations
on the task's held-out split after each chunk (normalized Levenshtein similarity
over tokens, as the env's ``info["similarity"]``, and exact matches), and reports
per cell: final similarity and exact-match rate (mean over seeds with a 95%
interval), env steps to reach 0.9 and 0.99 similarity, training wall time and
env-steps/s. Two untrained baselines join any grid: ``copy-prompt`` writes the
prompt back, ``random`` writes random tokens.

A task is a built-in name, optionally with options (``reverse:max_length=16,seed=1``),
or a dataset file. To benchmark your own agent, write a class with the three
methods of :class:`BenchAgent` and pass ``--agents your_module:YourClass``
(looked up in the current folder too, as ``python -m`` does).
"""

from __future__ import annotations

import importlib
import json
import math
import os
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
from rapidfuzz.distance import Levenshtein

from agents.config import EnvConfig, parse_option_value
from textgen_env.task import TextTask
from textgen_env.tasks import TASKS

THRESHOLDS = (0.9, 0.99)


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
    """One of our algorithms (reinforce, a2c, ppo) as a BenchAgent; `overrides` set config fields."""

    DEFAULTS = {"ppo": {}, "a2c": {"num_envs": 256}, "reinforce": {"num_envs": 256}}  # beyond each config's defaults

    def __init__(self, algorithm: str, **overrides):
        from agents.registry import RL_ALGORITHMS

        self.algorithm_class = RL_ALGORITHMS[algorithm]
        self.overrides = {**self.DEFAULTS[algorithm], **overrides}

    def setup(self, env_kwargs: dict, seed: int, budget: int) -> None:
        values = {k: v for k, v in env_kwargs.items() if v is not None}
        values["task_options"] = values.get("task_options") or {}
        env = EnvConfig(**values)
        config = self.algorithm_class.config_class(env=env, seed=seed, total_env_steps=budget, **self.overrides)
        self.algorithm = self.algorithm_class(config)

    def train(self, env_steps: int) -> int:
        self.algorithm.learn(until=self.algorithm.env_steps + env_steps)
        return self.algorithm.env_steps

    def generate(self, prompts: list[str]) -> list[str]:
        from agents.decoding import generate_texts

        return generate_texts(self.algorithm.policy, self.algorithm.task.tokenizer, self.algorithm.task.rules, prompts)


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
        self.writer = TextGenerationEnv(**{**env_kwargs, "split": "all"})  # writes for any prompt, scored by the harness
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
                obs, _, done, _, _ = self.writer.step(int(action))
            texts.append(self.writer.generated_text())
        return texts


class CopyPromptAgent:
    """The copy-the-input baseline: writes the prompt back, untrained."""

    def setup(self, env_kwargs: dict, seed: int, budget: int) -> None:
        self.used = 0

    def train(self, env_steps: int) -> int:
        self.used += env_steps  # nothing to learn: the budget is only counted
        return self.used

    def generate(self, prompts: list[str]) -> list[str]:
        return list(prompts)


class RandomAgent(CopyPromptAgent):
    """The random baseline: valid tokens drawn uniformly, EOS among them, untrained."""

    def setup(self, env_kwargs: dict, seed: int, budget: int) -> None:
        super().setup(env_kwargs, seed, budget)
        self.task = TextTask(**{**env_kwargs, "split": "all"})
        self.rng = np.random.default_rng(seed)

    def generate(self, prompts: list[str]) -> list[str]:
        rules, texts = self.task.rules, []
        for _ in prompts:
            ids = []
            for step in range(rules.max_new_tokens):
                token = int(self.rng.choice(np.flatnonzero(rules.action_mask_table[step])))
                if token == 2:  # EOS
                    break
                ids.append(token)
            texts.append(self.task.tokenizer.decode(ids))
        return texts


EXTRAS = {"sb3-ppo": "sb3", "sb3-a2c": "sb3", "sb3-maskable-ppo": "sb3"}
BUILTIN_AGENTS = {
    "ours-ppo": lambda: ReferenceAgent("ppo"),
    "ours-ppo-curriculum": lambda: ReferenceAgent("ppo", curriculum=True),
    "ours-a2c": lambda: ReferenceAgent("a2c"),
    "ours-reinforce": lambda: ReferenceAgent("reinforce"),
    "sb3-ppo": lambda: StableBaselinesAgent("PPO"),
    "sb3-a2c": lambda: StableBaselinesAgent("A2C"),
    "sb3-maskable-ppo": lambda: StableBaselinesAgent("MaskablePPO"),
    "copy-prompt": CopyPromptAgent,
    "random": RandomAgent,
}
BASELINES = ("copy-prompt", "random")


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
    """A built-in agent by name, or `module:Class` for your own (found in the current folder too)."""
    if name in BUILTIN_AGENTS:
        if not agent_available(name):
            raise ValueError(f"agent {name!r} needs the '{EXTRAS[name]}' extra: pip install 'textgen-env[{EXTRAS[name]}]'")
        return BUILTIN_AGENTS[name]()
    if ":" in name:
        module, _, attribute = name.partition(":")
        if os.getcwd() not in sys.path:  # as `python -m` does, so a module beside the user's data is found
            sys.path.insert(0, os.getcwd())
        try:
            agent = getattr(importlib.import_module(module), attribute)()
        except (ImportError, AttributeError) as e:
            raise ValueError(f"agent {name!r}: cannot load it ({e})") from None
        if not isinstance(agent, BenchAgent):
            raise ValueError(f"agent {name!r} lacks setup/train/generate (see agents.bench.BenchAgent)")
        return agent
    raise ValueError(f"agent {name!r}: allowed are {sorted(BUILTIN_AGENTS)} or 'module:Class'")


def task_kwargs(task: str, env: dict) -> dict:
    """The env arguments of a bench task: ``name``, ``name:key=value,...`` or a dataset file; `env` adds to them."""
    name, _, options = task.partition(":")
    if name in TASKS:
        parsed = {}
        for item in filter(None, options.split(",")):
            key, sep, value = item.partition("=")
            if not sep:
                raise ValueError(f"task {task!r}: options must be key=value, got {item!r}")
            parsed[key] = parse_option_value(value)
        return {**env, "task": name, "task_options": {**env.get("task_options", {}), **parsed}}
    if not os.path.isfile(task):
        raise ValueError(f"task {task!r}: neither a built-in task {list(TASKS)} nor a dataset file")
    return {**env, "dataset": task}


@dataclass
class BenchSpec:
    agents: list[str]
    tasks: list[str]
    seeds: list[int]
    budget: int  # env steps per run, unless `budgets` names the task
    eval_points: int = 5
    eval_episodes: int | None = 100  # None: the whole held-out split
    name: str = "custom"
    budgets: dict = field(default_factory=dict)
    env: dict = field(default_factory=dict)  # env arguments every task gets

    def budget_of(self, task: str) -> int:
        return self.budgets.get(task, self.budget)


SUITE_TASKS = ["copy", "reverse", "repeat", "duplicate", "sort", "addition", "spelling", "reverse_words", "continue"]
LADDER_LENGTHS = (8, 16, 32, 64)
PRESETS = {
    "quick": BenchSpec(
        ["ours-ppo", "ours-a2c", "ours-reinforce", "sb3-ppo", "sb3-a2c", "sb3-maskable-ppo"],
        ["copy", "reverse"],
        [0, 1],
        30_000,
        3,
        100,
        "quick",
    ),
    "full": BenchSpec(
        ["ours-ppo", "ours-a2c", "ours-reinforce", "sb3-ppo", "sb3-a2c", "sb3-maskable-ppo"],
        ["copy", "reverse", "continue"],
        [0, 1, 2],
        300_000,
        10,
        None,
        "full",
    ),
    "suite": BenchSpec(
        ["ours-ppo", "ours-a2c", "ours-reinforce", "sb3-ppo", *BASELINES],
        SUITE_TASKS,
        [0, 1],
        200_000,
        5,
        200,
        "suite",
        budgets={"repeat": 300_000, "duplicate": 300_000, "sort": 300_000, "addition": 500_000, "spelling": 300_000},
    ),
    "ladder": BenchSpec(
        ["ours-ppo", "ours-ppo-curriculum"],
        [f"reverse:min_length=3,max_length={n}" for n in LADDER_LENGTHS],
        [0],
        1_000_000,
        10,
        200,
        "ladder",
    ),
}


def score(texts: list[str], targets: list[str], tokenizer) -> tuple[float, float]:
    """Mean normalized similarity over tokens, and the exact-match rate."""
    similarity = [Levenshtein.normalized_similarity(tokenizer.encode(t), tokenizer.encode(g)) for g, t in zip(texts, targets)]
    exact = [g == t for g, t in zip(texts, targets)]
    return float(np.mean(similarity)), float(np.mean(exact))


def run_cell(agent_name: str, task: str, seed: int, spec: BenchSpec) -> dict:
    """Train one agent on one task with one seed; evaluate after each chunk of the budget."""
    kwargs = task_kwargs(task, spec.env)
    held_out = TextTask(**{**kwargs, "split": "test"})
    agent = make_agent(agent_name)
    budget = spec.budget_of(task)
    agent.setup(kwargs, seed, budget)
    count = len(held_out.dataset) if spec.eval_episodes is None else min(spec.eval_episodes, len(held_out.dataset))
    prompts, targets = held_out.dataset.prompts[:count], held_out.target_texts[:count]
    curve, used, train_seconds = [], 0, 0.0
    for point in range(1, spec.eval_points + 1):
        started = time.perf_counter()
        used = agent.train(max(1, budget * point // spec.eval_points - used))
        train_seconds += time.perf_counter() - started
        similarity, exact = score(agent.generate(prompts), targets, held_out.tokenizer)
        curve.append({"env_steps": used, "similarity": similarity, "exact_rate": exact})
    reached = {str(t): next((p["env_steps"] for p in curve if p["similarity"] >= t), None) for t in THRESHOLDS}
    return {
        "agent": agent_name,
        "task": task,
        "seed": seed,
        "similarity": curve[-1]["similarity"],
        "exact_rate": curve[-1]["exact_rate"],
        "steps_to": reached,
        "train_seconds": train_seconds,
        "env_steps": used,
        "env_steps_per_s": used / train_seconds if agent_name not in BASELINES else None,
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
        row = {
            "agent": agent,
            "task": task,
            "seeds": len(group),
            "similarity": similarity,
            "similarity_ci95": half_width,
            "exact_rate": statistics.fmean(c["exact_rate"] for c in group),
            "train_seconds": statistics.fmean(c["train_seconds"] for c in group),
            "env_steps_per_s": statistics.fmean(c["env_steps_per_s"] for c in group)
            if group[0]["env_steps_per_s"] is not None
            else None,
        }
        for t in THRESHOLDS:
            reached = [c["steps_to"][str(t)] for c in group if c["steps_to"][str(t)] is not None]
            row[f"steps_to_{t}"] = statistics.fmean(reached) if reached else None
            row[f"seeds_reaching_{t}"] = len(reached)
        rows.append(row)
    return rows


def _steps(row: dict, t: float) -> str:
    if row[f"steps_to_{t}"] is None:
        return f"not reached (0/{row['seeds']})"
    return f"{row[f'steps_to_{t}']:,.0f} ({row[f'seeds_reaching_{t}']}/{row['seeds']})"


def to_markdown(spec: BenchSpec, rows: list[dict], command: str) -> str:
    budgets = ", ".join(f"{t} {spec.budget_of(t):,}" for t in spec.tasks) if spec.budgets else f"{spec.budget:,}"
    lines = [
        f"# Agents side by side ({spec.name})",
        "",
        f"Command: `{command}`. Budget (env steps per run): {budgets}; seeds {spec.seeds};"
        f" greedy decoding on the held-out split ({'all' if spec.eval_episodes is None else spec.eval_episodes} prompts)."
        " Similarity: mean ± 95% interval over seeds."
        " `copy-prompt` and `random` are untrained baselines.",
        "",
        "| task | agent | similarity | exact | steps to 0.9 | steps to 0.99 | train s | env steps/s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: (spec.tasks.index(r["task"]) if r["task"] in spec.tasks else 0, -r["similarity"])):
        speed = f"{r['env_steps_per_s']:,.0f}" if r["env_steps_per_s"] is not None else "-"
        lines.append(
            f"| {r['task']} | {r['agent']} | {r['similarity']:.3f} ± {r['similarity_ci95']:.3f} | {r['exact_rate']:.1%}"
            f" | {_steps(r, 0.9)} | {_steps(r, 0.99)} | {r['train_seconds']:.0f} | {speed} |"
        )
    return "\n".join(lines + ppo_comparison(rows) + baseline_comparison(rows)) + "\n"


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


def baseline_comparison(rows: list[dict]) -> list[str]:
    """Per task: the best trained agent against the better untrained baseline (a margin of 0 or less: not learned).

    A baseline that already solves the task (copy-prompt on `copy`) is no bar to pass: the other one is used.
    """
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    lines = []
    for task in tasks:
        baselines = [r for r in rows if r["task"] == task and r["agent"] in BASELINES and r["exact_rate"] < 1.0]
        trained = [r for r in rows if r["task"] == task and r["agent"] not in BASELINES]
        if not baselines or not trained:
            continue
        base, best = max(baselines, key=lambda r: r["similarity"]), max(trained, key=lambda r: r["similarity"])
        margin = best["similarity"] - base["similarity"]
        verdict = "learned past the baseline" if margin - best["similarity_ci95"] > 0 else "NOT clearly past the baseline"
        lines.append(
            f"| {task} | {best['agent']} {best['similarity']:.3f} ± {best['similarity_ci95']:.3f}"
            f" | {base['agent']} {base['similarity']:.3f} | {margin:+.3f} | {verdict} |"
        )
    if not lines:
        return []
    return [
        "",
        "Best trained agent against the better untrained baseline:",
        "",
        "| task | best agent | baseline | margin | |",
        "|---|---|---|---|---|",
        *lines,
    ]


def steps_formatter():
    """Tick labels 100K, 1.5M for env-step axes."""
    from matplotlib.ticker import FuncFormatter

    def label(value, _):
        for size, suffix in ((1e6, "M"), (1e3, "K")):
            if abs(value) >= size:
                return f"{value / size:g}{suffix}"
        return f"{value:g}"

    return FuncFormatter(label)


def _pyplot(log):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("no learning-curve plots: matplotlib is not installed (pip install 'textgen-env[plots]')")
        return None
    return plt


def plot_curves(cells: list[dict], path_prefix: Path, log=print) -> list[Path]:
    plt = _pyplot(log)
    if plt is None:
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
            style = {"linestyle": "--", "marker": None} if agent in BASELINES else {"marker": "o"}
            axis.plot(steps, mean, label=agent, **style)
        for t in THRESHOLDS:
            axis.axhline(t, color="grey", linestyle=":", linewidth=1)
        axis.set(title=f"{task}: held-out similarity (greedy)", xlabel="env steps", ylabel="mean similarity", ylim=(0, 1.02))
        axis.xaxis.set_major_formatter(steps_formatter())
        axis.legend(fontsize=8)
        fig.tight_layout()
        path = Path(f"{path_prefix}_{_file_name(task)}.png")
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


def _file_name(task: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in os.path.basename(task))


def _max_length(task: str) -> int:
    return int(task.split("max_length=")[1].split(",")[0])


def plot_ladder(rows: list[dict], path: Path, log=print, budget: int | None = None) -> Path | None:
    """Per agent, against the max length of ``...max_length=N`` tasks: env steps to reach 0.9 and 0.99
    held-out similarity (left; a rung that was not reached is an open marker at the budget) and the
    final similarity (right)."""
    plt = _pyplot(log)
    if plt is None:
        return None
    from matplotlib.ticker import FixedLocator, NullLocator

    ladder = [r for r in rows if "max_length=" in r["task"]]
    lengths = sorted({_max_length(r["task"]) for r in ladder})
    fig, (steps_axis, final_axis) = plt.subplots(1, 2, figsize=(10, 4))
    for colour, agent in enumerate(dict.fromkeys(r["agent"] for r in ladder)):
        mine = sorted((r for r in ladder if r["agent"] == agent), key=lambda r: _max_length(r["task"]))
        for t, style in zip(THRESHOLDS, ("-o", "--s")):
            reached = [(_max_length(r["task"]), r[f"steps_to_{t}"]) for r in mine if r[f"steps_to_{t}"] is not None]
            if reached:
                steps_axis.plot(*zip(*reached), style, color=f"C{colour}", label=f"{agent}, to {t}")
            missed = [_max_length(r["task"]) for r in mine if r[f"steps_to_{t}"] is None]
            if missed and budget:
                steps_axis.plot(missed, [budget] * len(missed), style[-1], color=f"C{colour}", fillstyle="none")
        final_axis.plot([_max_length(r["task"]) for r in mine], [r["similarity"] for r in mine], "-o", label=agent)
    steps_axis.set(ylabel="env steps", yscale="log")
    title = "env steps to a held-out similarity"
    if budget:
        steps_axis.axhline(budget, color="grey", linewidth=0.8, linestyle=":")
        title += "\n(open markers: not reached within the budget)"
    steps_axis.set_title(title)
    steps_axis.yaxis.set_major_formatter(steps_formatter())
    final_axis.set(title="held-out similarity at the end of the budget", ylabel="similarity", ylim=(0, 1.02))
    for axis in (steps_axis, final_axis):
        axis.set(xlabel="max target length", xscale="log")
        axis.xaxis.set_major_locator(FixedLocator(lengths))
        axis.xaxis.set_minor_locator(NullLocator())
        axis.set_xticklabels([str(n) for n in lengths])
        if axis.get_legend_handles_labels()[0]:  # no rung reached a threshold: an empty plot says so
            axis.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _log_cell(cell: dict, log) -> None:
    speed = f", {cell['env_steps_per_s']:,.0f} env steps/s" if cell["env_steps_per_s"] is not None else ""
    log(f"{cell['task']:9} {cell['agent']:17} seed {cell['seed']}: similarity {cell['similarity']:.3f}{speed}")


def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)


def run_cells(grid: list[tuple[str, str, int]], spec: BenchSpec, jobs: int, log=print) -> list[dict]:
    """Run every (agent, task, seed) cell, in `jobs` processes of one torch thread each when jobs > 1.

    Cells are independent runs, so they parallelize perfectly; each process gets one
    thread so that the env-steps/s of every cell are measured alike. The cells come
    back in grid order whatever order they finish in.
    """
    if jobs <= 1:
        cells = []
        for agent, task, seed in grid:
            cells.append(run_cell(agent, task, seed, spec))
            _log_cell(cells[-1], log)
        return cells
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    # The biggest budgets first, so that no long run starts last while the other processes idle.
    order = sorted(range(len(grid)), key=lambda i: -spec.budget_of(grid[i][1]))
    context = multiprocessing.get_context("spawn")  # fork after torch/numba threads have started is unsafe
    cells: list[dict | None] = [None] * len(grid)
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_one_thread) as pool:
        futures = {pool.submit(run_cell, *grid[i], spec): i for i in order}
        for future in as_completed(futures):
            cells[futures[future]] = future.result()
            _log_cell(cells[futures[future]], log)
    return cells


def run_benchmark(spec: BenchSpec, out_dir: Path, command: str, log=print, jobs: int = 1) -> dict:
    available = [a for a in spec.agents if agent_available(a)]
    for skipped in sorted(set(spec.agents) - set(available)):
        log(f"skipping {skipped}: install the '{EXTRAS[skipped]}' extra (pip install 'textgen-env[{EXTRAS[skipped]}]')")
    grid = [(agent, task, seed) for task in spec.tasks for agent in available for seed in spec.seeds]
    cells = run_cells(grid, spec, jobs, log)
    rows = summarize(cells)
    out_dir.mkdir(parents=True, exist_ok=True)
    prefix = out_dir / f"agents_{spec.name}"
    result = {"command": command, "spec": asdict(spec), "summary": rows, "cells": cells}
    Path(f"{prefix}.json").write_text(json.dumps(result, indent=2) + "\n")
    Path(f"{prefix}.md").write_text(to_markdown(spec, rows, command))
    result["plots"] = [str(p) for p in plot_curves(cells, prefix, log)]
    if any("max_length=" in t for t in spec.tasks):
        ladder = plot_ladder(rows, Path(f"{prefix}_ladder.png"), log, budget=spec.budget if not spec.budgets else None)
        result["plots"] += [str(ladder)] if ladder else []
    log(to_markdown(spec, rows, command))
    return result

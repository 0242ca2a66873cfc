"""Running a benchmark: one cell (agent x task x seed) trained in chunks and scored on the held-out split,
cells in parallel one-thread processes, and the files a run writes."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
from rapidfuzz.distance import Levenshtein

from agents.bench.agents import BASELINE_AGENTS, EXTRAS, agent_available, make_agent
from agents.bench.plots import plot_curves, plot_ladder
from agents.bench.presets import BenchSpec, task_kwargs
from agents.bench.report import THRESHOLDS, summarize, to_markdown
from textgen_env.files import write_text_atomically
from textgen_env.task import TextTask
from textgen_env.trl import difflib_ratio


def score(texts: list[str], targets: list[str], tokenizer) -> tuple[float, float, float]:
    """Mean normalized similarity over tokens, the exact-match rate, and the texts' mean difflib ratio."""
    similarity = [Levenshtein.normalized_similarity(tokenizer.encode(t), tokenizer.encode(g)) for g, t in zip(texts, targets)]
    exact = [g == t for g, t in zip(texts, targets)]
    ratio = [difflib_ratio(g, t) for g, t in zip(texts, targets)]
    return float(np.mean(similarity)), float(np.mean(exact)), float(np.mean(ratio))


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
        similarity, exact, ratio = score(agent.generate(prompts), targets, held_out.tokenizer)
        curve.append({"env_steps": used, "similarity": similarity, "exact_rate": exact, "difflib_ratio": ratio})
    reached = {str(t): next((p["env_steps"] for p in curve if p["similarity"] >= t), None) for t in THRESHOLDS}
    return {
        "agent": agent_name,
        "task": task,
        "seed": seed,
        "similarity": curve[-1]["similarity"],
        "exact_rate": curve[-1]["exact_rate"],
        "difflib_ratio": curve[-1]["difflib_ratio"],
        "steps_to": reached,
        "train_seconds": train_seconds,
        "env_steps": used,
        "env_steps_per_s": used / train_seconds if agent_name not in BASELINE_AGENTS else None,
        "curve": curve,
    }


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
    write_text_atomically(f"{prefix}.json", json.dumps(result, indent=2) + "\n")  # earlier results stay whole
    write_text_atomically(f"{prefix}.md", to_markdown(spec, rows, command))
    result["plots"] = [str(p) for p in plot_curves(cells, prefix, log)]
    if any("max_length=" in t for t in spec.tasks):
        ladder = plot_ladder(rows, Path(f"{prefix}_ladder.png"), spec.budget_of, log)
        result["plots"] += [str(ladder)] if ladder else []
    log(to_markdown(spec, rows, command))
    return result

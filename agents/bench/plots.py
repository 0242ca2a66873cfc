"""Figures of benchmark cells: learning curves per task, and the ladder (steps to a similarity per length)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from agents.bench.agents import BASELINE_AGENTS
from agents.bench.report import THRESHOLDS


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
            style = {"linestyle": "--", "marker": None} if agent in BASELINE_AGENTS else {"marker": "o"}
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


def plot_ladder(rows: list[dict], path: Path, budget_of: Callable[[str], int], log=print) -> Path | None:
    """Per agent, against the max length of ``...max_length=N`` tasks: env steps to reach 0.9 and 0.99
    held-out similarity (left; a rung that was not reached is an open marker at its budget,
    ``budget_of(task)``) and the final similarity (right)."""
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
            missed = [(_max_length(r["task"]), budget_of(r["task"])) for r in mine if r[f"steps_to_{t}"] is None]
            if missed:
                steps_axis.plot(*zip(*missed), style[-1], color=f"C{colour}", fillstyle="none")
        final_axis.plot([_max_length(r["task"]) for r in mine], [r["similarity"] for r in mine], "-o", label=agent)
    steps_axis.set(ylabel="env steps", yscale="log")
    for length, budget in sorted({(_max_length(r["task"]), budget_of(r["task"])) for r in ladder}):
        steps_axis.plot(length, budget, "_", color="grey", markersize=14)
    steps_axis.set_title("env steps to a held-out similarity\n(grey: the rung's budget; open markers: not reached within it)")
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

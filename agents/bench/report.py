"""Statistics and tables of benchmark cells: means with 95% intervals, env steps to thresholds, markdown."""

from __future__ import annotations

import math
import statistics

from agents.bench.agents import BASELINE_AGENTS
from agents.bench.presets import BenchSpec

THRESHOLDS = (0.9, 0.99)
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
            "difflib_ratio": statistics.fmean(c.get("difflib_ratio", math.nan) for c in group),
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


def _ratio(row: dict) -> str:
    """The row's difflib ratio, "-" for cells measured before it was recorded."""
    value = row.get("difflib_ratio", math.nan)
    return "-" if math.isnan(value) else f"{value:.3f}"


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
        " Similarity: mean ± 95% interval over seeds; difflib ratio: `SequenceMatcher(None, a, b).ratio()` of the texts,"
        " as LLM RL tool kits report."
        " `copy-prompt` and `random` are untrained baselines.",
        "",
        "| task | agent | similarity | exact | difflib ratio | steps to 0.9 | steps to 0.99 | train s | env steps/s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: (spec.tasks.index(r["task"]) if r["task"] in spec.tasks else 0, -r["similarity"])):
        speed = f"{r['env_steps_per_s']:,.0f}" if r["env_steps_per_s"] is not None else "-"
        lines.append(
            f"| {r['task']} | {r['agent']} | {r['similarity']:.3f} ± {r['similarity_ci95']:.3f} | {r['exact_rate']:.1%}"
            f" | {_ratio(r)} | {_steps(r, 0.9)} | {_steps(r, 0.99)} | {r['train_seconds']:.0f} | {speed} |"
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
        baselines = [r for r in rows if r["task"] == task and r["agent"] in BASELINE_AGENTS and r["exact_rate"] < 1.0]
        trained = [r for r in rows if r["task"] == task and r["agent"] not in BASELINE_AGENTS]
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

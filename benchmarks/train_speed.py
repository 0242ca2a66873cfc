"""PPO's training speed against another checkout, in the same run: env-steps/s, time to quality, sharing the cores.

    python benchmarks/train_speed.py --before ../checkout-of-aff4521 [--steps 300000] [--quality-steps 3000000] [--seeds 3]

Each side runs its own defaults (policy and PPO settings, seed 0, its own thread default of one torch
thread), as a user of that checkout would. Four measurements:

- speed: env-steps/s of a whole training of ``--steps`` on reverse of 3-8 letters, of 3-64, and on
  reverse_text's sentences, each (side, task) alone in its own process, the sides alternating;
- quality: reverse 3-64 trained to ``--quality-steps`` with each of ``--seeds`` seeds, greedy held-out
  similarity every 250,000 env steps; the wall time of training (evaluations excluded) until it first
  reaches 0.95, and the similarity at 1M and 2M (one seed's trajectory varies much: the median ratio is
  kept). Each (side, seed) trains alone, the sides alternating: a run of this checkout takes a
  minibatch's gradient in parts side by side on both cores;
- sharing: two trainings of this checkout started together, each one's env-steps/s against alone;
- demo beside a busy process: ``python -m agents.demo`` with a small budget alone, and beside one busy
  single-threaded process (a Python loop), wall time of each.

Writes benchmarks/results/train_speed.md and .json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
HERE = Path(__file__).resolve().parent.parent
TASKS = {
    "reverse 3-8": {"task": "reverse"},
    "reverse 3-64": {"task": "reverse", "task_options": {"max_length": 64}},
    "reverse_text": {"task": "reverse_text"},
}
QUALITY_TASK = "reverse 3-64"
QUALITY_EVERY = 250_000
QUALITY_GOAL = 0.95
DEMO_BUDGET = ["--pretrain-epochs", "2", "--rl-steps", "30000"]


def train(env: dict, steps: int, evaluate_every: int | None = None, seed: int = 0) -> dict:
    """One PPO training with this checkout's defaults (and `seed`): env-steps/s of the training alone and, every
    `evaluate_every` env steps, the greedy held-out similarity with the training wall time until then."""
    import torch

    from agents.algorithms.ppo import PPO, PPOConfig
    from agents.runs.config import EnvConfig

    torch.set_num_threads(1)
    run = PPO(PPOConfig(env=EnvConfig(**env), total_env_steps=steps, seed=seed))
    training_s, curve = 0.0, []
    for until in range(evaluate_every or steps, steps + 1, evaluate_every or steps):
        started = time.perf_counter()
        run.learn(until=until)
        training_s += time.perf_counter() - started
        if evaluate_every:
            similarity = run.evaluate()["mean_similarity"]
            curve.append({"env_steps": run.env_steps, "training_s": training_s, "similarity": similarity})
    return {"env_steps_per_s": run.env_steps / training_s, "training_s": training_s, "curve": curve}


def in_process(tree: Path, env: dict, steps: int, evaluate_every: int | None = None, seed: int = 0) -> subprocess.Popen:
    """`train` in a new process on the checkout at `tree`; its JSON result is its last stdout line."""
    code = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); from train_speed import train;"
        " print(json.dumps(train(*json.loads(sys.argv[2]))))"
    )
    args = json.dumps([env, steps, evaluate_every, seed])
    environment = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-c", code, str(Path(__file__).parent), args],
        env=environment,
        cwd=tree,
        stdout=subprocess.PIPE,
        text=True,
    )


def result(process: subprocess.Popen) -> dict:
    out, _ = process.communicate()
    if process.returncode:
        raise SystemExit(f"a measurement failed (exit {process.returncode})")
    return json.loads(out.strip().splitlines()[-1])


def speed(sides: dict[str, Path], steps: int) -> dict:
    table = {}
    for task, env in TASKS.items():
        for side, tree in sides.items():
            table[f"{side} | {task}"] = found = result(in_process(tree, env, steps))
            print(side, task, f"{found['env_steps_per_s']:,.0f} env-steps/s", flush=True)
    return table


def quality(sides: dict[str, Path], steps: int, seeds: int) -> list[dict]:
    """Per seed, each side trained alone: each side's curve and its time to the goal."""
    return [quality_of_seed(sides, steps, seed) for seed in range(seeds)]


def quality_of_seed(sides: dict[str, Path], steps: int, seed: int) -> dict:
    table = {}
    for side, tree in sides.items():
        curve = result(in_process(tree, TASKS[QUALITY_TASK], steps, QUALITY_EVERY, seed))["curve"]
        reached = next((p for p in curve if p["similarity"] >= QUALITY_GOAL), None)
        at = {
            f"similarity_at_{n // 1_000_000}M": next((p["similarity"] for p in curve if p["env_steps"] >= n), None)
            for n in (1_000_000, 2_000_000)
        }
        table[side] = {
            "training_s_to_goal": reached and reached["training_s"],
            "env_steps_to_goal": reached and reached["env_steps"],
            **at,
            "curve": curve,
        }
        print(side, "quality, seed", seed, {k: v for k, v in table[side].items() if k != "curve"}, flush=True)
    return table


def sharing(steps: int, alone: float) -> dict:
    together = [result(p)["env_steps_per_s"] for p in [in_process(HERE, TASKS[QUALITY_TASK], steps) for _ in range(2)]]
    return {"alone": alone, "together": together, "ratios": [s / alone for s in together]}


def demo(tmp: Path) -> dict:
    def timed() -> float:
        folder = tmp / f"demo-{time.monotonic_ns()}"
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "agents.demo", "--run-dir", str(folder), *DEMO_BUDGET],
            cwd=HERE,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        return time.perf_counter() - started

    alone = timed()
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        beside = timed()
    finally:
        busy.kill()
    return {"budget": " ".join(DEMO_BUDGET), "alone_s": alone, "beside_busy_s": beside, "ratio": beside / alone}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="the other checkout's root folder")
    parser.add_argument("--steps", type=int, default=300_000)
    parser.add_argument("--quality-steps", type=int, default=3_000_000)
    parser.add_argument("--seeds", type=int, default=3, help="seeds of the quality measurement (0, 1, ...)")
    parser.add_argument("--tmp", type=Path, default=Path("runs/train_speed"))
    args = parser.parse_args()
    sides = {"before": args.before.resolve(), "after": HERE}
    speeds = speed(sides, args.steps)
    results = {
        "command": f"python benchmarks/train_speed.py --before <a checkout of aff4521> --steps {args.steps}"
        f" --quality-steps {args.quality_steps} --seeds {args.seeds}",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "speed": speeds,
        "sharing": sharing(args.steps, speeds[f"after | {QUALITY_TASK}"]["env_steps_per_s"]),
        "demo": demo(args.tmp.resolve()),
        "quality": quality(sides, args.quality_steps, args.seeds),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "train_speed.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / "train_speed.md").write_text(to_markdown(results))
    print(to_markdown(results))


def to_markdown(results: dict) -> str:
    speed_rows = []
    for task in TASKS:
        before, after = (results["speed"][f"{side} | {task}"]["env_steps_per_s"] for side in ("before", "after"))
        speed_rows.append(f"| {task} | {before:,.0f} | {after:,.0f} | {after / before:.2f}x |")
    quality_rows, ratios = [], []
    for seed, sides in enumerate(results["quality"]):
        for side, row in sides.items():
            to_goal = (
                "not reached"
                if row["training_s_to_goal"] is None
                else f"{row['training_s_to_goal']:.0f} s ({row['env_steps_to_goal']:,} env steps)"
            )
            cells = " | ".join("-" if row[k] is None else f"{row[k]:.4f}" for k in ("similarity_at_1M", "similarity_at_2M"))
            quality_rows.append(f"| {seed} | {side} | {to_goal} | {cells} |")
        if sides["before"]["training_s_to_goal"] and sides["after"]["training_s_to_goal"]:
            ratios.append(sides["after"]["training_s_to_goal"] / sides["before"]["training_s_to_goal"])
            quality_rows.append(f"| {seed} | after / before | {ratios[-1]:.2f}x | | |")
    median = f"Median after / before over the seeds: {statistics.median(ratios):.2f}x." if ratios else ""
    share, demo_row = results["sharing"], results["demo"]
    return "\n".join(
        [
            "# PPO training speed against aff4521",
            "",
            f"Command: `{results['command']}` ({results['machine']}). Each side with its own defaults, one torch"
            " thread per thread of work (seed 0, and for the quality seeds 0, 1, ...), each training alone; 'before' is"
            " aff4521, 'after' this checkout (whose minibatches of enough work take their gradient in two parts side by"
            " side).",
            "",
            "## Env-steps/s of a whole training (each alone)",
            "",
            "| task | before | after | after / before |",
            "|---|---|---|---|",
            *speed_rows,
            "",
            f"## Reverse 3-64 to {QUALITY_GOAL} held-out (greedy; evaluations every {QUALITY_EVERY:,} env steps, not timed)",
            "",
            "| seed | side | training time to the goal | similarity at 1M | at 2M |",
            "|---|---|---|---|---|",
            *quality_rows,
            "",
            median,
            "",
            "## Two trainings started together (this checkout, reverse 3-64)",
            "",
            f"Alone {share['alone']:,.0f} env-steps/s; together "
            + ", ".join(f"{s:,.0f} ({r:.2f}x)" for s, r in zip(share["together"], share["ratios"])),
            "",
            f"## `python -m agents.demo {demo_row['budget']}` beside one busy single-threaded process",
            "",
            f"Alone {demo_row['alone_s']:.0f} s; beside the busy process {demo_row['beside_busy_s']:.0f} s"
            f" ({demo_row['ratio']:.2f}x).",
            "",
        ]
    )


if __name__ == "__main__":
    main()

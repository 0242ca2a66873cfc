"""PPO's env-steps/s on copy and reverse, this checkout against another one, in the same run.

    python benchmarks/ppo_speed.py --before ../old-checkout [--steps 300000] [--processes 2]

Each (checkout, task) is trained in its own process, the two checkouts alternating,
`--processes` times; the median env-steps/s per side is kept. Each side runs its own
defaults (policy and PPO settings), as a user of that checkout would.
Writes benchmarks/results/ppo_speed.md and .json.
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
TASKS = ("copy", "reverse")


def measure(task: str, steps: int, copy_head: bool | None, learning_rate: float | None = None) -> dict:
    """One PPO run with PPO's defaults (seed 0; the learning rate given, if any): env-steps/s over the whole run,
    its final mean return, and PPO's passes over each batch (its optimizer steps per minibatch of a batch)."""
    try:
        from agents.algorithms.ppo import PPO, PPOConfig
        from agents.model.policy import PolicyConfig
        from agents.runs.config import EnvConfig
    except ImportError:  # a checkout from before agents/ had subpackages and the env config was nested
        from agents.config import PolicyConfig
        from agents.ppo import PPO, PPOConfig

        def EnvConfig(**env):  # stands in for the class: there the env fields were the config's own
            return env

    policy = PolicyConfig() if copy_head is None else PolicyConfig(copy_head=copy_head)
    env = EnvConfig(task=task)
    started = time.perf_counter()
    settings = dict(total_env_steps=steps, seed=0, policy=policy)
    if learning_rate is not None:
        settings["learning_rate"] = learning_rate
    run = PPO(PPOConfig(**env, **settings) if isinstance(env, dict) else PPOConfig(env=env, **settings))
    optimizer_steps = count_calls(run.optimizer, "step")
    run.learn()
    wall = time.perf_counter() - started
    return {
        "env_steps_per_s": run.env_steps / wall,
        "final_mean_return": run.history[-1]["mean_return"],
        "update_passes_per_batch": optimizer_steps[0] / (len(run.history) * run.config.num_minibatches),
    }


def count_calls(owner, name: str) -> list[int]:
    """Count the calls of `owner.name` from now on: the list's one item, as it grows."""
    count, method = [0], getattr(owner, name)

    def counted(*args, **kwargs):
        count[0] += 1
        return method(*args, **kwargs)

    setattr(owner, name, counted)
    return count


def in_process(tree: Path, task: str, steps: int, copy_head: bool | None, learning_rate: float | None) -> dict:
    code = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); from ppo_speed import measure;"
        " print(json.dumps(measure(sys.argv[2], int(sys.argv[3]), *json.loads(sys.argv[4]))))"
    )
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run(
        [sys.executable, "-c", code, str(Path(__file__).parent), task, str(steps), json.dumps([copy_head, learning_rate])],
        env=env,
        cwd=tree,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="the other checkout's root folder")
    parser.add_argument("--steps", type=int, default=300_000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--learning-rate", type=float, default=None, help="the same for both sides (default: each its own)")
    args = parser.parse_args()
    here = Path(__file__).resolve().parent.parent
    sides = {"before": (args.before.resolve(), None), "after": (here, None)}  # both checkouts' default policy
    runs = {(side, task): [] for side in sides for task in TASKS}
    for _ in range(args.processes):
        for task in TASKS:
            for side, (tree, copy_head) in sides.items():
                runs[(side, task)].append(in_process(tree, task, args.steps, copy_head, args.learning_rate))
                print(side, task, runs[(side, task)][-1], flush=True)
    table = {
        f"{side} | {task}": {
            "env_steps_per_s": statistics.median(r["env_steps_per_s"] for r in found),
            "final_mean_return": statistics.median(r["final_mean_return"] for r in found),
            "runs": found,
        }
        for (side, task), found in runs.items()
    }
    command = f"python benchmarks/ppo_speed.py --before {args.before} --steps {args.steps} --processes {args.processes}"
    if args.learning_rate is not None:
        command += f" --learning-rate {args.learning_rate:g}"
    machine = f"{platform.machine()}, Python {platform.python_version()}"
    results = {
        "command": command,
        "machine": machine,
        "steps": args.steps,
        "processes": args.processes,
        "learning_rate": args.learning_rate,
        "table": table,
    }
    name = "ppo_speed" if args.learning_rate is None else f"ppo_speed_lr{args.learning_rate:g}"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / f"{name}.md").write_text(to_markdown(results))
    print(to_markdown(results))


def to_markdown(results: dict) -> str:
    lines = [
        "# PPO env-steps/s, before and after",
        "",
        f"Command: `{results['command']}` ({results['machine']}). PPO's defaults, seed 0, {results['steps']:,} env steps"
        f" per run; median of {results['processes']} processes per cell, the sides alternating. "
        + (
            "'before' and 'after' each run their own defaults (policy and PPO settings), as a user of each would."
            if results.get("learning_rate") is None
            else f"Both sides at learning rate {results['learning_rate']:g}, otherwise each its own defaults."
        )
        + " Update passes: PPO's passes over each batch (4 at most), fewer where the KL early stop ended them.",
        "",
        "| code | task | env-steps/s (median) | lowest - highest run | final mean return | update passes per batch |",
        "|---|---|---|---|---|---|",
    ]
    for key, row in results["table"].items():
        speeds = [r["env_steps_per_s"] for r in row["runs"]]
        spread = f"{min(speeds):,.0f} - {max(speeds):,.0f}"
        passes = [r["update_passes_per_batch"] for r in row["runs"] if "update_passes_per_batch" in r]
        shown = f"{statistics.mean(passes):.2f}" if passes else "not recorded"
        lines.append(f"| {key} | {row['env_steps_per_s']:,.0f} | {spread} | {row['final_mean_return']:.4f} | {shown} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()

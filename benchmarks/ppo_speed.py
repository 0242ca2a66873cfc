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


def measure(task: str, steps: int, copy_head: bool | None) -> dict:
    """One PPO run with PPO's defaults (seed 0); env-steps/s over the whole run, and its final mean return."""
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
    run = PPO(PPOConfig(**env, **settings) if isinstance(env, dict) else PPOConfig(env=env, **settings))
    run.learn()
    wall = time.perf_counter() - started
    return {"env_steps_per_s": run.env_steps / wall, "final_mean_return": run.history[-1]["mean_return"]}


def in_process(tree: Path, task: str, steps: int, copy_head: bool | None) -> dict:
    code = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); from ppo_speed import measure;"
        " print(json.dumps(measure(sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[4]))))"
    )
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run(
        [sys.executable, "-c", code, str(Path(__file__).parent), task, str(steps), json.dumps(copy_head)],
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
    args = parser.parse_args()
    here = Path(__file__).resolve().parent.parent
    sides = {"before": (args.before.resolve(), None), "after": (here, None)}  # both checkouts' default policy
    runs = {(side, task): [] for side in sides for task in TASKS}
    for _ in range(args.processes):
        for task in TASKS:
            for side, (tree, copy_head) in sides.items():
                runs[(side, task)].append(in_process(tree, task, args.steps, copy_head))
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
    machine = f"{platform.machine()}, Python {platform.python_version()}"
    results = {"command": command, "machine": machine, "steps": args.steps, "processes": args.processes, "table": table}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ppo_speed.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / "ppo_speed.md").write_text(to_markdown(results))
    print(to_markdown(results))


def to_markdown(results: dict) -> str:
    lines = [
        "# PPO env-steps/s, before and after",
        "",
        f"Command: `{results['command']}` ({results['machine']}). PPO's defaults, seed 0, {results['steps']:,} env steps"
        f" per run; median of {results['processes']} processes per cell, the sides alternating. 'before' and 'after' each"
        " run their own defaults (policy and PPO settings), as a user of each would.",
        "",
        "| code | task | env-steps/s (median) | lowest - highest run | final mean return |",
        "|---|---|---|---|---|",
    ]
    for key, row in results["table"].items():
        speeds = [r["env_steps_per_s"] for r in row["runs"]]
        spread = f"{min(speeds):,.0f} - {max(speeds):,.0f}"
        lines.append(f"| {key} | {row['env_steps_per_s']:,.0f} | {spread} | {row['final_mean_return']:.4f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()

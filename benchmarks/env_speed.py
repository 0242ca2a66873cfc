"""How fast TextGeneration-v0 steps, as ratios against Gymnasium's CartPole in the same run.

    python benchmarks/env_speed.py [--quick]
    python benchmarks/env_speed.py --before ../old-checkout   # the same figures for another checkout, alternating

Writes benchmarks/results/env_speed.json and env_speed.md. The vector env runs on
its default backend (compiled with numba when the `fast` extra is installed) and,
for reference, on its numpy backend. Every figure is a ratio measured in one
process (or a growth exponent), never an absolute threshold: each measurement is
repeated in interleaved rounds and the median ratio kept. With ``--before`` each
side is measured in its own process, the two alternating, and the median of the
processes' figures is kept per side.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import gymnasium as gym
import numpy as np

import textgen_env  # noqa: F401

RESULTS = Path(__file__).resolve().parent / "results"
VECTOR_SIZES = (16, 256, 1024, 4096)

# The sentences of `continue`, the default task when these figures were first taken:
# named, so that the figures stay comparable across checkouts whatever their default.
MEASURED_TASK = {"task": "continue"}


def numba_version() -> str:
    try:
        import numba
    except ImportError:
        return "no numba"
    return f"numba {numba.__version__}"


def time_single(env, actions) -> float:
    """Seconds per step of a gym.make env over a fixed action list (resetting at episode ends)."""
    env.reset(seed=0)
    start = time.perf_counter()
    for action in actions:
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            env.reset()
    return (time.perf_counter() - start) / len(actions)


def time_vector(env, actions) -> float:
    """Seconds per env-step of a vector env over a fixed list of batched actions."""
    env.reset(seed=0)
    start = time.perf_counter()
    for batch in actions:
        env.step(batch)
    return (time.perf_counter() - start) / (len(actions) * env.num_envs)


def median_ratio(measure_ours, measure_reference, rounds: int) -> tuple[float, float, float]:
    """(median ours / reference, median ours, median reference), rounds interleaved."""
    ours, reference = [], []
    for _ in range(rounds):
        reference.append(measure_reference())
        ours.append(measure_ours())
    ratios = [o / r for o, r in zip(ours, reference)]
    return statistics.median(ratios), statistics.median(ours), statistics.median(reference)


def random_target(length: int, seed: int) -> str:
    return "".join(np.random.default_rng(seed).choice(list("abcdefghij"), size=length))


def single_env_ratio(steps: int, rounds: int) -> dict:
    ours = gym.make("TextGeneration-v0", **MEASURED_TASK)
    cartpole = gym.make("CartPole-v1")
    actions = np.random.default_rng(0).integers(2, ours.action_space.n, size=steps).tolist()  # EOS included
    cart_actions = np.random.default_rng(0).integers(0, 2, size=steps).tolist()
    ratio, t_ours, t_ref = median_ratio(
        lambda: time_single(ours, actions), lambda: time_single(cartpole, cart_actions), rounds
    )
    return {"ratio_step_cost_vs_cartpole": ratio, "textgen_us_per_step": t_ours * 1e6, "cartpole_us_per_step": t_ref * 1e6}


def length_scaling(lengths, steps: int, rounds: int, num_envs: int | None) -> dict:
    """Cost per (env-)step for one target of each length; the log-log slope is the growth exponent."""
    costs = {}
    for length in lengths:
        kwargs = dict(dataset=[("x", random_target(length, length))], split="all", max_new_tokens=length)
        if num_envs is None:
            env = gym.make("TextGeneration-v0", **kwargs)
            actions = np.random.default_rng(0).integers(4, env.action_space.n, size=steps).tolist()  # never EOS
            costs[length] = min(time_single(env, actions) for _ in range(rounds))
        else:
            env = gym.make_vec("TextGeneration-v0", num_envs=num_envs, **kwargs)
            shape = (max(10, steps // num_envs), num_envs)
            batches = np.random.default_rng(0).integers(4, env.single_action_space.n, size=shape)
            costs[length] = min(time_vector(env, batches) for _ in range(rounds))
    slope = float(np.polyfit(np.log(list(costs)), np.log(list(costs.values())), 1)[0])
    base = costs[lengths[0]]
    return {"relative_cost": {str(k): v / base for k, v in costs.items()}, "growth_exponent": slope}


def vector_vs_cartpole(sizes, steps: int, rounds: int, backend: str = "auto", **options) -> dict:
    """Throughput ratios; `options` go to the vector env (e.g. copy=False), {} where this checkout lacks one."""
    out = {}
    for n in sizes:
        try:
            ours = gym.make_vec("TextGeneration-v0", num_envs=n, backend=backend, **MEASURED_TASK, **options)
        except TypeError:  # an older checkout without the option
            return {}
        cartpole = gym.make_vec("CartPole-v1", num_envs=n, vectorization_mode="vector_entry_point")
        batches = np.random.default_rng(0).integers(2, ours.single_action_space.n, size=(max(20, steps // n), n))
        cart_batches = np.random.default_rng(0).integers(0, 2, size=(max(20, steps // n), n))
        ratio, t_ours, t_ref = median_ratio(
            lambda ours=ours, batches=batches: time_vector(ours, batches),
            lambda cartpole=cartpole, cart_batches=cart_batches: time_vector(cartpole, cart_batches),
            rounds,
        )
        out[str(n)] = {
            "throughput_ratio_vs_cartpole_vector": 1 / ratio,
            "textgen_env_steps_per_s": 1 / t_ours,
            "cartpole_env_steps_per_s": 1 / t_ref,
        }
    return out


def native_vs_sync(n: int, steps: int, rounds: int) -> dict:
    native = gym.make_vec("TextGeneration-v0", num_envs=n, **MEASURED_TASK)
    sync = gym.make_vec("TextGeneration-v0", num_envs=n, vectorization_mode="sync", **MEASURED_TASK)
    batches = np.random.default_rng(0).integers(2, native.single_action_space.n, size=(max(10, steps // n), n))
    ratio, t_sync, t_native = median_ratio(lambda: time_vector(sync, batches), lambda: time_vector(native, batches), rounds)
    speeds = {"native_env_steps_per_s": 1 / t_native, "sync_env_steps_per_s": 1 / t_sync}
    return {"num_envs": n, "speedup_native_vs_sync": ratio, **speeds}


def peak_memory(n: int, steps: int) -> dict:
    # imports and compiled kernels load outside the measurement
    warm = gym.make_vec("TextGeneration-v0", num_envs=2, **MEASURED_TASK)
    warm.reset(seed=0)
    warm.step(np.array([5, 6]))
    tracemalloc.start()
    env = gym.make_vec("TextGeneration-v0", num_envs=n, **MEASURED_TASK)
    env.reset(seed=0)
    for batch in np.random.default_rng(0).integers(2, env.single_action_space.n, size=(steps, n)):
        env.step(batch)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"num_envs": n, "peak_traced_mib": peak / 2**20, "per_env_kib": peak / n / 1024}


def measure(quick: bool) -> dict:
    steps, rounds = (5_000, 3) if quick else (30_000, 5)
    return {
        "single_env": single_env_ratio(steps, rounds),
        "length_scaling_single": length_scaling([16, 64, 256, 1024], steps // 3, rounds, None),
        "backend": gym.make_vec("TextGeneration-v0", num_envs=1).unwrapped.backend,
        "vector_vs_cartpole": vector_vs_cartpole(VECTOR_SIZES, steps * 10, rounds),
        "vector_vs_cartpole_numpy": vector_vs_cartpole([256], steps * 10, rounds, backend="numpy"),
        "vector_vs_cartpole_no_copy": vector_vs_cartpole([4096], steps * 10, rounds, copy=False),
        "native_vs_sync": native_vs_sync(256, steps * 2, rounds),
        "length_scaling_vector": length_scaling([16, 64, 256, 1024], steps * 10, rounds, 256),
        "peak_memory": peak_memory(1024, 50),
    }


def measure_in_subprocess(tree: Path, quick: bool) -> dict:
    """`measure` run with another checkout's textgen_env on the path."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        out = f.name
    command = [sys.executable, __file__, "--measure-only", out] + (["--quick"] if quick else [])
    subprocess.run(command, check=True, env={**os.environ, "PYTHONPATH": str(tree.resolve())})
    return json.loads(Path(out).read_text())


def figures(result: dict) -> dict:
    """The headline figures of one measurement, by name."""
    out = {"single env step cost / CartPole-v1 step cost": result["single_env"]["ratio_step_cost_vs_cartpole"]}
    for n, row in result["vector_vs_cartpole"].items():
        out[f"native vector env throughput / CartPoleVectorEnv, N={n}"] = row["throughput_ratio_vs_cartpole_vector"]
    out["the same at N=256, numpy backend"] = result["vector_vs_cartpole_numpy"]["256"]["throughput_ratio_vs_cartpole_vector"]
    no_copy = result.get("vector_vs_cartpole_no_copy", {}).get("4096", {})
    out["the same at N=4096, copy=False"] = no_copy.get("throughput_ratio_vs_cartpole_vector", math.nan)
    out["native vector env / SyncVectorEnv, N=256"] = result["native_vs_sync"]["speedup_native_vs_sync"]
    return out


GOALS = {
    "single env step cost / CartPole-v1 step cost": "<= 0.6",
    "native vector env throughput / CartPoleVectorEnv, N=256": ">= 1.5",
    "native vector env throughput / CartPoleVectorEnv, N=1024": ">= 1.5",
    "native vector env throughput / CartPoleVectorEnv, N=4096": ">= 1.5",
    "the same at N=4096, copy=False": ">= 3",
    "native vector env / SyncVectorEnv, N=256": ">= 30",
}


def _shown(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.2f}"


def to_markdown(results: dict) -> str:
    after = results["after"]
    before = results.get("before")
    lines = [
        "# Env speed",
        "",
        f"Command: `{results['command']}` ({results['machine']}). Ratios are medians over interleaved rounds in one process"
        + (f"; before and after each in {results['processes']} alternating processes, median kept." if before else "."),
        "",
        "| measurement | " + ("before | after |" if before else "figure |") + " goal |",
        "|---|---|" + ("---|" if before else "") + "---|",
    ]
    for name, value in figures(after).items():
        shown = f"{_shown(figures(before)[name])} | {_shown(value)}" if before else _shown(value)
        lines.append(f"| {name} | {shown} | {GOALS.get(name, '')} |")
    for label, key in (("single env", "length_scaling_single"), ("vector env N=256", "length_scaling_vector")):
        scaling = after[key]
        rel = ", ".join(f"{k}: {x:.2f}" for k, x in scaling["relative_cost"].items())
        extra = f"exponent {before[key]['growth_exponent']:.2f} | " if before else ""
        exponent = scaling["growth_exponent"]
        lines.append(
            f"| {label} cost per step vs target length (relative to 16: {rel}) | {extra}exponent {exponent:.2f} | <= 1 |"
        )
    mem = after["peak_memory"]
    extra = f"{before['peak_memory']['peak_traced_mib']:.1f} MiB | " if before else ""
    lines.append(
        f"| peak traced memory, native vector env N={int(mem['num_envs'])} | {extra}{mem['peak_traced_mib']:.1f} MiB | |"
    )
    return "\n".join(lines) + "\n"


def median_result(results: list[dict]) -> dict:
    """The element-wise median of several measurements' numbers."""
    first = results[0]
    if isinstance(first, dict):
        return {k: median_result([r[k] for r in results]) for k in first}
    if isinstance(first, (int, float)) and not isinstance(first, bool):
        return statistics.median(results)
    return first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps and rounds (noisier)")
    parser.add_argument("--before", type=Path, help="another checkout (its root folder) to measure alternately with this one")
    parser.add_argument("--processes", type=int, default=2, help="with --before: processes per side (default: 2)")
    parser.add_argument("--measure-only", metavar="JSON", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure_only:
        Path(args.measure_only).write_text(json.dumps(measure(args.quick)))
        return
    here = Path(__file__).resolve().parent.parent
    results = {
        "command": "python benchmarks/env_speed.py"
        + (" --quick" if args.quick else "")
        + (f" --before {args.before}" if args.before else ""),
        "machine": f"{platform.machine()}, {platform.python_implementation()} {platform.python_version()},"
        f" numpy {np.__version__},"
        f" gymnasium {gym.__version__}, {numba_version()}",
    }
    if args.before:
        sides = {"before": [], "after": []}
        for _ in range(args.processes):
            sides["before"].append(measure_in_subprocess(args.before, args.quick))
            sides["after"].append(measure_in_subprocess(here, args.quick))
        results.update(processes=args.processes, before=median_result(sides["before"]), after=median_result(sides["after"]))
    else:
        results["after"] = measure(args.quick)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "env_speed.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / "env_speed.md").write_text(to_markdown(results))
    print(to_markdown(results))


if __name__ == "__main__":
    main()

"""How fast TextGeneration-v0 steps, as ratios against Gymnasium's CartPole in the same run.

    python benchmarks/env_speed.py [--quick]

Writes benchmarks/results/env_speed.json and env_speed.md. The vector env runs on
its default backend (compiled with numba when the `fast` extra is installed) and,
for reference, on its numpy backend. Every figure is a ratio
measured in one process (or a growth exponent), never an absolute threshold:
each measurement is repeated in interleaved rounds and the median ratio kept.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
import tracemalloc
from pathlib import Path

import gymnasium as gym
import numpy as np

import textgen_env  # noqa: F401
from textgen_env.datasets import random_strings

RESULTS = Path(__file__).resolve().parent / "results"


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


def token_actions(env, count: int, seed: int) -> list[int]:
    """Random ordinary tokens (never EOS), so episodes run to their token budget."""
    return np.random.default_rng(seed).integers(4, env.action_space.n, size=count).tolist()


def single_env_ratio(steps: int, rounds: int) -> dict:
    ours = gym.make("TextGeneration-v0")
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
        target = random_strings(1, length, length, "abcdefghij", seed=length)[0]
        kwargs = dict(dataset=[("x", target)], split="all", max_new_tokens=length)
        if num_envs is None:
            env = gym.make("TextGeneration-v0", **kwargs)
            actions = token_actions(env, steps, 0)
            costs[length] = min(time_single(env, actions) for _ in range(rounds))
        else:
            env = gym.make_vec("TextGeneration-v0", num_envs=num_envs, **kwargs)
            batches = np.random.default_rng(0).integers(
                4, env.single_action_space.n, size=(max(10, steps // num_envs), num_envs)
            )
            costs[length] = min(time_vector(env, batches) for _ in range(rounds))
    slope = float(np.polyfit(np.log(list(costs)), np.log(list(costs.values())), 1)[0])
    base = costs[lengths[0]]
    return {"relative_cost": {str(k): v / base for k, v in costs.items()}, "growth_exponent": slope}


def vector_vs_cartpole(sizes, steps: int, rounds: int, backend: str = "auto") -> dict:
    out = {}
    for n in sizes:
        ours = gym.make_vec("TextGeneration-v0", num_envs=n, backend=backend)
        cartpole = gym.make_vec("CartPole-v1", num_envs=n, vectorization_mode="vector_entry_point")
        batches = np.random.default_rng(0).integers(2, ours.single_action_space.n, size=(max(20, steps // n), n))
        cart_batches = np.random.default_rng(0).integers(0, 2, size=(max(20, steps // n), n))
        ratio, t_ours, t_ref = median_ratio(
            lambda: time_vector(ours, batches), lambda: time_vector(cartpole, cart_batches), rounds
        )
        out[str(n)] = {
            "throughput_ratio_vs_cartpole_vector": 1 / ratio,
            "textgen_env_steps_per_s": 1 / t_ours,
            "cartpole_env_steps_per_s": 1 / t_ref,
        }
    return out


def native_vs_sync(n: int, steps: int, rounds: int) -> dict:
    native = gym.make_vec("TextGeneration-v0", num_envs=n)
    sync = gym.make_vec("TextGeneration-v0", num_envs=n, vectorization_mode="sync")
    batches = np.random.default_rng(0).integers(2, native.single_action_space.n, size=(max(10, steps // n), n))
    ratio, t_sync, t_native = median_ratio(lambda: time_vector(sync, batches), lambda: time_vector(native, batches), rounds)
    return {
        "num_envs": n,
        "speedup_native_vs_sync": ratio,
        "native_env_steps_per_s": 1 / t_native,
        "sync_env_steps_per_s": 1 / t_sync,
    }


def peak_memory(n: int, steps: int) -> dict:
    warm = gym.make_vec("TextGeneration-v0", num_envs=2)  # imports and compiled kernels load outside the measurement
    warm.reset(seed=0)
    warm.step(np.array([5, 6]))
    tracemalloc.start()
    env = gym.make_vec("TextGeneration-v0", num_envs=n)
    env.reset(seed=0)
    for batch in np.random.default_rng(0).integers(2, env.single_action_space.n, size=(steps, n)):
        env.step(batch)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"num_envs": n, "peak_traced_mib": peak / 2**20, "per_env_kib": peak / n / 1024}


def to_markdown(results: dict) -> str:
    s, v, sync, mem = results["single_env"], results["vector_vs_cartpole"], results["native_vs_sync"], results["peak_memory"]
    lines = [
        "# Env speed",
        "",
        f"Command: `{results['command']}` ({results['machine']}). Ratios are medians over interleaved rounds in one process.",
        "",
        "| measurement | figure | goal |",
        "|---|---|---|",
        f"| single env step cost / CartPole-v1 step cost (both `gym.make`) | {s['ratio_step_cost_vs_cartpole']:.2f} | <= 1.0 |",
    ]
    for n, row in v.items():
        goal = ">= 1.0" if n == "256" else ""
        lines.append(
            f"| native vector env ({results['backend']}) throughput / CartPoleVectorEnv, N={n} | {row['throughput_ratio_vs_cartpole_vector']:.2f}x | {goal} |"
        )
    for n, row in results.get("vector_vs_cartpole_numpy", {}).items():
        lines.append(
            f"| native vector env (numpy backend, without numba) throughput / CartPoleVectorEnv, N={n} | {row['throughput_ratio_vs_cartpole_vector']:.2f}x | |"
        )
    lines.append(
        f"| native vector env / SyncVectorEnv of TextGeneration-v0, N={sync['num_envs']} | {sync['speedup_native_vs_sync']:.1f}x | >= 30x |"
    )
    for label, key in (("single env", "length_scaling_single"), ("vector env N=256", "length_scaling_vector")):
        scaling = results[key]
        rel = ", ".join(f"{k}: {x:.2f}" for k, x in scaling["relative_cost"].items())
        lines.append(
            f"| {label} cost per step vs target length (relative to 16 tokens: {rel}) | exponent {scaling['growth_exponent']:.2f} | <= 1 |"
        )
    lines.append(
        f"| peak traced memory, native vector env N={mem['num_envs']} | {mem['peak_traced_mib']:.1f} MiB ({mem['per_env_kib']:.1f} KiB per env) | |"
    )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps and rounds (noisier)")
    args = parser.parse_args()
    steps, rounds = (5_000, 3) if args.quick else (30_000, 5)
    results = {
        "command": "python benchmarks/env_speed.py" + (" --quick" if args.quick else ""),
        "machine": f"{platform.machine()}, {platform.python_implementation()} {platform.python_version()}, numpy {np.__version__}, gymnasium {gym.__version__}, {numba_version()}",
        "single_env": single_env_ratio(steps, rounds),
        "length_scaling_single": length_scaling([16, 64, 256, 1024], steps // 3, rounds, None),
        "backend": gym.make_vec("TextGeneration-v0", num_envs=1).unwrapped.backend,
        "vector_vs_cartpole": vector_vs_cartpole([16, 256, 1024], steps * 10, rounds),
        "vector_vs_cartpole_numpy": vector_vs_cartpole([256], steps * 10, rounds, backend="numpy"),
        "native_vs_sync": native_vs_sync(256, steps * 2, rounds),
        "length_scaling_vector": length_scaling([16, 64, 256, 1024], steps * 10, rounds, 256),
        "peak_memory": peak_memory(1024, 50),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "env_speed.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / "env_speed.md").write_text(to_markdown(results))
    print(to_markdown(results))


if __name__ == "__main__":
    main()

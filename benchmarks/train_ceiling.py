"""How much faster PPO's training can get on this machine: the measurements behind the training-speed goals still open.

    python benchmarks/train_ceiling.py [--iterations 4] [--seeds 3] [--ahead-steps 150000]

For reverse of 3-8 letters, of 3-64, and reverse_text's sentences (PPO's defaults, seed 0, one torch thread per
thread of work), after a warm-up of 2 iterations:

- the LSTMs' share of an iteration's CPU time (torch's profiler; minibatches taken whole, ``gradient_parts=1``):
  the model's own arithmetic, which removing overhead cannot shrink;
- the rollout's and the update's shares of an iteration (defaults), and the bound on an iteration's speed-up if
  the update ran perfectly on both cores while the rollout stayed as it is;
- the update's seconds per iteration alone, and beside a second process that collects batches without pause: what
  collecting the next batch on the second core while the current one updates (asynchronous PPO) would cost the
  update, whose minibatches already use that core;
- on reverse 3-8 only: fewer, larger minibatches (``num_minibatches`` 2 instead of 4), env-steps/s over 100K env
  steps and held-out similarity at 25K, 50K and 100K, for ``--seeds`` seeds;
- collecting one update ahead, a variant of PPO defined here and not in the package: batch k+1 is collected in a
  worker process with the weights from before update k, during that update, and each batch is re-scored by the
  weights its update starts from (decoupled PPO, Hilton et al. 2021: ratio and clipping against those, the
  advantages weighted by their probability over the collecting weights', at most 2). Env-steps/s of it and of
  PPO's defaults over ``--ahead-steps`` on each task (alternating, twice each), and on reverse 3-64 its held-out
  similarity every 250K env steps to 2M for ``--seeds`` seeds, beside train_speed.json's curves of PPO's defaults
  (this checkout trains them bit for bit) and of aff4521.

Writes benchmarks/results/train_ceiling.md and .json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import statistics
import time
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parent / "results"
TASKS = {
    "reverse 3-8": {"task": "reverse"},
    "reverse 3-64": {"task": "reverse", "task_options": {"max_length": 64}},
    "reverse_text": {"task": "reverse_text"},
}
LSTM_OPS = ("aten::mkldnn_rnn_layer", "aten::mkldnn_rnn_layer_backward", "aten::_thnn_fused_lstm_cell")
MINIBATCH_MARKS = (25_000, 50_000, 100_000)


def ppo(env: dict, seed: int = 0, **overrides):
    from agents.algorithms.ppo import PPO, PPOConfig
    from agents.runs.config import EnvConfig

    torch.set_num_threads(1)
    return PPO(PPOConfig(env=EnvConfig(**env), seed=seed, total_env_steps=10**9, **overrides))


def lstm_share(env: dict, iterations: int) -> float:
    """The LSTM ops' share of the self CPU time of `iterations` iterations, minibatches taken whole."""
    from torch.profiler import ProfilerActivity, profile

    run = ppo(env, gradient_parts=1)
    run.learn(iterations=2)
    with profile(activities=[ProfilerActivity.CPU]) as profiled:
        run.learn(iterations=iterations)
    events = profiled.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    return sum(e.self_cpu_time_total for e in events if e.key in LSTM_OPS) / total


def collect_forever(env: dict, stop) -> None:
    """A second process's load: batches collected back to back, as an asynchronous rollout would."""
    from agents.algorithms.rollout import collect_episodes

    run = ppo(env)
    run.learn(iterations=2)
    while not stop.is_set():
        collect_episodes(run.policy, run.env, run.sample_indices())


def shares_and_overlap(env: dict, iterations: int) -> dict:
    """Rollout and update seconds per iteration with the defaults, the update's alone and beside a collecting process
    (alternating, twice each)."""
    run = ppo(env)
    run.learn(iterations=2)
    context = multiprocessing.get_context("spawn")
    alone, beside, rollout = [], [], []
    for collector_running in (False, True, False, True):
        stop, collector = context.Event(), None
        if collector_running:
            collector = context.Process(target=collect_forever, args=(env, stop))
            collector.start()
            time.sleep(10)  # its start-up (imports, warm-up) is over
        start = len(run.history)
        run.learn(iterations=iterations)
        rows = run.history[start:]
        (beside if collector_running else alone).append(statistics.mean(r["update_s"] for r in rows))
        if not collector_running:
            rollout.append(statistics.mean(r["rollout_s"] for r in rows))
        if collector is not None:
            stop.set()
            collector.join()
    one_core = ppo(env, gradient_parts=1)
    one_core.learn(iterations=2)
    one_core.learn(iterations=iterations)
    return {
        "rollout_s": statistics.mean(rollout),
        "update_s": statistics.mean(alone),
        "update_beside_s": statistics.mean(beside),
        "update_one_core_s": statistics.mean(r["update_s"] for r in one_core.history[2:]),
    }


def fewer_minibatches(seeds: int) -> list[dict]:
    """Reverse 3-8 with 4 and 2 minibatches per pass: env-steps/s and held-out similarity at the marks."""
    rows = []
    for seed in range(seeds):
        for count in (4, 2):
            run = ppo(TASKS["reverse 3-8"], seed=seed, num_minibatches=count)
            similarity = []
            for mark in MINIBATCH_MARKS:
                run.learn(until=mark)
                similarity.append(run.evaluate()["mean_similarity"])
            busy = sum(r["rollout_s"] + r["update_s"] for r in run.history)
            rows.append(
                {"seed": seed, "num_minibatches": count, "env_steps_per_s": run.env_steps / busy, "similarity": similarity}
            )
            print(rows[-1], flush=True)
    return rows


def collect_requests(env: dict, connection) -> None:
    """The worker of collecting ahead: the batch of each (weights, pairs) it receives, until None."""
    from agents.algorithms.rollout import collect_episodes

    run = ppo(env, seed=1_000)
    while (request := connection.recv()) is not None:
        run.policy.load_state_dict(request[0])
        connection.send(collect_episodes(run.policy, run.env, request[1]))


def ahead_ppo(env: dict, seed: int):
    """PPO (its defaults) whose batches are collected one update ahead in a worker process, decoupled PPO's way."""
    import agents.algorithms.on_policy as on_policy
    from agents.algorithms.ppo import PPO, PPOConfig
    from agents.runs.config import EnvConfig

    class AheadPPO(PPO):
        def start(self) -> None:
            context = multiprocessing.get_context("spawn")
            self.connection, child = context.Pipe()
            self.worker = context.Process(target=collect_requests, args=(env, child), daemon=True)
            self.worker.start()
            self.submit(self.sample_indices())

        def submit(self, indices) -> None:
            self.connection.send(({k: v.clone() for k, v in self.policy.state_dict().items()}, indices))

        def iterate(self) -> dict:
            def collected_ahead(policy, vector_env, indices):
                batch = self.connection.recv()  # collected during the last update, with the weights from before it
                self.submit(indices)  # the next batch, with the weights from before this update
                return batch

            on_policy.collect_episodes, real = collected_ahead, on_policy.collect_episodes
            try:
                return super().iterate()
            finally:
                on_policy.collect_episodes = real

        def update(self, batch) -> dict:
            with torch.no_grad():  # the proximal policy: the weights this update starts from
                proximal, _, _ = self.policy.evaluate_actions(batch.prompts, batch.inputs, batch.actions, batch.action_masks)
            proximal = proximal * batch.mask
            self.importance = (proximal - batch.log_probs).exp().clamp(max=2.0)
            batch.log_probs = proximal
            return super().update(batch)

        def part_loss(self, batch, advantages, scale, returns, real_steps, policy_learns, rows):
            return super().part_loss(batch, advantages * self.importance, scale, returns, real_steps, policy_learns, rows)

        def close(self) -> None:
            self.connection.send(None)
            self.worker.join()

    torch.set_num_threads(1)
    run = AheadPPO(PPOConfig(env=EnvConfig(**env), seed=seed, total_env_steps=10**9))
    run.start()
    return run


def ahead_speed(steps: int) -> dict:
    """Env-steps/s (after 2 iterations) of PPO's defaults and of collecting ahead, alternating, twice each."""
    table = {}
    for name, env in TASKS.items():
        found = {"defaults": [], "ahead": []}
        for side in ("defaults", "ahead", "defaults", "ahead"):
            run = ahead_ppo(env, 0) if side == "ahead" else ppo(env)
            run.learn(until=steps)
            rows = run.history[2:]
            found[side].append(
                (run.env_steps - run.history[1]["env_steps"]) / sum(r["rollout_s"] + r["update_s"] for r in rows)
            )
            if side == "ahead":
                run.close()
        table[name] = {side: statistics.mean(values) for side, values in found.items()}
        print(name, table[name], flush=True)
    return table


def ahead_quality(seeds: int) -> list[dict]:
    """Reverse 3-64 collected ahead: held-out similarity every 250K env steps to 2M, per seed."""
    curves = []
    for seed in range(seeds):
        run, curve = ahead_ppo(TASKS["reverse 3-64"], seed), []
        for mark in range(250_000, 2_000_001, 250_000):
            run.learn(until=mark)
            curve.append({"env_steps": run.env_steps, "similarity": run.evaluate()["mean_similarity"]})
        run.close()
        curves.append({"seed": seed, "curve": curve})
        print(curves[-1], flush=True)
    return curves


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=4)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--ahead-steps", type=int, default=150_000)
    args = parser.parse_args()
    tasks = {}
    for name, env in TASKS.items():
        tasks[name] = {"lstm_share": lstm_share(env, args.iterations), **shares_and_overlap(env, args.iterations)}
        print(name, tasks[name], flush=True)
    results = {
        "command": f"python benchmarks/train_ceiling.py --iterations {args.iterations} --seeds {args.seeds}"
        f" --ahead-steps {args.ahead_steps}",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "tasks": tasks,
        "fewer_minibatches": fewer_minibatches(args.seeds),
        "ahead_speed": ahead_speed(args.ahead_steps),
        "ahead_quality": ahead_quality(args.seeds),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "train_ceiling.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / "train_ceiling.md").write_text(to_markdown(results))
    print(to_markdown(results))


def to_markdown(results: dict) -> str:
    names = list(results["tasks"])
    rows = [(name, results["tasks"][name]) for name in names]

    def row(label: str, cell) -> str:
        return f"| {label} | " + " | ".join(cell(t) for _, t in rows) + " |"

    def bound(t: dict) -> float:  # the update's one-core work perfectly on two cores, the rollout as it is
        return (t["rollout_s"] + t["update_s"]) / (t["rollout_s"] + t["update_one_core_s"] / 2)

    minibatch_rows = []
    for count in (4, 2):
        runs = [r for r in results["fewer_minibatches"] if r["num_minibatches"] == count]
        similarity = " | ".join(
            f"{statistics.mean(r['similarity'][i] for r in runs):.3f}" for i in range(len(MINIBATCH_MARKS))
        )
        speed = statistics.mean(r["env_steps_per_s"] for r in runs)
        minibatch_rows.append(f"| {count} | {speed:,.0f} | {similarity} |")
    marks = [f"similarity at {m // 1000}K" for m in MINIBATCH_MARKS]
    return "\n".join(
        [
            "# How much faster PPO's training can get on this machine",
            "",
            f"Command: `{results['command']}` ({results['machine']}). PPO's defaults, seed 0, one torch thread per"
            " thread of work.",
            "",
            *table_header("", *names),
            row("LSTMs' share of an iteration's CPU time (minibatches whole)", lambda t: f"{t['lstm_share']:.0%}"),
            row("rollout s / iteration", lambda t: f"{t['rollout_s']:.3f}"),
            row("update s / iteration, alone", lambda t: f"{t['update_s']:.3f}"),
            row("update s / iteration, one core (gradient_parts=1)", lambda t: f"{t['update_one_core_s']:.3f}"),
            row("update s / iteration, beside a process collecting batches", lambda t: f"{t['update_beside_s']:.3f}"),
            row(
                "asynchronous rollout, if collecting cost the update nothing: (rollout + update) / update",
                lambda t: f"{(t['rollout_s'] + t['update_s']) / max(t['update_s'], t['rollout_s']):.2f}x",
            ),
            row(
                "asynchronous rollout, if the update ran as slowly as beside a collector that never pauses",
                lambda t: f"{(t['rollout_s'] + t['update_s']) / max(t['update_beside_s'], t['rollout_s']):.2f}x",
            ),
            row("the update's one-core work perfectly on two cores, the rollout as it is", lambda t: f"{bound(t):.2f}x"),
            "",
            "Speed-ups are of an iteration against these defaults. The update already takes the second core for a"
            " minibatch's second part, so collecting the next batch beside it slows it: an asynchronous rollout gains"
            " between its two rows, and adds one update of policy lag (what it costs in quality: the last section).",
            "",
            f"## Reverse 3-8 with fewer, larger minibatches (seeds 0-{len(results['fewer_minibatches']) // 2 - 1}, means)",
            "",
            *table_header("minibatches per pass", "env-steps/s", *marks),
            *minibatch_rows,
            "",
            "Held-out similarity is greedy, on the held-out split; 2 minibatches take half the gradient steps per env step.",
            "",
            *ahead_markdown(results),
        ]
    )


def table_header(*columns: str) -> list[str]:
    """A markdown table's first two lines."""
    return ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]


def ahead_markdown(results: dict) -> list[str]:
    """The sections of collecting ahead, its curves beside train_speed.json's (PPO's defaults and aff4521)."""
    speed = results["ahead_speed"]
    speed_rows = [
        f"| {task} | {row['defaults']:,.0f} | {row['ahead']:,.0f} | {row['ahead'] / row['defaults']:.2f}x |"
        for task, row in speed.items()
    ]
    committed = json.loads((RESULTS / "train_speed.json").read_text())["quality"]
    seeds = range(len(results["ahead_quality"]))
    curves = {
        "aff4521": [committed[seed]["before"]["curve"] for seed in seeds],
        "PPO's defaults": [committed[seed]["after"]["curve"] for seed in seeds],
        "collected ahead": [row["curve"] for row in results["ahead_quality"]],
    }
    marks = range(1, len(curves["collected ahead"][0]), 2)  # 500K, 1M, 1.5M, 2M
    similarity_rows = [
        f"| {(i + 1) * 250_000:,} | "
        + " | ".join(f"{statistics.mean(curve[i]['similarity'] for curve in side):.3f}" for side in curves.values())
        + " |"
        for i in marks
    ]

    def steps_to_goal(curve: list[dict]) -> int | None:
        return next((point["env_steps"] for point in curve if point["similarity"] >= 0.95), None)

    reached = {side: [steps_to_goal(curve[:8]) for curve in side_curves] for side, side_curves in curves.items()}
    reached_rows = [
        f"| {side} | " + " | ".join("not within 2M" if steps is None else f"{steps:,}" for steps in found) + " |"
        for side, found in reached.items()
    ]
    ratio = speed["reverse 3-64"]["ahead"] / speed["reverse 3-64"]["defaults"]
    return [
        "## Collecting one update ahead (a variant of PPO defined in this script, not the package's)",
        "",
        "Batch k+1 collected in a worker process, with the weights from before update k, during that update; each"
        " batch re-scored by the weights its update starts from, against which the ratio and the clipping are taken,"
        " its advantages weighted by their probability over the collecting weights' (decoupled PPO).",
        "",
        *table_header("task", "PPO's defaults, env-steps/s", "collected ahead", "ahead / defaults"),
        *speed_rows,
        "",
        f"Reverse 3-64, greedy held-out similarity, mean of seeds 0-{len(seeds) - 1} (aff4521 and PPO's defaults: the"
        " curves of train_speed.json, which this checkout's defaults reproduce bit for bit):",
        "",
        *table_header("env steps (about)", *curves),
        *similarity_rows,
        "",
        "Env steps to 0.95 (evaluations every 250K, to 2M), per seed:",
        "",
        *table_header("", *(f"seed {seed}" for seed in seeds)),
        *reached_rows,
        "",
        f"Collected ahead, a run takes env steps {ratio:.2f}x as fast on reverse 3-64: its training time to 0.95 against"
        " the defaults' is its env steps to 0.95 over theirs, divided by that.",
        "",
    ]


if __name__ == "__main__":
    main()

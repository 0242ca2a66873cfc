"""How much faster PPO's training can get on this machine: the measurements behind the training-speed goals still open.

    python benchmarks/train_ceiling.py [--iterations 4] [--seeds 3] [--variant-steps 150000]
        [--sections ceiling,minibatches,ahead,ahead_uncorrected,hidden48]

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
- variants of PPO, not the package's (benchmarks/ppo_variants.py): collecting each batch one update ahead in a
  worker process, with decoupled PPO's correction for the lag and without it, and a policy of hidden size 48.

For each variant: env-steps/s and seconds per iteration of it and of PPO's defaults over ``--variant-steps`` on each
task (alternating, twice each), and on reverse 3-64 its held-out similarity every 250K env steps to 2M for
``--seeds`` seeds, with its training time (evaluations excluded), beside PPO's defaults' curves measured in the same
run and aff4521's (train_speed.json's).

Writes benchmarks/results/train_ceiling.md and .json; ``--sections`` measures some sections again and keeps the
others of the committed .json.
"""

from __future__ import annotations

import argparse
import functools
import json
import multiprocessing
import os
import platform
import statistics
import time
from pathlib import Path

from ppo_variants import ahead_ppo, ppo, smaller_ppo

RESULTS = Path(__file__).resolve().parent / "results"
TASKS = {
    "reverse 3-8": {"task": "reverse"},
    "reverse 3-64": {"task": "reverse", "task_options": {"max_length": 64}},
    "reverse_text": {"task": "reverse_text"},
}
LSTM_OPS = ("aten::mkldnn_rnn_layer", "aten::mkldnn_rnn_layer_backward", "aten::_thnn_fused_lstm_cell")
MINIBATCH_MARKS = (25_000, 50_000, 100_000)


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


VARIANTS = {  # section: (name in the tables, how a run of it is made: (env, seed, total_env_steps) -> run)
    "ahead": ("collected ahead", ahead_ppo),
    "ahead_uncorrected": ("collected ahead, uncorrected", functools.partial(ahead_ppo, corrected=False)),
    "hidden48": ("hidden 48", smaller_ppo),
}
# The learning rate anneals to 0 over a run's total env steps: the curves' runs anneal over train_speed's
# quality runs' total, so that they compare with train_speed.json's curves.
CURVES_TOTAL_ENV_STEPS = 2_500_000


def finish(run) -> None:
    if hasattr(run, "close"):
        run.close()


def variant_speed(make_variant, steps: int) -> dict:
    """Env-steps/s and seconds per iteration (after 2 iterations) of PPO's defaults and of a variant, alternating,
    twice each: a variant's policy may end its episodes sooner or later, which env-steps/s counts and seconds per
    iteration (256 episodes) do not."""
    table = {}
    for name, env in TASKS.items():
        found = {"defaults": [], "variant": []}
        for side in ("defaults", "variant", "defaults", "variant"):
            run = make_variant(env, 0, steps) if side == "variant" else ppo(env, total_env_steps=steps)
            run.learn(until=steps)
            rows = run.history[2:]
            busy = sum(r["rollout_s"] + r["update_s"] for r in rows)
            found[side].append(((run.env_steps - run.history[1]["env_steps"]) / busy, busy / len(rows)))
            finish(run)
        table[name] = {side: statistics.mean(speed for speed, _ in values) for side, values in found.items()}
        table[name]["iteration_s"] = {side: statistics.mean(s for _, s in values) for side, values in found.items()}
        print(name, table[name], flush=True)
    return table


def variant_curve(make_variant, seed: int) -> dict:
    """Reverse 3-64 trained by a variant: held-out similarity every 250K env steps to 2M, and the training time until
    then (evaluations excluded)."""
    run, curve, training_s = make_variant(TASKS["reverse 3-64"], seed, CURVES_TOTAL_ENV_STEPS), [], 0.0
    for mark in range(250_000, 2_000_001, 250_000):
        started = time.perf_counter()
        run.learn(until=mark)
        training_s += time.perf_counter() - started
        similarity = run.evaluate()["mean_similarity"]
        curve.append({"env_steps": run.env_steps, "similarity": similarity, "training_s": training_s})
    finish(run)
    print(seed, curve[-1], flush=True)
    return {"seed": seed, "curve": curve}


SECTIONS = ("ceiling", "minibatches", *VARIANTS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=4)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--variant-steps", type=int, default=150_000, help="env steps of each variant's speed runs")
    parser.add_argument(
        "--sections",
        default=",".join(SECTIONS),
        help=f"which to measure, of {','.join(SECTIONS)}; the others are kept from the committed train_ceiling.json",
    )
    args = parser.parse_args()
    chosen = args.sections.split(",")
    if unknown := sorted(set(chosen) - set(SECTIONS)):
        raise SystemExit(f"--sections: {', '.join(unknown)} unknown; allowed: {', '.join(SECTIONS)}")
    path = RESULTS / "train_ceiling.json"
    results = json.loads(path.read_text()) if path.exists() and set(chosen) != set(SECTIONS) else {"sections": {}}
    results["machine"] = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    command = (
        f"python benchmarks/train_ceiling.py --iterations {args.iterations} --seeds {args.seeds}"
        f" --variant-steps {args.variant_steps} --sections {args.sections}"
    )
    for section in chosen:
        if section == "ceiling":
            found = {}
            for name, env in TASKS.items():
                found[name] = {"lstm_share": lstm_share(env, args.iterations), **shares_and_overlap(env, args.iterations)}
                print(name, found[name], flush=True)
            measured = {"tasks": found}
        elif section == "minibatches":
            measured = {"rows": fewer_minibatches(args.seeds)}
        else:
            make_variant = VARIANTS[section][1]
            measured = {
                "speed": variant_speed(make_variant, args.variant_steps),
                "curves": [],
                "defaults_curves": [],  # in the same run, alternating with the variant's, for the training times
            }
            for seed in range(args.seeds):
                measured["curves"].append(variant_curve(make_variant, seed))
                measured["defaults_curves"].append(variant_curve(ppo, seed))
        results["sections"][section] = {"command": command, **measured}
    RESULTS.mkdir(exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / "train_ceiling.md").write_text(to_markdown(results))
    print(to_markdown(results))


VARIANT_TEXTS = {
    "ahead": "Batch k+1 collected in a worker process, with the weights from before update k, during that update; each"
    " batch re-scored by the weights its update starts from, against which the ratio and the clipping are taken, its"
    " advantages weighted by their probability over the collecting weights' (decoupled PPO).",
    "ahead_uncorrected": "As collected ahead, but with PPO's ratio and clipping against the collecting weights, and"
    " no re-scoring.",
    "hidden48": "The policy's hidden size 48 instead of 64 (`--hidden-dim 48`), PPO's defaults otherwise.",
}


def to_markdown(results: dict) -> str:
    sections = results["sections"]
    lines = [
        "# How much faster PPO's training can get on this machine",
        "",
        f"{results['machine']}; PPO's defaults, one torch thread per thread of work. Each section gives its command.",
        "",
    ]
    if "ceiling" in sections:
        lines += ceiling_markdown(sections["ceiling"])
    if "minibatches" in sections:
        lines += minibatches_markdown(sections["minibatches"])
    for section in VARIANTS:
        if section in sections:
            lines += variant_markdown(section, sections[section])
    return "\n".join(lines)


def table_header(*columns: str) -> list[str]:
    """A markdown table's first two lines."""
    return ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]


def ceiling_markdown(section: dict) -> list[str]:
    names = list(section["tasks"])
    tasks = [section["tasks"][name] for name in names]

    def row(label: str, cell) -> str:
        return f"| {label} | " + " | ".join(cell(t) for t in tasks) + " |"

    def bound(t: dict) -> float:  # the update's one-core work perfectly on two cores, the rollout as it is
        return (t["rollout_s"] + t["update_s"]) / (t["rollout_s"] + t["update_one_core_s"] / 2)

    return [
        "## Where the limits are (seed 0)",
        "",
        f"`{section['command']}`",
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
        " between its two rows, and adds one update of policy lag (what it costs in quality: 'collected ahead' below).",
        "",
    ]


def minibatches_markdown(section: dict) -> list[str]:
    rows = []
    for count in (4, 2):
        runs = [r for r in section["rows"] if r["num_minibatches"] == count]
        similarity = " | ".join(
            f"{statistics.mean(r['similarity'][i] for r in runs):.3f}" for i in range(len(MINIBATCH_MARKS))
        )
        rows.append(f"| {count} | {statistics.mean(r['env_steps_per_s'] for r in runs):,.0f} | {similarity} |")
    return [
        f"## Reverse 3-8 with fewer, larger minibatches (seeds 0-{len(section['rows']) // 2 - 1}, means)",
        "",
        f"`{section['command']}`",
        "",
        *table_header("minibatches per pass", "env-steps/s", *(f"similarity at {m // 1000}K" for m in MINIBATCH_MARKS)),
        *rows,
        "",
        "Held-out similarity is greedy, on the held-out split; 2 minibatches take half the gradient steps per env step;"
        " both sides' learning rates stay at 1e-3 (runs of 10^9 env steps, stopped at the marks).",
        "",
    ]


def variant_markdown(key: str, section: dict) -> list[str]:
    """A variant's speed against PPO's defaults, and its reverse 3-64 curves beside the defaults' and aff4521's."""
    name = VARIANTS[key][0]
    speed = section["speed"]
    speed_rows = []
    for task, row in speed.items():
        before, after = row["iteration_s"]["defaults"], row["iteration_s"]["variant"]
        cells = [f"{row['defaults']:,.0f}", f"{row['variant']:,.0f}", f"{row['variant'] / row['defaults']:.2f}x"]
        cells += [f"{before:.3f}", f"{after:.3f}", f"{before / after:.2f}x"]
        speed_rows.append(f"| {task} | " + " | ".join(cells) + " |")
    committed = json.loads((RESULTS / "train_speed.json").read_text())["quality"]
    seeds = range(len(section["curves"]))
    curves = {
        "aff4521": [committed[seed]["before"]["curve"] for seed in seeds],
        "PPO's defaults": [row["curve"] for row in section["defaults_curves"]],
        name: [row["curve"] for row in section["curves"]],
    }
    similarity_rows = [
        f"| {(i + 1) * 250_000:,} | "
        + " | ".join(f"{statistics.mean(curve[i]['similarity'] for curve in side):.3f}" for side in curves.values())
        + " |"
        for i in range(1, 8, 2)  # 500K, 1M, 1.5M, 2M
    ]

    def at_goal(curve: list[dict]) -> dict | None:
        return next((point for point in curve[:8] if point["similarity"] >= 0.95), None)

    def reached(point: dict | None, timed: bool) -> str:
        if point is None:
            return "not within 2M"
        return f"{point['env_steps']:,}" + (f" ({point['training_s']:.0f} s)" if timed else "")

    reached_rows = [  # aff4521's training times are of another run: not comparable, not shown
        f"| {side} | " + " | ".join(reached(at_goal(curve), side != "aff4521") for curve in side_curves) + " |"
        for side, side_curves in curves.items()
    ]
    goals = [(at_goal(v), at_goal(d)) for v, d in zip(curves[name], curves["PPO's defaults"])]
    ratios = [f"{v['training_s'] / d['training_s']:.2f}x" if v and d else "-" for v, d in goals]
    reached_rows.append(f"| {name} / defaults, training time | " + " | ".join(ratios) + " |")
    speed_header = ["task", "PPO's defaults, env-steps/s", name, f"{name} / defaults"]
    speed_header += ["defaults, s / iteration", f"{name}, s / iteration", "iteration speed-up"]
    return [
        f"## {name[0].upper()}{name[1:]} (a variant measured here, not the package's default)",
        "",
        f"`{section['command']}`",
        "",
        VARIANT_TEXTS[key],
        "",
        *table_header(*speed_header),
        *speed_rows,
        "",
        "Over the first env steps both speeds depend on how long the policies' episodes are (a policy that learns"
        " otherwise writes other lengths: more steps per iteration, more work per iteration), so the training time to"
        " 0.95 below is the comparison that counts.",
        "",
        f"Reverse 3-64, greedy held-out similarity, mean of seeds 0-{len(seeds) - 1}; every run's learning rate anneals"
        f" over {CURVES_TOTAL_ENV_STEPS:,} env steps (aff4521: train_speed.json's curves; PPO's defaults' curves measured in"
        " the same run, alternating with the variant's by seed):",
        "",
        *table_header("env steps (about)", *curves),
        *similarity_rows,
        "",
        "Env steps to 0.95 (evaluations every 250K, to 2M; training seconds, evaluations excluded, of this run's"
        " trainings), per seed:",
        "",
        *table_header("", *(f"seed {seed}" for seed in seeds)),
        *reached_rows,
        "",
    ]


if __name__ == "__main__":
    main()

"""Past one process: our PPO with 1 and 2 DDP ranks, trainings sharing the cores, and a model for more ranks.

    python benchmarks/scaling.py threads   # PPO alone and two at once, per thread setting
    python benchmarks/scaling.py ddp       # torchrun with 1 and 2 ranks, 3 seeds, reverse 3-8
    python benchmarks/scaling.py report    # scaling.md from the parts' JSON (and rllib_ppo.json)

Every training is the `textgen-rl` command line (`python -m agents train`), so what
is measured is what a user runs, thread defaults included. Env-steps/s count the
iterations' own time (rollout + update), not the start-up. Writes
benchmarks/results/scaling_threads.json, scaling_ddp.json and scaling.md.
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
from pathlib import Path

from agents.runs.rundir import CHECKPOINT_NAME  # torch is not loaded by it: the thread settings still apply

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
TASK = ["--task", "reverse"]  # 3-8 letters

# (label, extra command-line options, extra environment); 2 threads is torch's own count on this 2-core machine
THREAD_SETTINGS = (
    ("2 threads, libgomp's spin (before this change)", ["--threads", "2"], {"GOMP_SPINCOUNT": "300000"}),
    ("2 threads, short spin waits", ["--threads", "2"], {}),
    ("1 thread (the default now)", [], {}),
    ("2 threads, OMP_WAIT_POLICY=PASSIVE", ["--threads", "2"], {"OMP_WAIT_POLICY": "PASSIVE"}),
)


def train(args: list[str], env: dict | None = None, ranks: int = 1, background: bool = False):
    """`textgen-rl train` (under torchrun for several ranks) in a fresh process; returns it, or waits and returns its run."""
    environment = {**os.environ, **(env or {})}
    if ranks > 1:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={ranks}"]
        command += ["-m", "agents", "train", *args]
    else:
        command = [sys.executable, "-m", "agents", "train", *args]
    process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return process if background else finish(process)


def finish(process) -> None:
    _, err = process.communicate()
    if process.returncode != 0:
        raise RuntimeError(err.decode()[-3000:])


def history(run_dir: Path) -> list[dict]:
    from agents.runs.checkpoint import Checkpoint

    return Checkpoint.load(run_dir / CHECKPOINT_NAME).history


def rate(rows: list[dict]) -> float:
    """Env steps per second of the iterations' own time."""
    return rows[-1]["env_steps"] / sum(r["rollout_s"] + r["update_s"] for r in rows)


def threads(steps_alone: int, steps_shared: int, repeats: int) -> dict:
    """Each setting alone `repeats` times (the settings interleaved, against drift), then two at once."""
    alone = {label: [] for label, _, _ in THREAD_SETTINGS}
    shared = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(repeats):
            for k, (label, options, env) in enumerate(THREAD_SETTINGS):
                folder = Path(tmp) / f"alone{k}_{i}"
                train([*TASK, "--steps", str(steps_alone), "--run-dir", str(folder), *options], env)
                alone[label].append(rate(history(folder)))
        for k, (label, options, env) in enumerate(THREAD_SETTINGS):
            folders = [Path(tmp) / f"shared{k}_{i}" for i in range(2)]
            processes = [
                train([*TASK, "--steps", str(steps_shared), "--run-dir", str(f), *options], env, background=True)
                for f in folders
            ]
            for process in processes:
                finish(process)
            shared[label] = [rate(history(f)) for f in folders]
            print(label, json.dumps({"alone": alone[label], "shared": shared[label]}), flush=True)
    settings = {
        label: {"alone": statistics.median(alone[label]), "alone_runs": alone[label], "shared": shared[label]}
        for label in alone
    }
    return {"steps_alone": steps_alone, "steps_shared": steps_shared, "repeats": repeats, "settings": settings}


def ddp(steps: int, seeds: list[int], eval_every: int) -> dict:
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            for ranks in (1, 2):
                folder = Path(tmp) / f"r{ranks}s{seed}"
                args = [*TASK, "--steps", str(steps), "--seed", str(seed), "--eval-every", str(eval_every)]
                threads = ["--threads", "2"] if ranks == 1 else []  # both cores for one rank; one each for two
                train([*args, *threads, "--run-dir", str(folder)], ranks=ranks)
                rows = history(folder)
                final = json.loads(
                    subprocess.run(
                        [sys.executable, "-m", "agents", "evaluate", str(folder / CHECKPOINT_NAME)],
                        cwd=ROOT,
                        capture_output=True,
                        text=True,
                        check=True,
                    ).stdout
                )
                curve = [(r["env_steps"], r["eval_similarity"]) for r in rows if not math.isnan(r["eval_similarity"])]
                iterations = len(rows)
                run = {
                    "ranks": ranks,
                    "seed": seed,
                    "env_steps": rows[-1]["env_steps"],
                    "env_steps_per_s": rate(rows),
                    "heldout_similarity": final["mean_similarity"],
                    "curve": curve,
                    "rollout_s": sum(r["rollout_s"] for r in rows) / iterations,
                    "update_s": sum(r["update_s"] for r in rows) / iterations,
                    "communication_s": sum(r["communication_s"] for r in rows) / iterations,
                    "env_steps_per_iteration": rows[-1]["env_steps"] / iterations,
                }
                runs.append(run)
                print(json.dumps({k: v for k, v in run.items() if k != "curve"}), flush=True)
    from agents.model.policy import ActorCritic, PolicyConfig
    from textgen_env.task import TextTask

    parameters = sum(p.numel() for p in ActorCritic(TextTask(task="reverse").vocab_size, PolicyConfig()).parameters())
    return {"steps": steps, "seeds": seeds, "eval_every": eval_every, "runs": runs, "parameters": parameters}


# -- the model ---------------------------------------------------------------------------

# Per PPO iteration (defaults: 4 epochs x 4 minibatches): one all-reduce of every gradient per
# minibatch, plus small ones (advantage normalization per minibatch, the KL per epoch, the stats, the stop flag).
GRADIENT_ALL_REDUCES = 16
SMALL_ALL_REDUCES = 16 + 4 + 2
NETWORK = {"bandwidth_bytes_per_s": 1.25e9, "latency_s": 50e-6}  # an assumption: 10 Gb/s Ethernet, gloo over TCP


def ring_all_reduce_seconds(ranks: int, size_bytes: float) -> float:
    """A large message: 2 (N - 1) steps, each a latency and 1/N of the data."""
    steps = 2 * (ranks - 1)
    return steps * (NETWORK["latency_s"] + size_bytes / ranks / NETWORK["bandwidth_bytes_per_s"])


def tree_all_reduce_seconds(ranks: int) -> float:
    """A few numbers: recursive halving and doubling, 2 log2(N) latencies."""
    return 2 * math.ceil(math.log2(ranks)) * NETWORK["latency_s"] if ranks > 1 else 0.0


def model(ddp_results: dict, ranks_list=(1, 2, 4, 8, 16, 32, 64, 128)) -> dict:
    """Env-steps/s for N ranks, each with its own cores and the batch of one rank (weak scaling:
    ``--num-envs 256N``), from the 1-rank runs' iteration time and the all-reduces over the network model."""
    ones = [r for r in ddp_results["runs"] if r["ranks"] == 1]
    compute = statistics.mean(r["rollout_s"] + r["update_s"] for r in ones)
    steps = statistics.mean(r["env_steps_per_iteration"] for r in ones)
    gradient_bytes = 4 * ddp_results["parameters"]
    rows = {}
    for n in ranks_list:
        communication = GRADIENT_ALL_REDUCES * ring_all_reduce_seconds(n, gradient_bytes) + SMALL_ALL_REDUCES * (
            tree_all_reduce_seconds(n)
        )
        rate = steps * n / (compute + communication)
        rows[n] = {"env_steps_per_s": rate, "efficiency": rate / (n * steps / compute), "communication_s": communication}
    return {"iteration_s": compute, "env_steps_per_iteration": steps, "gradient_bytes": gradient_bytes, "rows": rows}


# -- the report ---------------------------------------------------------------------------


def report() -> str:
    lines = [
        "# Past one process",
        "",
        f"Machine: {platform.machine()}, 2 cores, Python {platform.python_version()}, no GPU. Task: reverse (3-8 letters),"
        " PPO with its defaults (256 episodes per batch), the default policy. Commands: `python benchmarks/scaling.py"
        " threads`, `... ddp`, `... report`; RLlib: `PYTHONPATH=benchmarks python benchmarks/rllib_ppo.py` in the RLlib"
        " venv. Env-steps/s count the iterations' own time (rollout + update), not process start-up.",
    ]
    threads_path, ddp_path, rllib_path = (RESULTS / f"{n}.json" for n in ("scaling_threads", "scaling_ddp", "rllib_ppo"))
    if ddp_path.exists():
        d = json.loads(ddp_path.read_text())
        lines += [
            "",
            "## Our PPO across processes (torchrun, DDP)",
            "",
            f"`torchrun --standalone --nproc-per-node N -m agents train --task reverse --steps {d['steps']:,} --seed S"
            f" --eval-every {d['eval_every']}` (N = 1: the plain command with `--threads 2`, both cores; N = 2: one torch"
            " thread per rank, torchrun's default). The batch stays 256 episodes, shared out among the ranks, so both take"
            " the same updates per env step.",
            "",
            "| ranks | seed | env steps/s | held-out similarity (end) | rollout s / it | update s / it | of which"
            " communication |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in sorted(d["runs"], key=lambda r: (r["ranks"], r["seed"])):
            lines.append(
                f"| {r['ranks']} | {r['seed']} | {r['env_steps_per_s']:,.0f} | {r['heldout_similarity']:.3f}"
                f" | {r['rollout_s']:.3f} | {r['update_s']:.3f} | {r['communication_s']:.3f} |"
            )
        lines += ["", "Held-out similarity (greedy, 200 test pairs) along the runs, mean over the seeds:", ""]
        by_ranks = {n: [r for r in d["runs"] if r["ranks"] == n] for n in (1, 2)}
        points = min(len(r["curve"]) for r in d["runs"])
        lines += ["| env steps (about) | 1 rank | 2 ranks |", "|---|---|---|"]
        for i in range(points):
            steps = statistics.mean(r["curve"][i][0] for r in d["runs"])
            cells = [statistics.mean(r["curve"][i][1] for r in by_ranks[n]) for n in (1, 2)]
            lines.append(f"| {steps:,.0f} | {cells[0]:.3f} | {cells[1]:.3f} |")
        m = model(d)
        twos = [r for r in d["runs"] if r["ranks"] == 2]
        lines += [
            "",
            "### A model for more ranks (an estimate, not a measurement)",
            "",
            "Each rank on its own cores with 256 episodes (`--num-envs 256N`: weak scaling), so each iteration's compute"
            f" stays what one rank measured here: {m['iteration_s']:.3f} s for {m['env_steps_per_iteration']:,.0f} env"
            f" steps. Per iteration {GRADIENT_ALL_REDUCES} all-reduces of the gradients ({m['gradient_bytes'] / 1e3:.0f} KB,"
            f" {d['parameters']:,} parameters; ring) and {SMALL_ALL_REDUCES} of a few numbers (recursive halving and"
            " doubling), over an assumed 10 Gb/s Ethernet with 50 µs per message (gloo over TCP).",
            "",
            "| ranks | env steps/s | efficiency | communication s / iteration |",
            "|---|---|---|---|",
        ]
        for n, row in m["rows"].items():
            lines.append(f"| {n} | ~{row['env_steps_per_s']:,.0f} | {row['efficiency']:.0%} | {row['communication_s']:.3f} |")
        lines += [
            "",
            "The 2-rank runs above split one batch of 256 episodes (strong scaling) on the 2 cores that one rank already"
            " used with 2 threads: each rank's update on 128 episodes took"
            f" {statistics.mean(r['update_s'] - r['communication_s'] for r in twos):.3f} s of compute, about what one"
            " rank took on 256 (the LSTM's small sequential ops cost per op, not per episode), plus"
            f" {statistics.mean(r['communication_s'] for r in twos):.3f} s in collectives (waiting for the other rank"
            " included). So on one CPU machine a second rank does not pay; past one machine, keep each rank's batch.",
        ]
    if threads_path.exists():
        t = json.loads(threads_path.read_text())
        reference = t["settings"][THREAD_SETTINGS[0][0]]["alone"]
        lines += [
            "",
            "## Trainings sharing the cores",
            "",
            f"`python -m agents train --task reverse` alone ({t['steps_alone']:,} env steps, the median of"
            f" {t.get('repeats', 2)} runs, the settings interleaved) and two at once ({t['steps_shared']:,} each), per"
            " thread setting. Ratios are to the setting before this change, alone. Runs of one setting alone vary by up to 20%"
            " here, and two at once were sometimes faster than alone: the machine is shared.",
            "",
            "| setting | alone env steps/s (runs) | alone / before | two at once, each | each / alone before |",
            "|---|---|---|---|---|",
        ]
        for label, row in t["settings"].items():
            shared = " / ".join(f"{s:,.0f}" for s in row["shared"])
            ratios = " / ".join(f"{s / reference:.2f}x" for s in row["shared"])
            runs = ", ".join(f"{a:,.0f}" for a in row["alone_runs"])
            lines.append(f"| {label} | {row['alone']:,.0f} ({runs}) | {row['alone'] / reference:.2f}x | {shared} | {ratios} |")
    if rllib_path.exists():
        r = json.loads(rllib_path.read_text())
        lines += ["", "## RLlib (env runners and learners)", ""]
        lines += ["| env runners | learners | env steps/s | sampling s / it | learner s / it |", "|---|---|---|---|---|"]
        for row in r["scaling"]["measured"].values():
            learners = "driver" if row.get("learners", 0) == 0 else row["learners"]
            lines.append(
                f"| {row.get('env_runners', '?')} | {learners} | {row['env_steps_per_s']:,.0f}"
                f" | {row['sampling_s_per_iteration']:.2f} | {row['learner_s_per_iteration']:.2f} |"
            )
        lines += ["", "Quality, the figures before this change and the estimate for 16 and 64 runners: `rllib_ppo.md`."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=["threads", "ddp", "report"])
    parser.add_argument("--steps", type=int, default=300_000, help="ddp: env steps per run")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    if args.part == "threads":
        result = threads(150_000, 100_000, repeats=4)
        (RESULTS / "scaling_threads.json").write_text(json.dumps(result, indent=2) + "\n")
    elif args.part == "ddp":
        result = ddp(args.steps, args.seeds, eval_every=20)
        (RESULTS / "scaling_ddp.json").write_text(json.dumps(result, indent=2) + "\n")
    text = report()
    (RESULTS / "scaling.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()

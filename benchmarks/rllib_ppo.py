"""RLlib's PPO with our LSTM-attention RLModule, against RLlib's default MLP and our own PPO.

    PYTHONPATH=benchmarks python benchmarks/rllib_ppo.py          # reverse (3-8 letters), up to 300K env steps
    PYTHONPATH=benchmarks python benchmarks/rllib_ppo.py --quick  # 100K env steps (a smoke run)

(PYTHONPATH: Ray's workers import this script's callback by its module name.)
Needs the `rllib` extra (`make test-rllib` builds .venv-rllib with it). Writes
benchmarks/results/rllib_ppo.md and .json:

1. Quality: RLlib PPO with `model="lstm_attention"` (the stateful module) on reverse,
   2 env runners stepping our vector env on this machine, evaluated every 50K env
   steps by RLlib's own evaluation (greedy, `explore=False`) on the held-out split,
   until held-out similarity >= 0.95 or the budget; then RLlib's default MLP for the
   env steps that our module needed; env-steps/s of both next to our own PPO's.
2. Scaling: env-steps/s with 1 and 2 env runners and with the learner in the driver,
   1 or 2 learner processes (RLlib's DDP), measured, and an estimate for 16 and 64
   runners from where the time goes (sampling, which runners share, vs the learner
   update).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import ray
from ray.rllib.callbacks.callbacks import RLlibCallback

from agents.algorithms.ppo import PPO, PPOConfig
from agents.integrations import rllib
from agents.model.policy import PolicyConfig
from agents.runs.config import EnvConfig

RESULTS = Path(__file__).resolve().parent / "results"
TASK = {"task": "reverse"}
GOAL = 0.95
BEFORE = {  # rllib_ppo.json at commit 007794e
    "commit": "007794e",
    "envs_per_runner": 16,
    "quality_env_steps_per_s": 1135,
    "one_runner": 961,
    "two_runners": 1285,
}


class SimilarityCallback(RLlibCallback):
    """Logs each finished episode's end-of-episode similarity (the env's info) as an RLlib metric."""

    def on_episode_end(self, *, episode, metrics_logger=None, **kwargs):
        metrics_logger.log_value("similarity", float(episode.get_infos(-1)["similarity"]), reduce="mean", window=1000)


def build(model: str, runners: int, steps: int, evaluate: bool = True, learners: int = 0):
    ours = PPOConfig(env=EnvConfig(**TASK), total_env_steps=steps)  # our PPO's hyperparameters, mapped onto RLlib's
    config = rllib.ppo_config(
        TASK,
        num_env_runners=runners,
        model=model,
        policy=PolicyConfig(),
        num_learners=learners,
        **rllib.rllib_training_settings(ours, PPO(ours).task),
    )
    # Half a CPU each, so that 2 runners and an evaluation runner (or 2 learners) fit the 2 CPUs Ray is given here.
    config = config.callbacks(SimilarityCallback).env_runners(num_cpus_per_env_runner=0.5)
    if learners:
        config = config.learners(num_cpus_per_learner=0.5)
    if evaluate:
        test_env = {**config.env_config, "split": "test"}
        config = config.evaluation(
            evaluation_interval=None,
            evaluation_duration=200,
            evaluation_duration_unit="episodes",
            evaluation_num_env_runners=1,
            evaluation_config={"explore": False, "env_config": test_env},
        )
    return config.build_algo()


def heldout_similarity(algo) -> float:
    return float(algo.evaluate()["env_runners"]["similarity"])


def train_to_goal(model: str, budget: int, every: int) -> dict:
    """Train with 2 env runners, evaluating on the held-out split every `every` env steps (not timed)."""
    algo = build(model, runners=2, steps=budget)
    points, train_seconds, next_eval, steps = [], 0.0, every, 0
    try:
        while steps < budget:
            started = time.perf_counter()
            result = algo.train()
            train_seconds += time.perf_counter() - started
            steps = int(result["env_runners"]["num_env_steps_sampled_lifetime"])
            if steps >= next_eval or steps >= budget:
                point = {"env_steps": steps, "train_s": train_seconds, "heldout_similarity": heldout_similarity(algo)}
                points.append(point)
                print(f"{model}: {json.dumps(point)}", flush=True)
                next_eval += every
                if point["heldout_similarity"] >= GOAL and model == "lstm_attention":
                    break
    finally:
        algo.stop()
    reached = next((p["env_steps"] for p in points if p["heldout_similarity"] >= GOAL), None)
    return {"model": model, "env_steps_to_goal": reached, "points": points, "env_steps_per_s": steps / train_seconds}


def ours(budget: int) -> dict:
    started = time.perf_counter()
    run = PPO(PPOConfig(env=EnvConfig(**TASK), total_env_steps=budget))
    run.learn()
    wall = time.perf_counter() - started
    return {
        "env_steps": run.env_steps,
        "env_steps_per_s": run.env_steps / wall,
        "heldout_similarity": run.evaluate()["mean_similarity"],
    }


SCALING = ((1, 0), (2, 0), (2, 1), (2, 2))  # (env runners, learner processes; 0: the learner in the driver)


def scaling(iterations: int) -> dict:
    """Env-steps/s and the time split per (env runners, learners), and an estimate for more runners."""
    measured = {}
    for runners, learners in SCALING:
        algo = build("lstm_attention", runners, steps=10**9, evaluate=False, learners=learners)
        try:
            algo.train()  # warm-up: builds, compiles, first sync
            started, sampling, learning, steps0 = time.perf_counter(), 0.0, 0.0, None
            for _ in range(iterations):
                result = algo.train()
                steps = int(result["env_runners"]["num_env_steps_sampled_lifetime"])
                steps0 = steps0 or steps - int(result["env_runners"]["num_env_steps_sampled"])
                timers = result.get("timers", {})
                sampling += float(timers.get("env_runner_sampling_timer", 0.0))
                learning += float(timers.get("learner_update_timer", 0.0))
            wall = time.perf_counter() - started
            measured[f"{runners}x{learners}"] = {
                "env_runners": runners,
                "learners": learners,
                "env_steps_per_s": (steps - steps0) / wall,
                "sampling_s_per_iteration": sampling / iterations,
                "learner_s_per_iteration": learning / iterations,
                "batch_env_steps": (steps - steps0) / iterations,
            }
        finally:
            algo.stop()
    # A model: the runners share the sampling (per runner it stays what 2 runners on 2 cores measured, at best),
    # while one learner updates on the whole batch; so an iteration takes sampling / runners + learning.
    two = measured["2x0"]
    per_runner_sampling = two["sampling_s_per_iteration"] * 2
    estimate = {}
    for runners in (16, 64):
        iteration = per_runner_sampling / runners + two["learner_s_per_iteration"]
        estimate[runners] = {
            "env_steps_per_s": two["batch_env_steps"] / iteration,
            "learner_share": two["learner_s_per_iteration"] / iteration,
        }
    return {"measured": measured, "estimate": estimate}


def to_markdown(results: dict) -> str:
    q, o = results["quality"], results["ours"]
    lines = [
        "# RLlib's PPO with our LSTM-attention RLModule",
        "",
        f"Command: `{results['command']}` ({results['machine']}). Task: reverse (3-8 letters); RLlib's PPO with our PPO's"
        " hyperparameters mapped onto it (`agents.integrations.rllib.rllib_training_settings`), 2 env runners, each"
        " stepping our vector env of 128 envs, the learner in the driver. The module is stateful: RLlib's connectors carry"
        " the decoder's LSTM state, and the learner runs each episode once. Held-out similarity: RLlib's own evaluation,"
        " greedy (`explore=False`), 200 episodes of the test split.",
        "",
        "| model | env steps | held-out similarity | env steps to 0.95 | env steps/s | / our loop |",
        "|---|---|---|---|---|---|",
    ]
    for run in q:
        last = run["points"][-1]
        reached = f"{run['env_steps_to_goal']:,}" if run["env_steps_to_goal"] else "not reached"
        lines.append(
            f"| RLlib PPO, {run['model']} | {last['env_steps']:,} | {last['heldout_similarity']:.3f} | {reached}"
            f" | {run['env_steps_per_s']:,.0f} | {run['env_steps_per_s'] / o['env_steps_per_s']:.2f}x |"
        )
    lines.append(
        f"| our PPO (same policy, our loop) | {o['env_steps']:,} | {o['heldout_similarity']:.3f} |"
        f" | {o['env_steps_per_s']:,.0f} | 1.00x |"
    )
    lines += [
        "",
        f"Before this change ({BEFORE['commit']}: a stateless module that re-scored the generated prefix at every step,"
        f" runners stepping SyncVectorEnv over {BEFORE['envs_per_runner']} single envs), the same command measured"
        f" {BEFORE['quality_env_steps_per_s']:,} env-steps/s in the quality run, and {BEFORE['one_runner']:,} and"
        f" {BEFORE['two_runners']:,} with 1 and 2 env runners.",
    ]
    s = results["scaling"]
    lines += [
        "",
        "## Scaling (lstm_attention)",
        "",
        "| env runners | learners | env steps/s | sampling s / iteration | learner s / iteration | |",
        "|---|---|---|---|---|---|",
    ]
    for row in s["measured"].values():
        learners = "driver" if row["learners"] == 0 else row["learners"]
        lines.append(
            f"| {row['env_runners']} | {learners} | {row['env_steps_per_s']:,.0f} | {row['sampling_s_per_iteration']:.2f}"
            f" | {row['learner_s_per_iteration']:.2f}"
            " | measured here (2 cores) |"
        )
    for runners, row in s["estimate"].items():
        lines.append(
            f"| {runners} | driver | ~{row['env_steps_per_s']:,.0f} | | {row['learner_share']:.0%} of the time"
            " | **estimate** |"
        )
    lines += [
        "",
        "The estimate assumes one runner per core, each sampling as fast as one of the two runners here, and one learner:"
        " an iteration takes (sampling time of 2 runners x 2) / runners + the learner's time. The learner then dominates;"
        " `num_learners` and `num_gpus_per_learner` (on `ppo_config`) spread it.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    budget, every, iterations = (100_000, 50_000, 2) if args.quick else (300_000, 50_000, 4)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    results = {
        "command": "PYTHONPATH=benchmarks python benchmarks/rllib_ppo.py" + (" --quick" if args.quick else ""),
        "machine": f"{platform.machine()}, Python {platform.python_version()}, ray {ray.__version__}",
        "quality": [train_to_goal("lstm_attention", budget, every)],
    }
    # The MLP gets the budget that our module needed (it is far slower to learn; 2M steps of it take hours here).
    mlp_budget = results["quality"][0]["points"][-1]["env_steps"]
    results["quality"].append(train_to_goal("mlp", mlp_budget, every))
    results["scaling"] = scaling(iterations)
    ray.shutdown()
    results["ours"] = ours(min(budget, 1_000_000))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "rllib_ppo.json").write_text(json.dumps(results, indent=2, default=float) + "\n")
    (RESULTS / "rllib_ppo.md").write_text(to_markdown(results))
    print(to_markdown(results))


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()

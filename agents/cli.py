"""`textgen-rl` (also `python -m agents`): train, pretrain, evaluate, generate, bench."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields

from agents.a2c import A2C, A2CConfig
from agents.bench import BUILTIN_AGENTS, EXTRAS, PRESETS, agent_available, run_benchmark
from agents.checkpoint import CheckpointError, load_checkpoint
from agents.ppo import PPO, PPOConfig
from agents.pretrain import Pretrain, PretrainConfig
from agents.reinforce import BASELINES, Reinforce, ReinforceConfig
from textgen_env.rewards import METRICS, REWARD_MODES
from textgen_env.tasks import TASKS

ALGORITHMS = {"reinforce": Reinforce, "a2c": A2C, "ppo": PPO, "pretrain": Pretrain}
CONFIGS = {"reinforce": ReinforceConfig, "a2c": A2CConfig, "ppo": PPOConfig, "pretrain": PretrainConfig}


def add_task_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", choices=list(TASKS), default="copy", help="built-in task (default: copy)")
    parser.add_argument("--tokenizer", choices=["char", "word"], default="char", help="token unit (default: char)")
    parser.add_argument("--reward", choices=REWARD_MODES, default="dense", help="reward mode (default: dense)")
    parser.add_argument(
        "--metric", choices=sorted(METRICS), default="levenshtein", help="distance metric (default: levenshtein)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of everything random (default: 0)")
    parser.add_argument("--num-envs", type=int, default=None, help="episodes per batch (default: ppo 256, others 64)")
    parser.add_argument("--lr", type=float, default=None, help="Adam learning rate (default: ppo 2e-3, others 1e-3)")
    parser.add_argument(
        "--run-dir", default=None, help="folder for progress.csv and checkpoint.pt (default: runs/<agent>-<task>-<seed>)"
    )
    parser.add_argument(
        "--init", default=None, metavar="CHECKPOINT", help="start from these weights, e.g. a pre-trained policy"
    )
    parser.add_argument("--checkpoint-every", type=int, default=50, help="iterations between checkpoints (default: 50)")


def config_from_args(agent: str, args) -> object:
    cls = CONFIGS[agent]
    values = dict(
        task=args.task,
        tokenizer=args.tokenizer,
        reward=args.reward,
        metric=args.metric,
        seed=args.seed,
        num_envs=args.num_envs,
        learning_rate=args.lr,
        init_checkpoint=args.init,
        checkpoint_every=args.checkpoint_every,
        run_dir=args.run_dir or f"runs/{agent}-{args.task}-{args.seed}",
    )
    if agent == "pretrain":
        values.update(epochs=args.epochs, batch_size=args.batch_size)
    else:
        values["total_env_steps"] = args.steps
    if agent == "reinforce":
        values["baseline"] = args.baseline
    if agent == "ppo":
        values["kl_coef"] = args.kl_coef
    known = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in values.items() if k in known and v is not None})


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="textgen-rl", description="Train and use reference agents on TextGeneration-v0.")
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser(
        "train", help="train an agent with RL", description="Train REINFORCE, A2C or PPO on a built-in task."
    )
    train.add_argument("--agent", choices=["reinforce", "a2c", "ppo"], default="ppo", help="algorithm (default: ppo)")
    train.add_argument("--steps", type=int, default=200_000, help="env-step budget (default: 200000)")
    train.add_argument("--baseline", choices=BASELINES, default="rloo", help="REINFORCE baseline (default: rloo)")
    train.add_argument("--kl-coef", type=float, default=0.0, help="PPO: KL penalty towards the starting policy (default: 0)")
    train.add_argument("--resume", default=None, metavar="CHECKPOINT", help="continue an interrupted run from its checkpoint")
    add_task_options(train)

    pre = sub.add_parser(
        "pretrain", help="supervised pre-training", description="Teacher-forced pre-training on the task's targets."
    )
    pre.add_argument("--epochs", type=int, default=20, help="passes over the training split (default: 20)")
    pre.add_argument("--batch-size", type=int, default=64, help="pairs per gradient step (default: 64)")
    pre.add_argument("--resume", default=None, metavar="CHECKPOINT", help="continue an interrupted run from its checkpoint")
    add_task_options(pre)

    ev = sub.add_parser(
        "evaluate",
        help="score a checkpoint on a split",
        description="Mean similarity, exact-match rate and mean distance of a checkpoint.",
    )
    ev.add_argument("checkpoint", help="a checkpoint.pt written by train or pretrain")
    ev.add_argument("--split", choices=["train", "test", "all"], default="test", help="split to evaluate on (default: test)")
    ev.add_argument("--sample", action="store_true", help="sample actions instead of greedy decoding")
    ev.add_argument("--episodes", type=int, default=None, help="evaluate only the first N pairs (default: all)")

    gen = sub.add_parser(
        "generate", help="write text for a prompt", description="Greedy (or sampled) generation from a checkpoint."
    )
    gen.add_argument("checkpoint", help="a checkpoint.pt written by train or pretrain")
    gen.add_argument("--prompt", required=True, help="the prompt text")
    gen.add_argument("--sample", action="store_true", help="sample instead of greedy decoding")

    bench = sub.add_parser(
        "bench",
        help="compare agents on tasks",
        description="Train agents x tasks x seeds at one env-step budget and score them on held-out "
        "prompts; writes a markdown table, JSON and learning-curve plots. (The env speed benchmark is benchmarks/env_speed.py.)",
    )
    bench.add_argument(
        "--preset", choices=sorted(PRESETS), default="quick", help="quick (a few minutes) or full (default: quick)"
    )
    bench.add_argument("--quick", dest="preset", action="store_const", const="quick", help="same as --preset quick")
    bench.add_argument("--full", dest="preset", action="store_const", const="full", help="same as --preset full")
    bench.add_argument(
        "--name", default=None, help="results go to agents_<name>.* (default: the preset, +'-custom' if changed)"
    )
    bench.add_argument(
        "--agents",
        nargs="+",
        metavar="AGENT",
        help=f"agents to run: {', '.join(BUILTIN_AGENTS)}, or module:Class of your own (default: the preset's)",
    )
    bench.add_argument("--tasks", nargs="+", choices=list(TASKS), help="tasks (default: the preset's)")
    bench.add_argument("--seeds", nargs="+", type=int, help="seeds (default: the preset's)")
    bench.add_argument("--steps", type=int, help="env-step budget per run (default: the preset's)")
    bench.add_argument("--eval-points", type=int, help="held-out evaluations along each run (default: the preset's)")
    bench.add_argument(
        "--out", default="benchmarks/results", help="folder for agents_<preset>.md/.json/.png (default: benchmarks/results)"
    )
    return parser


def load_for_inference(path: str):
    from agents.policy import ActorCritic, PolicyConfig

    data = load_checkpoint(path)
    config = CONFIGS[data["algorithm"]].from_dict({**data["config"], "init_checkpoint": None, "run_dir": None})
    policy_config = dict(data["policy_config"])
    vocab_size = policy_config.pop("vocab_size")
    policy = ActorCritic(vocab_size, PolicyConfig(**policy_config))
    policy.load_state_dict(data["policy"])
    policy.eval()
    return config, policy


def command_train(args, agent: str) -> None:
    algorithm_class = ALGORITHMS[agent]
    if args.resume:
        algorithm = algorithm_class.resume(args.resume)
    else:
        algorithm = algorithm_class(config_from_args(agent, args))
    try:
        algorithm.learn(progress=True)
    except KeyboardInterrupt:
        sys.exit(130)
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in algorithm.history[-1].items()}))
    print(f"checkpoint: {algorithm.config.run_dir}/checkpoint.pt")


def command_evaluate(args) -> None:
    from agents.evaluation import evaluate_policy

    config, policy = load_for_inference(args.checkpoint)
    result = evaluate_policy(policy, config, args.split, greedy=not args.sample, episodes=args.episodes)
    result.pop("texts")
    print(json.dumps(result))


def command_generate(args) -> None:
    import torch

    from agents.evaluation import generate_text
    from textgen_env.task import TextTask

    config, policy = load_for_inference(args.checkpoint)
    torch.manual_seed(config.seed)
    print(generate_text(policy, TextTask(split="all", **config.env_kwargs()), args.prompt, greedy=not args.sample))


def command_bench(args, argv) -> None:
    import dataclasses
    from pathlib import Path

    spec = PRESETS[args.preset]
    changes = {
        "agents": args.agents,
        "tasks": args.tasks,
        "seeds": args.seeds,
        "budget": args.steps,
        "eval_points": args.eval_points,
    }
    changes = {k: v for k, v in changes.items() if v is not None}
    if changes:
        spec = dataclasses.replace(spec, name=f"{spec.name}-custom", **changes)
    if args.name:
        spec = dataclasses.replace(spec, name=args.name)
    for name in spec.agents:  # fail before hours of training, naming the missing extra
        if name in BUILTIN_AGENTS and not agent_available(name) and args.agents:
            raise ValueError(f"agent {name!r} needs the '{EXTRAS[name]}' extra: pip install 'textgen-env[{EXTRAS[name]}]'")
    command = "textgen-rl " + " ".join(sys.argv[1:] if argv is None else argv)
    run_benchmark(spec, Path(args.out), command)


def main(argv=None) -> None:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "train":
            command_train(args, args.agent)
        elif args.command == "pretrain":
            command_train(args, "pretrain")
        elif args.command == "evaluate":
            command_evaluate(args)
        elif args.command == "generate":
            command_generate(args)
        elif args.command == "bench":
            command_bench(args, argv)
    except (CheckpointError, ValueError) as e:
        raise SystemExit(f"textgen-rl {args.command}: {e}") from None


if __name__ == "__main__":
    main()

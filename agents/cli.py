"""`textgen-rl` (also `python -m agents`): train, pretrain, evaluate, generate, bench.

Every option of ``train``, ``pretrain``, ``evaluate``, ``generate`` and ``bench`` that
sets a config field is generated from the config dataclasses (:mod:`agents.runs.config`, :mod:`agents.model`
and each algorithm's config): the field's name (or its ``flags``), type, allowed
values, default and help come from there, so the command line can set every field
and ``--help`` shows each default once. ``train --agent A --help`` lists agent A's.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from agents.integrations.rllib import RLlibConfig
from agents.model.config import DecodingConfig
from agents.options import add_config_options, at_least, given, given_flags
from agents.registry import ALGORITHMS, CONFIGS, RL_ALGORITHMS
from agents.runs.config import EnvConfig, build_config
from agents.runs.errors import CheckpointError, TrainingDiverged
from agents.runs.rundir import CHECKPOINT_NAME, RunDirError, claim_free
from textgen_env.datasets import read_prompts
from textgen_env.files import check_output, replaced_atomically

PROG = "textgen-rl"
RESUMABLE_OPTIONS = ("total_env_steps", "device", "overwrite")  # what --resume may change


# -- the parsers ------------------------------------------------------------------------


def _parser(description: str, **kwargs) -> argparse.ArgumentParser:
    return argparse.ArgumentParser(prog=PROG, description=description, allow_abbrev=False, **kwargs)


THREADS_HELP = (
    "torch's CPU threads in this process (default: 1 for train and pretrain, so that trainings can share the cores,"
    " or OMP_NUM_THREADS; torch's, one per core, for the others). Idle threads spin only briefly"
)


def add_threads_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threads", type=at_least(1), default=None, help=THREADS_HELP)


def threads_option(argv: list[str]) -> int | None:
    """--threads of a command line, read before its command's parser (torch must not be loaded yet)."""
    probe = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    add_threads_option(probe)
    try:
        return probe.parse_known_args(argv)[0].threads
    except SystemExit:  # a malformed value: the command's own parser reports it
        return None


def train_parser(agent: str) -> argparse.ArgumentParser:
    parser = _parser(
        "Train REINFORCE, A2C or PPO on a task or your own dataset.", usage=f"{PROG} train [--agent AGENT] [options]"
    )
    parser.add_argument(
        "--agent",
        choices=list(RL_ALGORITHMS),
        default="ppo",
        help="algorithm; --help after it lists its own options (default: ppo)",
    )
    parser.add_argument(
        "--resume",
        metavar="CHECKPOINT",
        help="continue a run from its checkpoint (the agent is read from it; --steps and --device may change)",
    )
    parser.add_argument(
        "--backend",
        choices=["ours", "rllib"],
        default="ours",
        help="who runs PPO: our loop, or Ray RLlib's PPO with our policy as an RLModule (the 'rllib' extra) (default: ours)",
    )
    add_threads_option(parser)
    add_config_options(parser, CONFIGS[agent])
    add_config_options(parser, RLlibConfig)
    return parser


def pretrain_parser() -> argparse.ArgumentParser:
    parser = _parser("Supervised (teacher-forced) pre-training on the targets.", usage=f"{PROG} pretrain [options]")
    parser.add_argument("--resume", metavar="CHECKPOINT", help="continue a run from its checkpoint (--device may change)")
    add_threads_option(parser)
    add_config_options(parser, CONFIGS["pretrain"])
    return parser


def fit_parser() -> argparse.ArgumentParser:
    from agents.fit.config import FitConfig

    parser = _parser(
        "Your pairs in, a better generator out: held-out baselines, pre-training, PPO fine-tuning and a report, each"
        " stage's size chosen from the data (and printed); the last stdout line is a JSON summary.",
        usage=f"{PROG} fit (--dataset FILE | --task NAME) [--run-dir DIR] [options]   or   {PROG} fit --resume DIR",
    )
    parser.add_argument("--resume", metavar="DIR", help="continue the fit in DIR at the stage where it stopped")
    add_threads_option(parser)
    add_config_options(parser, FitConfig, skip=("env.validation_fraction",))
    return parser


def evaluate_parser() -> argparse.ArgumentParser:
    parser = _parser(
        "Score a checkpoint: prints one JSON object with mean_similarity, exact_rate, mean_distance and unknown_tokens."
        " By default on the data it trained on; --task or --dataset (and any env option) score it elsewhere,"
        " with its tokenizer.",
        usage=f"{PROG} evaluate CHECKPOINT [options]",
    )
    parser.add_argument("checkpoint", help="a checkpoint.pt written by train or pretrain")
    parser.add_argument(
        "--split",
        choices=["train", "validation", "test", "all"],
        default="test",
        help="split of the data (default: test; validation needs --validation-fraction)",
    )
    parser.add_argument("--episodes", type=at_least(1), default=None, help="score only the first N pairs (default: all)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default: auto)")
    add_threads_option(parser)
    add_config_options(parser, EnvConfig, skip=EVALUATE_IGNORES)
    add_config_options(parser, DecodingConfig)
    return parser


# Env options that scoring a checkpoint has no use for: refused by name rather than accepted and ignored.
EVALUATE_IGNORES = {
    "tokenizer": "the checkpoint's own tokenizer is always used (its ids are the policy's)",
    "reward": "scores are similarities and distances, whatever reward the policy trained on",
}


def refuse_ignored(parser: argparse.ArgumentParser, argv: list[str], ignored: dict[str, str]) -> None:
    """A clear error for an option the command would have no use for (rather than argparse's 'unrecognized')."""
    for name, why in ignored.items():
        flag = f"--{name.replace('_', '-')}"
        if any(arg == flag or arg.startswith(f"{flag}=") for arg in argv):
            parser.error(f"{flag}: {why}; drop it")


def generate_parser() -> argparse.ArgumentParser:
    parser = _parser(
        "Write text with a checkpoint's policy.", usage=f"{PROG} generate CHECKPOINT (--prompt TEXT | --input FILE) [options]"
    )
    parser.add_argument("checkpoint", help="a checkpoint.pt written by train or pretrain")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--prompt", action="append", help="a prompt (repeatable); the texts are printed one per line")
    source.add_argument(
        "--input", metavar="FILE", help="prompts: a .txt file (one per line) or .jsonl (a 'prompt' field per line)"
    )
    parser.add_argument(
        "--output", metavar="FILE", help="write jsonl lines of 'prompt' and 'text' here (default: print the texts)"
    )
    parser.add_argument("--batch-size", type=at_least(1), default=256, help="prompts decoded together (default: 256)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default: auto)")
    add_threads_option(parser)
    add_config_options(parser, DecodingConfig)
    return parser


def bench_parser() -> argparse.ArgumentParser:
    from agents.bench import BUILTIN_AGENTS, PRESETS

    parser = _parser(
        "Train agents x tasks x seeds at a fixed env-step budget and score them on held-out prompts; writes a markdown"
        " table, JSON and learning-curve plots. (The env speed benchmark is benchmarks/env_speed.py.)",
        usage=f"{PROG} bench [--preset NAME] [options]",
    )
    parser.add_argument("--preset", choices=sorted(PRESETS), default="quick", help="a preset grid (default: quick)")
    parser.add_argument("--quick", dest="preset", action="store_const", const="quick", help="same as --preset quick")
    parser.add_argument("--full", dest="preset", action="store_const", const="full", help="same as --preset full")
    parser.add_argument(
        "--name", default=None, help="results go to agents_<name>.* (default: the preset, +'-custom' if changed)"
    )
    parser.add_argument(
        "--agents", nargs="+", metavar="AGENT", help=f"agents: {', '.join(BUILTIN_AGENTS)}, or module:Class of your own"
    )
    parser.add_argument("--tasks", nargs="+", metavar="TASK", help="built-in tasks, or dataset files (default: the preset's)")
    parser.add_argument("--seeds", nargs="+", type=at_least(0), help="seeds (default: the preset's)")
    parser.add_argument("--steps", type=at_least(1), help="env-step budget per run (default: the preset's)")
    parser.add_argument("--eval-points", type=at_least(1), help="held-out evaluations along each run (default: the preset's)")
    parser.add_argument("--out", default="benchmarks/results", help="folder for the results (default: benchmarks/results)")
    parser.add_argument(
        "--jobs", type=at_least(1), default=1, help="cells run at once, in processes of one torch thread each (default: 1)"
    )
    add_config_options(parser, EnvConfig, skip=("task", "dataset"))
    return parser


# -- the commands ------------------------------------------------------------------------


def command_train(argv: list[str], agent: str | None) -> None:
    """`train` (agent None: read --agent first) and `pretrain`."""
    if agent is None:
        parser = train_parser(_agent_only(argv))
        args = parser.parse_args(argv)
        cls = CONFIGS[args.agent]
    else:
        parser = pretrain_parser()
        args = parser.parse_args(argv)
        cls = CONFIGS["pretrain"]
    if agent is None and args.backend == "rllib":
        command_train_rllib(parser, args, cls)
        return
    if agent is None and given(args, RLlibConfig):
        parser.error(f"{', '.join(f for _, f in given_flags(args, RLlibConfig))}: RLlib options need --backend rllib")
    from agents.runs.distributed import join_launched_group, leave_group

    join_launched_group(getattr(args, "device", "auto"))  # under torchrun: one process of several
    try:
        train_here(args, agent, cls, parser, argv)
    except BaseException:
        leave_group(wait=False)  # the other ranks may never reach a barrier
        raise
    leave_group()


def train_here(args: argparse.Namespace, agent: str | None, cls, parser: argparse.ArgumentParser, argv: list[str]) -> None:
    """Build (or resume) the run and train it; under torchrun every rank runs this, rank 0 prints."""
    from agents.registry import resume
    from agents.runs.distributed import Ranks

    ranks = Ranks()
    if args.resume:
        if agent is None and any(arg == "--agent" or arg.startswith("--agent=") for arg in argv):
            from agents.runs.checkpoint import Checkpoint

            recorded = Checkpoint.load(args.resume).algorithm
            if recorded != args.agent:
                parser.error(f"--agent {args.agent}: {args.resume} is a {recorded!r} run; --resume continues it as one")
        others = [flag for dest, flag in given_flags(args, cls) if dest not in RESUMABLE_OPTIONS]
        if others:
            parser.error(
                f"{', '.join(others)}: a resumed run keeps its config; only --steps, --device and --overwrite go with --resume"
            )
        overrides = {k: getattr(args, k) for k in RESUMABLE_OPTIONS if hasattr(args, k)}
        algorithm = resume(args.resume, **overrides)
    else:
        values = given(args, cls)
        config = build_config(cls, values)
        name = args.agent if agent is None else agent
        algorithm = ALGORITHMS[name](config)
        if config.run_dir is None:  # claimed once the run is built: one that fails to build leaves no folder behind
            default = claim_free(f"runs/{name}-{config.env.data_name}-{config.seed}") if ranks.is_main else None
            config.run_dir = ranks.broadcast_object(default)
    try:
        algorithm.learn(progress=True)
    except KeyboardInterrupt:
        sys.exit(130)
    if not ranks.is_main:
        return
    last = algorithm.history[-1] if algorithm.history else {"iteration": 0, "env_steps": 0}
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in last.items()}))
    print(f"checkpoint: {algorithm.checkpoint_path}")


def command_train_rllib(parser: argparse.ArgumentParser, args: argparse.Namespace, cls) -> None:
    """`train --backend rllib`: RLlib's PPO with our policy; the checkpoint is ours, for evaluate and generate."""
    from agents.integrations import rllib, rllib_run

    if args.agent != "ppo":
        parser.error(f"--backend rllib runs PPO; --agent {args.agent} runs on our own loop only")
    if args.resume:
        parser.error("--backend rllib does not resume; start again with --init from the exported checkpoint")
    config = build_config(cls, given(args, cls))
    if config.run_dir is None:
        config.run_dir = claim_free(f"runs/rllib-ppo-{config.env.data_name}-{config.seed}")
    try:
        rllib.require_rllib()
    except ImportError as e:
        raise ValueError(str(e)) from None
    last = rllib_run.train(config, RLlibConfig(**given(args, RLlibConfig)))
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in last.items()}))
    print(f"checkpoint: {Path(config.run_dir) / CHECKPOINT_NAME}")


def _agent_only(argv: list[str]) -> str:
    """The --agent of a train command line (default ppo), read before its options are known."""
    probe = argparse.ArgumentParser(prog=f"{PROG} train", add_help=False, allow_abbrev=False)
    probe.add_argument("--agent", choices=list(RL_ALGORITHMS), default="ppo")
    return probe.parse_known_args(argv)[0].agent


def command_fit(argv: list[str]) -> None:
    from agents.fit import fit, resume_fit
    from agents.fit.config import FitConfig

    parser = fit_parser()
    args = parser.parse_args(argv)
    chosen = given_flags(args, FitConfig)
    try:
        if args.resume:
            if chosen:
                parser.error(f"{', '.join(f for _, f in chosen)}: a resumed fit keeps its config; give only --resume DIR")
            resume_fit(args.resume)
            return
        values = given(args, FitConfig)
        if not {"task", "dataset"} & set(values.get("env", {})):
            parser.error("give the data to fit: --dataset FILE (pairs of your own) or --task NAME (a built-in task)")
        fit(build_config(FitConfig, values))
    except KeyboardInterrupt:
        sys.exit(130)


def command_evaluate(argv: list[str]) -> None:
    from agents.inference import load
    from agents.model.evaluation import evaluate_policy
    from agents.runs.heldout import evaluation_task

    parser = evaluate_parser()
    refuse_ignored(parser, argv, EVALUATE_IGNORES)
    args = parser.parse_args(argv)
    decoding = DecodingConfig(**given(args, DecodingConfig))
    loaded = load(args.checkpoint, args.device)
    task = evaluation_task(loaded, given(args, EnvConfig), args.split)
    result = evaluate_policy(loaded.policy, task, decoding, episodes=args.episodes)
    result.pop("texts"), result.pop("similarities")
    print(json.dumps({"split": args.split, **result}))


def command_generate(argv: list[str]) -> None:
    """Texts for prompts. With --output, the file is checked before any work (never the checkpoint or the input)
    and written whole at the end: a failed generate leaves whatever it held before as it was."""
    from agents.inference import load
    from agents.model.decoding import decode_batches, encode_prompts

    args = generate_parser().parse_args(argv)
    decoding = DecodingConfig(**given(args, DecodingConfig))
    if args.output:
        check_output(args.output, {"checkpoint": args.checkpoint, "--input": args.input})
    loaded = load(args.checkpoint, args.device)
    prompts = args.prompt if args.prompt else read_prompts(args.input)
    ids = encode_prompts(loaded.tokenizer, loaded.rules, prompts)
    batches = decode_batches(loaded.policy, loaded.rules, ids, decoding, batch_size=args.batch_size)
    if args.output is None:
        for batch, _ in batches:
            print("\n".join(loaded.tokenizer.decode(row) for row in batch), flush=True)
        return
    done = 0
    try:
        with replaced_atomically(args.output, "w", encoding="utf-8") as out:
            for batch, _ in batches:
                texts = [loaded.tokenizer.decode(row) for row in batch]
                out.writelines(
                    json.dumps({"prompt": p, "text": t}, ensure_ascii=False) + "\n" for p, t in zip(prompts[done:], texts)
                )
                done += len(texts)
    except OSError as e:
        kept = "was left as it was" if Path(args.output).exists() else "was not written"
        raise ValueError(f"--output {args.output}: writing failed after {done} texts ({e.strerror or e}); it {kept}") from None
    print(f"wrote {done} texts to {args.output}")


def command_bench(argv: list[str]) -> None:
    from agents.bench import BUILTIN_AGENTS, EXTRAS, PRESETS, agent_available, run_benchmark

    args = bench_parser().parse_args(argv)
    spec = PRESETS[args.preset]
    changes = {
        "agents": args.agents,
        "tasks": args.tasks,
        "seeds": args.seeds,
        "budget": args.steps,
        "eval_points": args.eval_points,
    }
    changes = {k: v for k, v in changes.items() if v is not None}
    env = given(args, EnvConfig)
    if env:
        changes["env"] = {**spec.env, **env}
    if changes:
        spec = dataclasses.replace(spec, name=f"{spec.name}-custom", **changes)
    if args.name:
        spec = dataclasses.replace(spec, name=args.name)
    for name in spec.agents:  # fail before hours of training, naming the missing extra
        if name in BUILTIN_AGENTS and not agent_available(name) and args.agents:
            raise ValueError(f"agent {name!r} needs the '{EXTRAS[name]}' extra: pip install 'textgen-env[{EXTRAS[name]}]'")
    if args.jobs < 1:
        raise ValueError(f"--jobs must be at least 1, got {args.jobs}")
    run_benchmark(spec, Path(args.out), f"{PROG} bench " + " ".join(argv), jobs=args.jobs)


def evaluate_completions_parser() -> argparse.ArgumentParser:
    from textgen_env.rewards import METRICS

    parser = _parser(
        "Score any model's completions (an LLM's, say) with our metrics and difflib's ratio: prints one JSON object"
        " with mean_similarity, exact_rate, mean_distance, the metric's mean similarity and mean_difflib_ratio.",
        usage=f"{PROG} evaluate-completions FILE.jsonl [--task TASK | --dataset FILE] [options]",
    )
    parser.add_argument(
        "file", help="one JSON object per line: a 'completion' (text or messages) and a 'target' or a 'prompt'"
    )
    parser.add_argument("--split", choices=["train", "test", "all"], default="test", help="where prompts are looked up")
    parser.add_argument("--metric", choices=sorted(METRICS), default="levenshtein", help="distance metric")
    add_config_options(parser, EnvConfig, skip=("tokenizer", "reward", "metric", "max_prompt_tokens", "max_new_tokens"))
    return parser


def command_evaluate_completions(argv: list[str]) -> None:
    from textgen_env.completions import evaluate_completions

    args = evaluate_completions_parser().parse_args(argv)
    env = given(args, EnvConfig)
    data = {"dataset": env["dataset"]} if env.get("dataset") else {"task": env.get("task")} if env.get("task") else {}
    result = evaluate_completions(
        args.file, split=args.split, task_options=env.get("task_options") or None, metric=args.metric, **data
    )
    print(json.dumps({"split": args.split, **result}))


COMMANDS = {
    "train": ("train an agent with RL", lambda argv: command_train(argv, None)),
    "pretrain": ("supervised pre-training", lambda argv: command_train(argv, "pretrain")),
    "fit": ("the whole recipe on your data: baselines, pre-training, PPO, report", command_fit),
    "evaluate": ("score a checkpoint", command_evaluate),
    "generate": ("write text with a checkpoint", command_generate),
    "bench": ("compare agents on tasks", command_bench),
    "evaluate-completions": ("score any model's completions on a task", command_evaluate_completions),
}


def main(argv=None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        lines = [f"usage: {PROG} COMMAND [options]   ({PROG} COMMAND --help for a command's options)", "", "commands:"]
        lines += [f"  {name:20} {help_text}" for name, (help_text, _) in COMMANDS.items()]
        if argv and argv[0] not in ("-h", "--help"):
            print("\n".join(lines), file=sys.stderr)
            raise SystemExit(f"{PROG}: error: unknown command {argv[0]!r}; choose from {list(COMMANDS)}")
        print("\n".join(lines))
        raise SystemExit(0 if argv else 2)
    command, rest = argv[0], argv[1:]
    from agents.runs.threads import TRAINING_THREADS, configure_threads

    training = command in ("train", "pretrain", "fit")
    configure_threads(threads_option(rest), default=TRAINING_THREADS if training else None)  # before torch loads
    try:
        COMMANDS[command][1](rest)
    except (CheckpointError, RunDirError, TrainingDiverged, ValueError) as e:
        raise SystemExit(f"{PROG} {command}: {e}") from None


if __name__ == "__main__":
    main()

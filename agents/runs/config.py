"""The configuration dataclasses every command is built from.

Each field carries its help text (and, where it has them, its allowed values and
command-line names) in its metadata, so that :mod:`agents.cli` builds every
option from here: one place holds each option's name, type, default and help.

- :class:`EnvConfig`: everything ``gym.make("TextGeneration-v0", ...)`` takes (the env's own
  :class:`~textgen_env.task.TaskConfig`, whose fields carry their help).
- :class:`RunConfig`: a run's plumbing: its env (an :class:`EnvConfig`), seed, device, policy,
  optimizer, run folder.
- :class:`TrainConfig`: what the on-policy algorithms share (their own configs extend it).

The policy's own config (:class:`agents.model.config.PolicyConfig`) and decoding's
(:class:`agents.model.config.DecodingConfig`) live with the model they configure.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace

from agents.model.config import PolicyConfig
from agents.options import check_fields, option
from textgen_env.builtin_tasks import DEFAULT_TASK
from textgen_env.files import content_digest
from textgen_env.task import TaskConfig

SOURCE_OPTION = "source"  # the task option that names a file of text (spelling's and reverse_text's)


@dataclass
class EnvConfig(TaskConfig):
    """The env's arguments (:class:`~textgen_env.task.TaskConfig`'s fields and defaults) as the agents use them:
    numbers checked as the command line checks them, one default task, data files by absolute path."""

    def __post_init__(self):
        check_fields(self)
        if self.task is not None and self.dataset is not None:
            raise ValueError(f"give either task or dataset, not both (task={self.task!r}, dataset={self.dataset!r})")
        if self.task is None and self.dataset is None:
            self.task = DEFAULT_TASK
        # Data files by absolute path: a run resumed, or a checkpoint read, from another folder finds the same file.
        if isinstance(self.dataset, str):
            self.dataset = os.path.abspath(self.dataset)
        if isinstance(self.task_options, dict) and isinstance(self.task_options.get(SOURCE_OPTION), str):
            self.task_options = {**self.task_options, SOURCE_OPTION: os.path.abspath(self.task_options[SOURCE_OPTION])}

    def data_files(self) -> dict[str, str]:
        """The files the data is read from (a dataset file, a task's source of text), each with its content digest."""
        files = [self.dataset, (self.task_options or {}).get(SOURCE_OPTION)]
        return {path: content_digest(path) for path in files if isinstance(path, str) and os.path.exists(path)}

    def task_config(self, split: str = "train", tokenizer=None) -> TaskConfig:
        """The envs' configuration for `split`; `tokenizer` (an object, e.g. a checkpoint's) replaces the configured one."""
        tokenizer = self.tokenizer if tokenizer is None else tokenizer
        config = TaskConfig(**self.arguments())
        return replace(config, split=split, task_options=self.task_options or None, tokenizer=tokenizer)

    @classmethod
    def from_dict(cls, data) -> EnvConfig:
        """Rebuild from ``asdict``'s dict; unknown fields are a ValueError naming them."""
        return _from_dict(cls, data)

    @property
    def data_name(self) -> str:
        """The task's name, or the dataset file's, for run folders and messages."""
        return self.task if self.dataset is None else os.path.splitext(os.path.basename(self.dataset))[0]


def _from_dict(cls, data):
    if not isinstance(data, dict):
        raise ValueError(f"{cls.__name__} must be a JSON object, got {type(data).__name__}")
    unknown = set(data) - {f.name for f in fields(cls)}
    if unknown:
        raise ValueError(f"config has unknown fields {sorted(unknown)} for {cls.__name__}")
    return cls(**data)


@dataclass
class RunConfig:
    """A run's plumbing, shared by RL and pre-training: the env it trains on, and how."""

    env: EnvConfig = field(default_factory=EnvConfig)
    seed: int = option(0, "seed of everything random")
    device: str = option("auto", "where the policy trains: auto (cuda when torch sees one), cpu, cuda, cuda:N or mps")
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    learning_rate: float = option(1e-3, "Adam learning rate", flags=("--lr", "--learning-rate"), above=0)
    max_grad_norm: float = option(1.0, "global gradient-norm clip", above=0)
    init_checkpoint: str | None = option(None, "start from these weights, e.g. a pre-trained policy", flags=("--init",))
    run_dir: str | None = option(
        None, "folder for progress.csv and checkpoint.pt (default: runs/<agent>-<task>-<seed>, numbered _2, _3, ... if taken)"
    )
    checkpoint_every: int = option(50, "iterations between checkpoints (0: only at the end)")
    overwrite: bool = option(False, "replace the run that --run-dir holds (without it, a fresh run there is refused)")

    def __post_init__(self):
        check_fields(self)

    @classmethod
    def from_dict(cls, data: dict):
        """Rebuild from ``asdict``'s dict (the env and the policy nested); unknown fields are a ValueError naming them."""
        if not isinstance(data, dict):
            raise ValueError(f"config must be a JSON object, got {type(data).__name__}")
        data = dict(data)
        for name, kind in (("env", EnvConfig), ("policy", PolicyConfig)):
            nested = data.get(name, {})
            if not isinstance(nested, dict):
                raise ValueError(f"config field {name!r} must be an object, got {nested!r}")
            data[name] = _from_dict(kind, nested)
        return _from_dict(cls, data)


@dataclass
class TrainConfig(RunConfig):
    """What every on-policy algorithm shares. Defaults train well on the built-in tasks."""

    total_env_steps: int = option(200_000, "env-step budget", flags=("--steps", "--total-env-steps"), minimum=1)
    num_envs: int = option(64, "episodes per batch", minimum=1)
    gamma: float = option(1.0, "discount factor", minimum=0, maximum=1)
    eval_every: int = option(0, "iterations between held-out evaluations (0: never during training)")
    eval_episodes: int = option(200, "held-out pairs per evaluation", minimum=1)
    curriculum: bool = option(False, "start on the shortest targets and move to longer ones as they are learned")
    curriculum_threshold: float = option(
        0.9, "rolling mean similarity of the current band that moves the curriculum up", minimum=0, maximum=1
    )
    curriculum_window: int = option(1024, "episodes in the curriculum's rolling mean", minimum=1)


def build_config(cls, values: dict):
    """`cls` from field values (a nested EnvConfig and PolicyConfig from their dicts)."""
    values = dict(values)
    if cls is EnvConfig:
        if values.get("dataset") is not None and "task" not in values:
            values["task"] = None  # a dataset replaces the default task
        return EnvConfig(**values)
    if isinstance(values.get("policy"), dict):
        values["policy"] = PolicyConfig(**values["policy"])
    values["env"] = build_config(EnvConfig, values.get("env", {}))
    return cls(**values)

"""The configuration dataclasses every command is built from.

Each field carries its help text (and, where it has them, its allowed values and
command-line names) in its metadata, so that :mod:`agents.cli` builds every
option from here: one place holds each option's name, type, default and help.

- :class:`EnvConfig`: everything ``gym.make("TextGeneration-v0", ...)`` takes.
- :class:`RunConfig`: a run's plumbing: its env (an :class:`EnvConfig`), seed, device, policy,
  optimizer, run folder.
- :class:`TrainConfig`: what the on-policy algorithms share (their own configs extend it).

The policy's own config (:class:`agents.model.config.PolicyConfig`) and decoding's
(:class:`agents.model.config.DecodingConfig`) live with the model they configure.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields

from agents.model.config import PolicyConfig
from agents.options import check_fields, option
from textgen_env.files import content_digest
from textgen_env.rewards import METRICS, REWARD_MODES
from textgen_env.tasks import DEFAULT_TASK, TASKS

SOURCE_OPTION = "source"  # the task option that names a file of text (spelling's and reverse_text's)


@dataclass
class EnvConfig:
    """Everything ``gym.make("TextGeneration-v0", ...)`` takes, as the agents pass it on."""

    task: str | None = option(None, f"built-in task (default: {DEFAULT_TASK}, unless --dataset is given)", choices=list(TASKS))
    dataset: str | None = option(
        None,
        "a .txt, .jsonl, .csv, .tsv or .parquet file (or a save_to_disk folder) of (prompt, target) pairs, instead of a task",
    )
    task_options: dict = option(
        help="an option of the task, or prompt_fraction for a .txt dataset; repeatable (e.g. --task-option max_length=16)",
        default_factory=dict,
        flags=("--task-option",),
    )
    validation_fraction: float = option(
        0.0,
        "share of the training split's targets held out for validation (what `fit` chooses on); training uses the rest",
        minimum=0,
        maximum=0.99,
    )
    tokenizer: str | None = option(
        None, "char, word, or a tokenizer JSON file (saved vocabulary or Hugging Face tokenizer.json); default: the task's own"
    )
    reward: str = option("dense", "reward mode", choices=list(REWARD_MODES))
    metric: str = option("levenshtein", "distance metric", choices=sorted(METRICS))
    max_prompt_tokens: int | None = option(None, "prompt width (default: the longest prompt)", minimum=1)
    max_new_tokens: int | None = option(None, "token budget per episode (default: the longest target)", minimum=1)
    min_new_tokens: int = option(1, "tokens before EOS becomes valid")

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

    def env_kwargs(self, tokenizer=None) -> dict:
        """Keyword arguments for the envs; `tokenizer` (an object, e.g. a checkpoint's) replaces the configured one."""
        return dict(
            task=self.task,
            dataset=self.dataset,
            task_options=self.task_options or None,
            validation_fraction=self.validation_fraction,
            tokenizer=self.tokenizer if tokenizer is None else tokenizer,
            reward=self.reward,
            metric=self.metric,
            max_prompt_tokens=self.max_prompt_tokens,
            max_new_tokens=self.max_new_tokens,
            min_new_tokens=self.min_new_tokens,
        )

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

"""The env's arguments, the resolved task both envs share, and the episode rules, each written once.

The single env and the vector env take the same arguments, listed once with their
defaults as :class:`TaskConfig`; :class:`TextTask` turns them into validated,
pre-encoded arrays once, so that neither env tokenizes in ``step``. The rules of an
episode live here and in :mod:`textgen_env.rewards`, and every other place (both
envs, the numpy and numba batches, pre-training and decoding in ``agents``) reads
them from here:

- which actions are valid after ``n`` generated tokens: :class:`EpisodeRules`
  (``action_mask_table``; EOS only after ``min_new_tokens``, never PAD, BOS, UNK);
- how a uniform draw picks a pair: :meth:`TextTask.draw_indices`;
- the score scale of each pair: :attr:`TextTask.pair_scales` (from ``Metric.scale``);
- that a target token no action can produce never matches: :data:`UNMATCHABLE`.
"""

from __future__ import annotations

import inspect
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace

import numpy as np
from gymnasium import spaces

from textgen_env.builtin_tasks import DEFAULT_TASK, TASKS, make_task, task_spec
from textgen_env.datasets import TextDataset, load_pairs
from textgen_env.memory import check_allocation
from textgen_env.rewards import METRICS, REWARD_MODES, Metric, RewardMode, resolve_metric, reward_mode
from textgen_env.tokenizers import BOS_ID, EOS_ID, PAD_ID, UNK_ID, Tokenizer, build_tokenizer

RENDER_MODES = ("ansi", "human", "rgb_array")
TARGET_PAD = -1  # past the end of a target in a padded matrix
UNMATCHABLE = -2  # a target token no action can produce (unknown to the tokenizer, or special): never matched


class UnsupportedRenderMode(ValueError, TypeError):
    """A render_mode this env does not have (a TypeError too, as Gymnasium's wrappers expect)."""


def check_integer(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name}={value!r}: must be an integer >= {minimum}")
    return int(value)


def check_bool(name: str, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name}={value!r}: must be True or False")
    return bool(value)


def token_dtype(vocab_size: int) -> type[np.unsignedinteger] | type[np.int32]:
    """The smallest dtype for observations of token ids: uint8, uint16, else int32.

    Gymnasium's ``MultiDiscrete`` keeps its ``nvec`` (here ``vocab_size``) in the same
    dtype, so uint8 holds vocabularies of up to 255 tokens and uint16 up to 65,535.
    """
    for dtype in (np.uint8, np.uint16):
        if vocab_size <= np.iinfo(dtype).max:
            return dtype
    return np.int32


class EpisodeRules:
    """The shape of every episode of a task: its vocabulary, prompt width, and when which actions are valid.

    Ordinary tokens (ids >= 4) are always valid; PAD, BOS and UNK never are; EOS
    is valid once ``min_new_tokens`` tokens are out, and emitting it ends the
    episode, as does reaching ``max_new_tokens``. Row ``n`` of :attr:`action_mask_table`
    holds the valid actions after ``n`` generated tokens (``0 <= n <= max_new_tokens``).
    Prompts are ``max_prompt_tokens`` wide. A checkpoint stores these as :meth:`to_dict`,
    so that a trained policy meets the same rules wherever it is loaded.
    """

    FIELDS = ("vocab_size", "max_prompt_tokens", "min_new_tokens", "max_new_tokens")

    def __init__(self, vocab_size: int, min_new_tokens: int, max_new_tokens: int, max_prompt_tokens: int):
        self.vocab_size = check_integer("vocab_size", vocab_size, 5)
        self.max_prompt_tokens = check_integer("max_prompt_tokens", max_prompt_tokens, 1)
        self.max_new_tokens = check_integer("max_new_tokens", max_new_tokens, 1)
        self.min_new_tokens = check_integer("min_new_tokens", min_new_tokens, 0)
        if self.min_new_tokens > self.max_new_tokens:
            raise ValueError(f"min_new_tokens={min_new_tokens} exceeds max_new_tokens={max_new_tokens}")
        self.producible = np.ones(self.vocab_size, dtype=bool)  # the tokens an action writes
        self.producible[[PAD_ID, BOS_ID, EOS_ID, UNK_ID]] = False
        table = np.broadcast_to(self.producible, (self.max_new_tokens + 1, self.vocab_size)).copy()
        table[:, EOS_ID] = np.arange(self.max_new_tokens + 1) >= self.min_new_tokens
        table.flags.writeable = False
        self.action_mask_table = table

    def to_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.FIELDS}

    @classmethod
    def from_dict(cls, data) -> EpisodeRules:
        """Rebuild from :meth:`to_dict`; a missing, unknown or non-integer field is a ValueError naming it."""
        if not isinstance(data, dict):
            raise ValueError(f"episode rules must be a dict with {list(cls.FIELDS)}, got {data!r}")
        missing, unknown = sorted(set(cls.FIELDS) - set(data)), sorted(set(data) - set(cls.FIELDS))
        if missing or unknown:
            raise ValueError(f"episode rules {data!r}: missing {missing}, unknown {unknown}; expected {list(cls.FIELDS)}")
        return cls(**data)

    def __eq__(self, other) -> bool:
        return isinstance(other, EpisodeRules) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"EpisodeRules({', '.join(f'{k}={v}' for k, v in self.to_dict().items())})"

    def action_masks(self, generated_lengths) -> np.ndarray:
        """The valid actions of each episode, given how many tokens each has generated: (..., vocab_size)."""
        return self.action_mask_table[np.minimum(generated_lengths, self.max_new_tokens)]

    def matchable(self, target_ids: list[int]) -> list[int]:
        """`target_ids` with every token no action can produce replaced by :data:`UNMATCHABLE`."""
        producible = self.producible
        return [t if producible[t] else UNMATCHABLE for t in target_ids]


def _argument(default, help: str, **meta):
    """A :class:`TaskConfig` field with its help (and, for the agents' command line, its choices, flags and bounds:
    the keys :func:`agents.options.option` writes)."""
    return field(default=default, metadata={"help": help, **meta})


@dataclass
class TaskConfig:
    """The env's arguments, with their defaults: the one list that both envs, :class:`TextTask` and the agents'
    ``EnvConfig`` read (see :class:`~textgen_env.env.TextGenerationEnv` for what each means).

    Fields marked ``cli=False`` are chosen by the agents themselves (which split, no rendering), so their
    command line does not offer them.
    """

    task: str | None = _argument(
        None, f"built-in task (default: {DEFAULT_TASK}, unless --dataset is given)", choices=list(TASKS)
    )
    dataset: str | os.PathLike | list | TextDataset | None = _argument(
        None,
        "a .txt, .jsonl, .csv, .tsv or .parquet file (or a save_to_disk folder) of (prompt, target) pairs, instead of a task",
    )
    task_options: dict | None = _argument(
        None,
        "an option of the task, or prompt_fraction for a .txt dataset; repeatable (e.g. --task-option max_length=16)",
        flags=("--task-option",),
    )
    split: str = _argument("train", "which pairs: train, test, all, or validation", cli=False)
    validation_fraction: float = _argument(
        0.0,
        "share of the training split's targets held out for validation (what `fit` chooses on); training uses the rest",
        minimum=0,
        maximum=0.99,
    )
    tokenizer: str | Tokenizer | None = _argument(
        None, "char, word, or a tokenizer JSON file (saved vocabulary or Hugging Face tokenizer.json); default: the task's own"
    )
    reward: str = _argument("dense", "reward mode", choices=list(REWARD_MODES))
    metric: str | Callable = _argument("levenshtein", "distance metric", choices=sorted(METRICS))
    max_prompt_tokens: int | None = _argument(None, "prompt width (default: the longest prompt)", minimum=1)
    max_new_tokens: int | None = _argument(None, "token budget per episode (default: the longest target)", minimum=1)
    min_new_tokens: int = _argument(1, "tokens before EOS becomes valid")
    render_mode: str | None = _argument(None, "ansi, human or rgb_array", cli=False)
    flat_observation: bool = _argument(False, "one observation vector instead of the Dict", cli=False)

    @classmethod
    def from_arguments(cls, config: TaskConfig | None, arguments: dict) -> TaskConfig:
        """`config` (default: all defaults) with `arguments` (field names) replacing its fields; an unknown name is a
        TypeError naming it and the allowed ones, as a keyword argument the env does not take would be."""
        if config is not None and not isinstance(config, TaskConfig):
            raise TypeError(f"config={config!r}: must be a TaskConfig (or None, with the fields as keyword arguments)")
        names = [f.name for f in fields(cls)]
        unknown = [name for name in arguments if name not in names]
        if unknown:  # in Python's own words, which clients (TorchRL's GymEnv, say) read to drop an argument and retry
            raise TypeError(f"TextGeneration-v0 got an unexpected keyword argument {unknown[0]!r}; allowed: {names}")
        return replace(config if config is not None else cls(), **arguments)

    def arguments(self) -> dict:
        """The fields as keyword arguments (``gym.make("TextGeneration-v0", **config.arguments())``)."""
        return {f.name: getattr(self, f.name) for f in fields(TaskConfig)}


def accepts_task_arguments(init):
    """Show `init`'s ``**arguments`` as TaskConfig's fields, with their defaults, to ``help()`` and ``inspect``."""
    signature = inspect.signature(init)
    parameters = [p for p in signature.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    parameters += [
        inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default, annotation=f.type)
        for f in fields(TaskConfig)
    ]
    init.__signature__ = signature.replace(parameters=parameters)
    return init


class TextTask:
    """Everything about an env that does not change between episodes.

    Takes a :class:`TaskConfig`, or its fields as keyword arguments (see :class:`~textgen_env.env.TextGenerationEnv`).
    Public attributes the agents use: ``dataset`` (this split), ``tokenizer``,
    ``vocab_size``, ``rules`` (:class:`EpisodeRules`), ``metric``, ``reward``,
    ``max_prompt_tokens``, ``max_new_tokens``, ``min_new_tokens``, ``prompt_ids`` and
    ``target_ids`` (per pair; unmatchable target tokens as :data:`UNMATCHABLE`),
    ``target_texts``, ``target_lengths``, ``prompt_matrix``, ``unknown_prompt_tokens``
    and ``unmatchable_target_tokens``.
    """

    @classmethod
    def of(cls, config: TaskConfig | TextTask | None, arguments: dict) -> TextTask:
        """The task an env runs: `config` itself where it is a TextTask already built (shared, not copied: the
        agents build the task once for their policy and their envs), else one built from `config` and `arguments`."""
        if isinstance(config, TextTask):
            if arguments:
                raise TypeError(f"arguments {sorted(arguments)} given with a built TextTask; give them to its TaskConfig")
            return config
        return cls(config, **arguments)

    def __init__(self, config: TaskConfig | None = None, **arguments):
        self.config = config = TaskConfig.from_arguments(config, arguments)
        if config.render_mode is not None and config.render_mode not in RENDER_MODES:
            raise UnsupportedRenderMode(f"render_mode={config.render_mode!r}: allowed values are {list(RENDER_MODES)} or None")
        self.render_mode = config.render_mode
        self.flat_observation = check_bool("flat_observation", config.flat_observation)
        self.reward: RewardMode = reward_mode(config.reward)
        self.metric: Metric = resolve_metric(config.metric)
        full = resolve_dataset(config.task, config.dataset, config.task_options)
        chosen = full.split_indices(config.split, validation_fraction=config.validation_fraction)
        self.dataset: TextDataset = full.split(config.split, validation_fraction=config.validation_fraction)
        self.split = config.split

        # The vocabulary and the limits come from the whole dataset, so that the
        # train and test envs of one task share their spaces and one policy fits both.
        tokenizer = config.tokenizer
        if tokenizer is None:
            tokenizer = task_spec(config.task or DEFAULT_TASK).tokenizer if config.dataset is None else "char"
        self.tokenizer: Tokenizer = build_tokenizer(tokenizer, full.prompts + full.targets)
        self.vocab_size = int(self.tokenizer.vocab_size)
        all_prompts = [self.encode(p, f"{full.name} prompt {i}") for i, p in enumerate(full.prompts)]
        all_targets = [self.encode(t, f"{full.name} target {i}") for i, t in enumerate(full.targets)]
        self.max_prompt_tokens = (
            max(1, max(map(len, all_prompts)))
            if config.max_prompt_tokens is None
            else check_integer("max_prompt_tokens", config.max_prompt_tokens, 1)
        )
        budget = max(1, max(map(len, all_targets))) if config.max_new_tokens is None else config.max_new_tokens
        budget = check_integer("max_new_tokens", budget, 1)
        widths = len(chosen) * (self.max_prompt_tokens + 4 * budget) + (budget + 1) * self.vocab_size
        check_allocation(
            widths,
            "the encoded pairs and the action masks",
            f"max_new_tokens={budget}, max_prompt_tokens={self.max_prompt_tokens} ({len(chosen)} pairs)",
        )
        self.rules = EpisodeRules(self.vocab_size, config.min_new_tokens, budget, self.max_prompt_tokens)
        self.token_dtype = token_dtype(self.vocab_size)
        self.max_new_tokens, self.min_new_tokens = self.rules.max_new_tokens, self.rules.min_new_tokens

        prompt_ids, raw_targets = [all_prompts[i] for i in chosen], [all_targets[i] for i in chosen]
        for i, (prompt, target) in enumerate(zip(prompt_ids, raw_targets)):
            self.check_lengths(prompt, target, f"{self.dataset.name} pair {i}")
        self.prompt_ids = prompt_ids
        self.target_ids = [self.rules.matchable(t) for t in raw_targets]
        self.target_texts = [self.tokenizer.decode(t) for t in raw_targets]
        self.unknown_prompt_tokens = sum(p.count(UNK_ID) for p in prompt_ids)
        self.unmatchable_target_tokens = sum(t.count(UNMATCHABLE) for t in self.target_ids)
        if self.unmatchable_target_tokens:
            warnings.warn(
                f"{self.dataset.name}: {self.unmatchable_target_tokens} target tokens cannot be produced by any action"
                " (unknown to the tokenizer, or special tokens); they always count as errors",
                stacklevel=3,
            )
        self.target_lengths = np.array([len(t) for t in self.target_ids], dtype=np.int64)
        self.prompt_matrix = self.pad_prompts(self.prompt_ids)
        self.target_matrix = np.full((len(self.target_ids), self.max_new_tokens), TARGET_PAD, dtype=np.int32)
        for i, target in enumerate(self.target_ids):
            self.target_matrix[i, : len(target)] = target
        self.pair_scales = np.array([self.metric.scale(n) for n in self.target_lengths.tolist()], dtype=np.float64)

        self.action_space = spaces.Discrete(self.vocab_size)
        self.observation_space = self.make_observation_space()

    # -- encoding -----------------------------------------------------------------------

    def encode(self, text: str, where: str) -> list[int]:
        """The tokenizer's ids for `text`, each checked to lie in the vocabulary (once, here)."""
        ids = self.tokenizer.encode(text)
        if not isinstance(ids, list):
            ids = list(ids)
        for token in ids:
            if (
                isinstance(token, (bool, np.bool_))
                or not isinstance(token, (int, np.integer))
                or not 0 <= token < self.vocab_size
            ):
                raise ValueError(
                    f"{where}: the tokenizer encoded {text!r} to id {token!r}, outside its vocabulary [0, {self.vocab_size})"
                )
        return [int(t) for t in ids]

    def check_lengths(self, prompt: list[int], target: list[int], where: str) -> None:
        if len(prompt) > self.max_prompt_tokens:
            raise ValueError(f"{where}: prompt has {len(prompt)} tokens, more than max_prompt_tokens={self.max_prompt_tokens}")
        if len(target) > self.max_new_tokens:
            raise ValueError(f"{where}: target has {len(target)} tokens, more than max_new_tokens={self.max_new_tokens}")

    def encode_pair(self, prompt, target) -> tuple[list[int], list[int]]:
        """A (prompt, target) given through reset options, encoded, checked, its target made matchable."""
        if not isinstance(prompt, str) or not isinstance(target, str):
            raise ValueError(f"options 'prompt' and 'target' must both be strings, got {prompt!r} and {target!r}")
        prompt_ids, target_ids = self.encode(prompt, "options['prompt']"), self.encode(target, "options['target']")
        self.check_lengths(prompt_ids, target_ids, "reset options")
        matchable = self.rules.matchable(target_ids)
        unknown = matchable.count(UNMATCHABLE)
        if unknown:
            warnings.warn(
                f"options['target']={target!r}: {unknown} of its tokens cannot be produced by any action;"
                " they always count as errors",
                stacklevel=4,
            )
        return prompt_ids, matchable

    def pad_prompts(self, prompts: list[list[int]]) -> np.ndarray:
        matrix = np.full((len(prompts), self.max_prompt_tokens), PAD_ID, dtype=self.token_dtype)
        for i, prompt in enumerate(prompts):
            matrix[i, : len(prompt)] = prompt
        return matrix

    def make_observation_space(self) -> spaces.Space:
        def ids(length: int) -> spaces.MultiDiscrete:
            space = spaces.MultiDiscrete(np.full(length, self.vocab_size, dtype=self.token_dtype), dtype=self.token_dtype)
            # Observations are the small dtype; the counts stay int64, since clients add them up
            # (SB3 sizes its one-hot input as sum(nvec), which would wrap around in uint8).
            space.nvec = space.nvec.astype(np.int64)
            return space

        if self.flat_observation:
            return ids(self.max_prompt_tokens + self.max_new_tokens)
        return spaces.Dict({"prompt": ids(self.max_prompt_tokens), "generated": ids(self.max_new_tokens)})

    # -- choosing pairs ---------------------------------------------------------------------

    def check_index(self, index) -> int:
        if (
            isinstance(index, (bool, np.bool_))
            or not isinstance(index, (int, np.integer))
            or not 0 <= index < len(self.dataset)
        ):
            raise ValueError(f"options['index']={index!r}: must be an integer in [0, {len(self.dataset)})")
        return int(index)

    def draw_indices(self, uniforms):
        """The pair indices of uniform draws in [0, 1): both envs pick pairs this way."""
        size = len(self.dataset)
        return np.minimum((np.asarray(uniforms) * size).astype(np.int64), size - 1)


def resolve_dataset(task: str | None, dataset, task_options: dict | None) -> TextDataset:
    """The env's `task` / `dataset` / `task_options` arguments as a full (unsplit) dataset."""
    if task_options is not None and not isinstance(task_options, dict):
        raise ValueError(f"task_options={task_options!r}: must be a dict of option names to values")
    if dataset is None:
        return make_task(task if task is not None else DEFAULT_TASK, **(task_options or {}))
    if task is not None:
        raise ValueError(f"give either task= or dataset=, not both (task={task!r})")
    options = dict(task_options or {})
    unknown = sorted(set(options) - {"prompt_fraction"})
    if unknown:
        raise ValueError(f"task_options {unknown} do not apply to a dataset; a .txt file takes 'prompt_fraction'")
    if isinstance(dataset, TextDataset):
        return dataset
    if isinstance(dataset, (str, os.PathLike)):
        return load_pairs(dataset, **options)
    if isinstance(dataset, (list, tuple)):
        return TextDataset(dataset, name="pairs")
    raise TypeError(f"dataset={dataset!r}: allowed are a list of (prompt, target) pairs, a file path, or a TextDataset")

"""Which pairs a run and a checkpoint are evaluated on: the one home of that decision.

A run is scored on its task's test split (:func:`heldout_task`), and a run on a dataset file keeps that split in
its checkpoint (:func:`heldout_pairs`), so that ``evaluate`` scores the checkpoint on the same pairs without the
file (:func:`evaluation_task`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from agents.runs.config import EnvConfig, build_config
from textgen_env.task import TextTask


def heldout_task(env: EnvConfig, tokenizer) -> TextTask:
    """A run's held-out split: its task's test split, with the tokenizer it trains with."""
    return TextTask(env.task_config("test", tokenizer))


def heldout_pairs(env: EnvConfig, heldout: Callable[[], TextTask]) -> list | None:
    """What a checkpoint keeps of the held-out split (`heldout` builds it): the pairs of a dataset file (built-in
    tasks rebuild theirs from their options)."""
    if env.dataset is None:
        return None
    return [[p.prompt, p.target] for p in heldout().dataset.pairs]


def evaluation_task(loaded, overrides: dict, split: str) -> TextTask:
    """The pairs `evaluate` scores: the checkpoint's own data by default (its stored held-out pairs
    for a dataset file), or the data and env options given, always with the checkpoint's tokenizer."""
    env = dataclasses.asdict(loaded.env_config)
    if "dataset" in overrides or "task" in overrides:
        env.update(task=None, dataset=None, task_options={}, max_prompt_tokens=None, max_new_tokens=None)
    else:  # the data it trained on: with the limits it trained with
        env.update(max_prompt_tokens=loaded.rules.max_prompt_tokens, max_new_tokens=loaded.rules.max_new_tokens)
    env.update(overrides)
    config = build_config(EnvConfig, env)
    task_config = config.task_config(split, loaded.tokenizer)
    if (
        config.dataset == loaded.env_config.dataset
        and config.dataset is not None
        and split == "test"
        and loaded.heldout is not None
    ):
        return TextTask(task_config, split="all", dataset=[tuple(p) for p in loaded.heldout], task_options=None)
    return TextTask(task_config)

"""Which pairs `evaluate` scores a checkpoint on: the one home of that decision."""

from __future__ import annotations

import dataclasses

from agents.runs.config import EnvConfig, build_config
from textgen_env.task import TextTask


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
    kwargs = config.env_kwargs(loaded.tokenizer)
    if (
        config.dataset == loaded.env_config.dataset
        and config.dataset is not None
        and split == "test"
        and loaded.heldout is not None
    ):
        kwargs.update(dataset=[tuple(p) for p in loaded.heldout], task_options=None)
        return TextTask(split="all", **kwargs)
    return TextTask(split=split, **kwargs)

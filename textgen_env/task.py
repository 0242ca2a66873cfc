"""The resolved task both envs share: data split, tokenizer, token limits, spaces.

The single env and the vector env take the same arguments; this module turns them
into validated, pre-encoded arrays once, so that neither env tokenizes in `step`.
"""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

from textgen_env.datasets import TextDataset, resolve_dataset
from textgen_env.distance import TARGET_PAD
from textgen_env.rewards import Metric, check_reward_mode, resolve_metric
from textgen_env.tokenizers import BOS_ID, EOS_ID, PAD_ID, UNK_ID, Tokenizer, build_tokenizer

RENDER_MODES = ("ansi", "human")


class UnsupportedRenderMode(ValueError, TypeError):
    """A render_mode this env does not have.

    Also a TypeError because Stable-Baselines3's ``make_vec_env`` asks every env for
    ``render_mode="rgb_array"`` and retries without one only on TypeError.
    """


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name}={value!r}: must be an integer >= {minimum}")
    return int(value)


class TextTask:
    """Everything about an env that does not change between episodes."""

    def __init__(
        self,
        task: str | None = None,
        dataset=None,
        split: str = "train",
        tokenizer="char",
        reward: str = "dense",
        metric="levenshtein",
        max_prompt_tokens: int | None = None,
        max_new_tokens: int | None = None,
        min_new_tokens: int = 1,
        render_mode: str | None = None,
        flat_observation: bool = False,
        task_options: dict | None = None,
    ):
        full = resolve_dataset(task, dataset, task_options)
        self.dataset: TextDataset = full.split(split)
        self.split = split
        self.reward_mode = check_reward_mode(reward)
        self.metric: Metric = resolve_metric(metric)
        if render_mode is not None and render_mode not in RENDER_MODES:
            raise UnsupportedRenderMode(f"render_mode={render_mode!r}: allowed values are {list(RENDER_MODES)} or None")
        self.render_mode = render_mode
        self.flat_observation = bool(flat_observation)

        # The vocabulary and the limits come from the whole dataset, so that the
        # train and test envs of one task share their spaces and one policy fits both.
        self.tokenizer: Tokenizer = build_tokenizer(tokenizer, full.prompts + full.targets)
        self.vocab_size = int(self.tokenizer.vocab_size)
        encode = self.tokenizer.encode
        all_prompts = [encode(p) for p in full.prompts]
        all_targets = [encode(t) for t in full.targets]
        if max_prompt_tokens is None:
            max_prompt_tokens = max(1, max(len(p) for p in all_prompts))
        if max_new_tokens is None:
            max_new_tokens = max(1, max(len(t) for t in all_targets))
        self.max_prompt_tokens = _check_int("max_prompt_tokens", max_prompt_tokens, 1)
        self.max_new_tokens = _check_int("max_new_tokens", max_new_tokens, 1)
        self.min_new_tokens = _check_int("min_new_tokens", min_new_tokens, 0)
        if self.min_new_tokens > self.max_new_tokens:
            raise ValueError(f"min_new_tokens={min_new_tokens} exceeds max_new_tokens={max_new_tokens}")

        self.prompt_ids = [encode(p) for p in self.dataset.prompts]
        self.target_ids = [encode(t) for t in self.dataset.targets]
        for i, (prompt, target) in enumerate(zip(self.prompt_ids, self.target_ids)):
            self.check_lengths(prompt, target, f"{self.dataset.name} pair {i}")
        self.target_texts = [self.tokenizer.decode(t) for t in self.target_ids]
        self.target_lengths = np.array([len(t) for t in self.target_ids], dtype=np.int64)
        self.prompt_matrix = self.pad_prompts(self.prompt_ids)
        self.target_matrix = np.full((len(self.target_ids), self.max_new_tokens), TARGET_PAD, dtype=np.int32)
        for i, target in enumerate(self.target_ids):
            self.target_matrix[i, : len(target)] = target

        self.action_space = spaces.Discrete(self.vocab_size)
        self.observation_space = self.make_observation_space()
        # Valid actions: every ordinary token, and EOS once min_new_tokens are out.
        self.valid_actions = np.ones(self.vocab_size, dtype=bool)
        self.valid_actions[[PAD_ID, BOS_ID, UNK_ID, EOS_ID]] = False

    def check_lengths(self, prompt: list[int], target: list[int], where: str) -> None:
        if len(prompt) > self.max_prompt_tokens:
            raise ValueError(f"{where}: prompt has {len(prompt)} tokens, more than max_prompt_tokens={self.max_prompt_tokens}")
        if len(target) > self.max_new_tokens:
            raise ValueError(f"{where}: target has {len(target)} tokens, more than max_new_tokens={self.max_new_tokens}")

    def pad_prompts(self, prompts: list[list[int]]) -> np.ndarray:
        matrix = np.full((len(prompts), self.max_prompt_tokens), PAD_ID, dtype=np.int64)
        for i, prompt in enumerate(prompts):
            matrix[i, : len(prompt)] = prompt
        return matrix

    def make_observation_space(self) -> spaces.Space:
        if self.flat_observation:
            return spaces.MultiDiscrete(np.full(self.max_prompt_tokens + self.max_new_tokens, self.vocab_size, dtype=np.int64))
        return spaces.Dict(
            {
                "prompt": spaces.MultiDiscrete(np.full(self.max_prompt_tokens, self.vocab_size, dtype=np.int64)),
                "generated": spaces.MultiDiscrete(np.full(self.max_new_tokens, self.vocab_size, dtype=np.int64)),
            }
        )

    def encode_pair(self, prompt, target) -> tuple[list[int], list[int]]:
        """Encode a (prompt, target) given through reset options, checking it fits the spaces."""
        if not isinstance(prompt, str) or not isinstance(target, str):
            raise ValueError(f"options 'prompt' and 'target' must both be strings, got {prompt!r} and {target!r}")
        prompt_ids, target_ids = self.tokenizer.encode(prompt), self.tokenizer.encode(target)
        self.check_lengths(prompt_ids, target_ids, "reset options")
        return prompt_ids, target_ids

    def check_index(self, index) -> int:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= index < len(self.dataset):
            raise ValueError(f"options['index']={index!r}: must be an integer in [0, {len(self.dataset)})")
        return int(index)

    def draw_index(self, uniform: float) -> int:
        """The pair index for a uniform draw in [0, 1); both envs draw indices this way."""
        return min(int(uniform * len(self.dataset)), len(self.dataset) - 1)

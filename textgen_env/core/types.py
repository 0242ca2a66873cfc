"""The data both episode cores read and write, as named tuples of numpy arrays.

A neutral module: the numpy core, the compiled core and the envs all import their
types from here, and nothing here imports them. The compiled kernels take these
tuples as plain tuples (numba dispatches a plain tuple several times faster than
a named one) and unpack them by field order on their first line, so the field
order is part of the contract.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class StepRules(NamedTuple):
    """What a core's step reads of the rules, flattened into plain values and arrays for the compiled kernel: the
    task's :class:`~textgen_env.task.EpisodeRules` (valid actions, budget), the reward mode's row and the env's
    ``max_episode_steps``."""

    action_masks: np.ndarray  # (max_new_tokens + 1, vocab) bool: the valid actions after n tokens
    max_new_tokens: int
    max_episode_steps: int  # 0: no limit
    substitution_cost: int  # 1 Levenshtein, 2 Indel, 0 a metric without an incremental kernel
    dense: bool  # the reward mode pays on the steps before the last (the change in potential)
    terminal_weights: np.ndarray  # (4,) float64: rewards.RewardMode.terminal_weights, over TERMINAL_FEATURES
    eos_id: int
    unk_id: int


class Pairs(NamedTuple):
    """The task's (prompt, target) pairs, encoded."""

    prompts: np.ndarray  # (pairs, max_prompt_tokens), the observation dtype, PAD past the end
    targets: np.ndarray  # (pairs, max_new_tokens) int32, negative past the end and where unmatchable
    target_lengths: np.ndarray  # (pairs,) int64
    scales: np.ndarray  # (pairs,) float64: what a distance is divided by to give the score
    match_masks: np.ndarray  # (pairs, vocab, words) uint64, or (0, 0, 0): see numba_core.match_masks


class Episodes(NamedTuple):
    """Each env's episode in progress, and its pairs drawn ahead."""

    pair: np.ndarray  # (n,) int64: the episode's pair, -1 for the pair set by reset options
    prompts: np.ndarray  # (n, max_prompt_tokens), the observation dtype: the "prompt" observation
    generated: np.ndarray  # (n, max_new_tokens), the observation dtype, PAD past the length: the "generated" observation
    lengths: np.ndarray  # (n,) int64: tokens generated
    elapsed: np.ndarray  # (n,) int64: steps taken (for max_episode_steps)
    targets: np.ndarray  # (n, max_new_tokens) int32, negative past the end
    target_lengths: np.ndarray  # (n,) int64
    scales: np.ndarray  # (n,) float64
    potential: np.ndarray  # (n,) float64: the dense reward's potential so far
    next_pairs: np.ndarray  # (n, draws) int64: each env's next pairs, drawn ahead
    draw_position: np.ndarray  # (n,) int64: the next unused entry of next_pairs


class StepOutput(NamedTuple):
    """What one step of every env gives (NEXT_STEP autoresets already begun)."""

    rewards: np.ndarray  # (n,) float64
    similarities: np.ndarray  # (n,) float64: normalized Levenshtein similarity where an episode ended, else 0
    distances: np.ndarray  # (n,) int64 (float64 for metrics that do not count edits)
    terminated: np.ndarray  # (n,) bool
    truncated: np.ndarray  # (n,) bool
    invalid: np.ndarray  # (n,) bool: the action was not valid, and UNK was written instead

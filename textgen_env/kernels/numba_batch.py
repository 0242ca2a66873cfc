"""The vector env's whole step as one compiled call (optional: the ``fast`` extra, numba).

With numba installed, :func:`advance_episodes` does one step of every env (the
action check, append, distances, rewards, episode ends, similarities and the
NEXT_STEP autoresets) and :func:`start_episodes` the SAME_STEP autoresets, each
in a single call. The episode rules are not written here: the kernel reads them
as data made by :class:`textgen_env.task.TextTask` (the action-mask table, the
pairs already drawn, each pair's score scale, the reward mode's code). Without
numba the vector env steps with :mod:`textgen_env.kernels.numpy_batch`, which
gives the same results (tested).

Each episode's DP state is the single env's bit-parallel column
(:mod:`textgen_env.kernels.bitrow`) in uint64 words, 64 target positions a word,
so a token costs a few dozen integer operations per word (Myers' blocks for
Levenshtein, a carried addition for Indel).

The kernels take their inputs as the named tuples below, passed as plain tuples
(numba dispatches a plain tuple several times faster than a named one) and
unpacked by field name on the kernel's first line.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from textgen_env.kernels.bitrow import chunk_tables

try:
    from numba import njit
except ImportError:
    AVAILABLE = False
    njit = None
else:
    AVAILABLE = True

WORD = 64
_CHUNK_NET, _CHUNK_LOWEST = (np.array(table, dtype=np.int8) for table in chunk_tables())  # 64 KiB each: stays in cache
_ZERO, _ONE, _BYTE, _EIGHT, _HIGH = np.uint64(0), np.uint64(1), np.uint64(255), np.uint64(8), np.uint64(1) << np.uint64(63)


class Rules(NamedTuple):
    """The episode rules, as data (from TextTask and the env's arguments)."""

    action_masks: np.ndarray  # (max_new_tokens + 1, vocab) bool: the valid actions after n tokens
    max_new_tokens: int
    max_episode_steps: int  # 0: no limit
    substitution_cost: int  # 1 Levenshtein, 2 Indel
    reward_code: int  # rewards.REWARD_MODES[...].code
    eos_id: int
    unk_id: int


class Pairs(NamedTuple):
    """The task's (prompt, target) pairs, encoded."""

    prompts: np.ndarray  # (pairs, max_prompt_tokens) int32
    targets: np.ndarray  # (pairs, max_new_tokens) int32, negative past the end
    target_lengths: np.ndarray  # (pairs,) int64
    scales: np.ndarray  # (pairs,) float64: the score scale of each pair
    match_masks: np.ndarray  # (pairs, vocab, words) uint64, or (0, 0, 0): see match_masks()


class Episodes(NamedTuple):
    """Each env's episode in progress."""

    pair: np.ndarray  # (n,) int64, -1 for a pair set by reset options
    prompts: np.ndarray  # (n, max_prompt_tokens) int32
    generated: np.ndarray  # (n, max_new_tokens) int32, PAD past the length
    lengths: np.ndarray  # (n,) int64
    elapsed: np.ndarray  # (n,) int64: steps taken (for max_episode_steps)
    targets: np.ndarray  # (max_new_tokens, n) int32, position-first
    target_lengths: np.ndarray  # (n,) int64
    scales: np.ndarray  # (n,) float64
    potential: np.ndarray  # (n,) float64: the dense reward's potential so far
    columns: np.ndarray  # (2, n, words) uint64: the up / down steps of each bit column
    next_pairs: np.ndarray  # (n, draws) int64: each env's next pairs, drawn ahead
    draw_position: np.ndarray  # (n,) int64: the next unused entry of next_pairs


class StepOutput(NamedTuple):
    rewards: np.ndarray  # (n,) float64
    similarities: np.ndarray  # (n,) float64: Levenshtein only, at episode ends
    distances: np.ndarray  # (n,) int64
    terminated: np.ndarray  # (n,) bool
    truncated: np.ndarray  # (n,) bool
    invalid: np.ndarray  # (n,) bool


def _compiled(function):
    return njit(cache=True, nogil=True)(function) if AVAILABLE else function


@_compiled
def advance_episodes(actions, resetting, rules, pairs, episodes, out):
    """One step of the vector env, fused: what ``NumpyBackend.advance`` does in numpy.

    Envs in `resetting` (NEXT_STEP autoresets) start their next drawn pair, as
    :func:`start_episodes` does, and report the distance of an empty generation;
    every other env takes its action. Returns how many draw buffers a reset used
    up (the caller refills them); -1, having changed nothing, if an action is
    outside the vocabulary; -2 if an env whose episode has ended is neither reset
    nor stopped (a caller's error: nothing is written past the episode's row).
    """
    action_masks, max_new_tokens, max_episode_steps, substitution_cost, reward_code, eos_id, unk_id = rules
    (
        pair,
        prompts,
        generated,
        lengths,
        elapsed,
        targets,
        target_lengths,
        scales,
        potential,
        columns,
        next_pairs,
        draw_position,
    ) = episodes
    rewards, similarities, distances, terminated, truncated, invalid = out
    _, _, _, _, match_masks = pairs
    n = actions.shape[0]
    vocab = action_masks.shape[1]
    for i in range(n):
        if actions[i] < 0 or actions[i] >= vocab:
            return -1
    used_up = 0
    for i in range(n):
        rewards[i] = 0.0
        terminated[i] = False
        truncated[i] = False
        invalid[i] = False
        similarities[i] = 0.0
        if resetting[i]:
            used_up += _start_episode(i, pairs, episodes)
            distances[i] = target_lengths[i]  # d(empty, target) for Levenshtein and Indel alike
            continue
        target_length = target_lengths[i]
        length = lengths[i]
        if length >= max_new_tokens:  # a finished episode not being reset: refuse, rather than write past its row
            return -2
        action = actions[i]
        valid = action_masks[length, action]
        if valid and action == eos_id:
            terminated[i] = True
            distance, best = _distance_now(i, length, columns, target_length), 0
        else:
            if not valid:
                invalid[i] = True
                action = unk_id
            generated[i, length] = action
            length += 1
            lengths[i] = length
            distance, best = _append_token(
                i, action, length, substitution_cost, columns, targets, target_length, match_masks, pair[i]
            )
            terminated[i] = length >= max_new_tokens
        elapsed[i] += 1
        if max_episode_steps > 0:
            truncated[i] = elapsed[i] >= max_episode_steps
        distances[i] = distance
        if not terminated[i]:
            if reward_code == 0:  # dense: the change in potential
                now = -best / scales[i]
                rewards[i] = now - potential[i] + 0.0
                potential[i] = now
            continue
        if substitution_cost == 1:
            similarities[i] = 1.0 - distance / max(length, target_length, 1)
        rewards[i] = _terminal_reward(
            reward_code, -distance / scales[i], distance, i, length, target_length, generated, targets, potential[i]
        )
    return used_up


@_compiled
def _terminal_reward(reward_code, score, distance, i, length, target_length, generated, targets, potential_before):
    """The last step's reward: the compiled twin of rewards.REWARD_MODES' ``terminal`` column."""
    if reward_code == 0:  # dense
        return score - potential_before + 0.0
    if reward_code == 1:  # sparse
        return score + 0.0
    if reward_code == 2:  # inverse
        return 1.0 / (1.0 + distance)
    exact = length == target_length  # exact
    for j in range(target_length if exact else 0):
        if generated[i, j] != targets[j, i]:
            return 0.0
    return 1.0 if exact else 0.0


@_compiled
def _append_token(i, token, generated_length, substitution_cost, columns, targets, target_length, match_masks, pair):
    """Append `token` to env `i`'s bit-parallel column; (distance to the target, best reachable distance).

    ``columns[0, i, w]`` / ``columns[1, i, w]`` hold the up / down steps of
    ``D[j+1] - D[j]`` for ``j`` in word ``w`` (``D[0]`` = tokens generated,
    `generated_length` counting this one). The positions of `token` in the
    target come from `match_masks` (see :func:`match_masks`) when it covers the
    episode's dataset `pair`, else from scanning the target.
    """
    lowest = offset = 0  # the lowest prefix sum of the steps so far, and their sum
    carry_in = 1  # Levenshtein: the horizontal step into the word (row 0 grows by one per token)
    carry = _ZERO  # Indel: the addition's carry into the word
    for w in range((target_length + WORD - 1) // WORD):
        width = min(WORD, target_length - w * WORD)
        mask = ~_ZERO if width == WORD else (_ONE << np.uint64(width)) - _ONE
        if 0 <= pair < match_masks.shape[0]:
            match = match_masks[pair, token, w]
        else:
            match = _ZERO
            for j in range(width):
                if targets[w * WORD + j, i] == token:
                    match |= _ONE << np.uint64(j)
        up, down = columns[0, i, w], columns[1, i, w]
        if substitution_cost == 2:  # Indel: the LCS bit-vector, every step +1 (up) or -1
            unchanged = up & match
            total = up + unchanged
            overflow = total < up
            total += carry
            carry = _ONE if overflow or total < carry else _ZERO
            up = (total | (up & ~match)) & mask
            down = ~up & mask
        else:  # Levenshtein: Hyyrö's global variant of Myers' algorithm, one block per word
            vertical = match | down
            if carry_in < 0:
                match |= _ONE
            horizontal = (((match & up) + up) ^ up) | match
            h_up = down | ~(horizontal | up)
            h_down = up & horizontal
            carry_out = 1 if h_up & _HIGH else (-1 if h_down & _HIGH else 0)
            h_up <<= _ONE
            h_down <<= _ONE
            if carry_in > 0:
                h_up |= _ONE
            elif carry_in < 0:
                h_down |= _ONE
            carry_in = carry_out
            up = (h_down | ~(vertical | h_up)) & mask
            down = h_up & vertical & mask
        columns[0, i, w], columns[1, i, w] = up, down
        while up or down:  # past the last set bit every step is 0
            key = (up & _BYTE) | ((down & _BYTE) << _EIGHT)
            lowest = min(lowest, offset + _CHUNK_LOWEST[key])
            offset += _CHUNK_NET[key]
            up >>= _EIGHT
            down >>= _EIGHT
    return generated_length + offset, generated_length + lowest  # offset: the sum of all steps


def match_masks(
    target_matrix: np.ndarray, target_lengths: np.ndarray, vocab_size: int, max_entries: int = 1 << 21
) -> np.ndarray:
    """``masks[pair, token, w]``: bit j set where ``target[64 w + j] == token``.

    Built once per env, so a step finds a token's positions with one look-up a
    word. Target entries that are negative (unmatchable tokens) set no bit. An
    empty table where it would exceed `max_entries` (the kernel then scans the target).
    """
    pairs, width = target_matrix.shape
    words = max(1, -(-width // WORD))
    if pairs * vocab_size * words > max_entries:
        return np.zeros((0, 0, 0), dtype=np.uint64)
    masks = np.zeros((pairs, vocab_size, words), dtype=np.uint64)
    pair_index, position = np.nonzero((np.arange(width) < target_lengths[:, None]) & (target_matrix >= 0))
    bit = np.left_shift(np.uint64(1), (position % WORD).astype(np.uint64))
    np.bitwise_or.at(masks, (pair_index, target_matrix[pair_index, position], position // WORD), bit)
    return masks


@_compiled
def _popcount(x):
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return np.int64((x * np.uint64(0x0101010101010101)) >> np.uint64(56))


@_compiled
def _distance_now(i, generated_length, columns, target_length):
    distance = generated_length
    for w in range((target_length + WORD - 1) // WORD):
        distance += _popcount(columns[0, i, w]) - _popcount(columns[1, i, w])
    return distance


@_compiled
def current_distances(lengths, columns, target_lengths, out):
    """Each env's distance between its generation so far and its target."""
    for i in range(lengths.shape[0]):
        out[i] = _distance_now(i, lengths[i], columns, target_lengths[i])


@_compiled
def reset_columns(envs, columns, target_lengths):
    """The empty generation's column (``D[j] = j``) for the envs in `envs`, whose targets are set."""
    for k in range(envs.shape[0]):
        _reset_column(envs[k], columns, target_lengths[envs[k]])


@_compiled
def _reset_column(i, columns, target_length):
    for w in range(columns.shape[2]):
        width = min(WORD, max(0, target_length - w * WORD))
        columns[0, i, w] = ~_ZERO if width == WORD else (_ONE << np.uint64(width)) - _ONE
        columns[1, i, w] = _ZERO


@_compiled
def start_episodes(envs, pairs, episodes):
    """Begin a new episode in each env of `envs` (SAME_STEP autoresets).

    Returns how many draw buffers this used up (the caller refills them).
    """
    used_up = 0
    for k in range(envs.shape[0]):
        used_up += _start_episode(envs[k], pairs, episodes)
    return used_up


@_compiled
def _start_episode(i, pairs, episodes):
    """Env `i` starts its next drawn pair; 1 if that used up its buffer of draws."""
    (
        pair,
        prompts,
        generated,
        lengths,
        elapsed,
        targets,
        target_lengths,
        scales,
        potential,
        columns,
        next_pairs,
        draw_position,
    ) = episodes
    pair_prompts, pair_targets, pair_target_lengths, pair_scales, _ = pairs
    chosen = next_pairs[i, draw_position[i]]
    draw_position[i] += 1
    pair[i] = chosen
    prompts[i, :] = pair_prompts[chosen]
    targets[:, i] = pair_targets[chosen]
    length = pair_target_lengths[chosen]
    target_lengths[i] = length
    generated[i, :] = 0
    lengths[i] = 0
    elapsed[i] = 0
    potential[i] = 0.0
    scales[i] = pair_scales[chosen]
    _reset_column(i, columns, length)
    return 1 if draw_position[i] == next_pairs.shape[1] else 0

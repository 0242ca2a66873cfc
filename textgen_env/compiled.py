"""Compiled step kernels for the vector env (optional: the ``fast`` extra, numba).

The vector env's Levenshtein/Indel step is a handful of numpy calls per
generated token, and at a few hundred envs their fixed costs, not the
arithmetic, set the pace. With numba installed, :func:`advance_episodes` does
one whole step (append, distances, rewards, episode ends, similarities, and
the NEXT_STEP autoresets) and :func:`start_episodes` the SAME_STEP autoresets,
each in a single compiled call. Without numba the vector env uses its numpy
path, which gives the same results (tested); the env's ``backend`` says which
one runs.

The DP state of an episode whose target has at most 64 tokens is the single
env's bit-parallel column (:class:`textgen_env.distance.BitParallelRow`) in two
uint64 words, a few dozen integer operations per token; longer targets keep
the DP row of :mod:`textgen_env.distance`, updated over ``len(target)``
positions. Both work on the vector env's own arrays, in place (rows and targets
position-first, as in :mod:`textgen_env.distance`).
"""

from __future__ import annotations

import numpy as np

from textgen_env.distance import chunk_tables
from textgen_env.tokenizers import EOS_ID, UNK_ID

try:
    from numba import njit
except ImportError:
    AVAILABLE = False
    njit = None
else:
    AVAILABLE = True

REWARD_CODES = {"dense": 0, "sparse": 1, "inverse": 2, "exact": 3}
BIT_PARALLEL_MAX_TARGET = 64  # targets up to this many tokens keep their DP column in one uint64 pair
_CHUNK_NET, _CHUNK_LOWEST = (np.array(table, dtype=np.int8) for table in chunk_tables())  # 64 KiB each: stays in cache
_ZERO, _ONE, _BYTE, _EIGHT = np.uint64(0), np.uint64(1), np.uint64(255), np.uint64(8)


def _compiled(function):
    return njit(cache=True, nogil=True)(function) if AVAILABLE else function


@_compiled
def advance_episodes(
    actions, resetting, valid_actions, min_new_tokens, max_new_tokens, max_episode_steps, substitution_cost, reward_code, match_table,
    generated, lengths, elapsed, rows, bits, targets, target_lengths, scales, potential,
    episode, rewards, terminated, truncated, distances, invalid, similarities,
):
    """One step of the vector env, fused: the numpy ``TextGenerationVectorEnv._advance``.

    Envs in `resetting` (NEXT_STEP autoresets) start a new episode, as
    :func:`start_episodes` does, and report the distance of an empty generation;
    every other env takes its action. ``max_episode_steps`` is 0 for no limit;
    `episode` holds what :func:`start_episodes` needs beyond the step arrays.
    Returns how many draw buffers a reset used up (the caller refills them),
    or -1, having changed nothing, if an action is outside the vocabulary.
    With Levenshtein (``substitution_cost == 1``) finished episodes also get
    their normalized similarity, ``1 - d / max(len(generated), len(target))``.
    """
    n = actions.shape[0]
    for i in range(n):
        if actions[i] < 0 or actions[i] >= valid_actions.shape[0]:
            return -1
    emptied = 0
    for i in range(n):
        rewards[i] = 0.0
        terminated[i] = False
        truncated[i] = False
        invalid[i] = False
        similarities[i] = 0.0
        if resetting[i]:
            emptied += _start_episode(i, generated, lengths, elapsed, rows, bits, targets, target_lengths, scales, potential, episode)
            distances[i] = float(target_lengths[i])  # d(empty, target) for Levenshtein and Indel alike
            continue
        target_length = target_lengths[i]
        action = actions[i]
        stop = action == EOS_ID and lengths[i] >= min_new_tokens
        if not stop:
            if not valid_actions[action]:
                invalid[i] = True
                action = UNK_ID
            generated[i, lengths[i]] = action
            lengths[i] += 1
            if target_length <= BIT_PARALLEL_MAX_TARGET:
                distance, best = _append_bits(i, action, lengths[i], substitution_cost, bits, targets, target_length, match_table, episode[1][i])
            else:
                distance, best = _append_row(i, action, substitution_cost, rows, targets, target_length)
            terminated[i] = lengths[i] >= max_new_tokens
        else:
            terminated[i] = True
            distance, best = _distance_now(i, lengths[i], rows, bits, target_length), 0
        elapsed[i] += 1
        if max_episode_steps > 0:
            truncated[i] = elapsed[i] >= max_episode_steps
        distances[i] = distance
        if not terminated[i]:
            if reward_code == 0:
                now = -best / scales[i]
                rewards[i] = now - potential[i] + 0.0
                potential[i] = now
            continue
        if substitution_cost == 1:
            similarities[i] = 1.0 - distance / max(lengths[i], target_length, 1)
        if reward_code == 0:
            rewards[i] = -distance / scales[i] - potential[i] + 0.0
        elif reward_code == 1:
            rewards[i] = -distance / scales[i] + 0.0
        elif reward_code == 2:
            rewards[i] = 1.0 / (1.0 + distance)
        else:
            exact = lengths[i] == target_length
            for j in range(target_length if exact else 0):
                if generated[i, j] != targets[j, i]:
                    exact = False
                    break
            rewards[i] = 1.0 if exact else 0.0
    return emptied


@_compiled
def _append_row(i, token, substitution_cost, rows, targets, target_length):
    """Append `token` to env `i`'s DP row (shifted form E = D - j, as in textgen_env.distance).

    Only the positions this episode's readers look at (j <= len(target)) are
    updated. Returns (distance to the target, best reachable distance).
    """
    diagonal = rows[0, i]
    running = diagonal + 1
    rows[0, i] = running
    best = running
    for j in range(1, target_length + 1):
        above = rows[j, i]
        if targets[j - 1, i] == token:
            value = diagonal - 1
        else:
            value = diagonal + substitution_cost - 1
        if above + 1 < value:
            value = above + 1
        if running < value:
            value = running
        rows[j, i] = value
        running = value
        diagonal = above
        if value + j < best:
            best = value + j
    return float(running + target_length), best


@_compiled
def _append_bits(i, token, generated_length, substitution_cost, bits, targets, target_length, match_masks, pair):
    """Append `token` to env `i`'s bit-parallel column: the single env's BitParallelRow in one uint64 pair.

    ``bits[0, i]`` / ``bits[1, i]`` hold the up / down steps of ``D[j+1] - D[j]``
    (``D[0]`` = tokens generated, `generated_length` after this one). The
    positions of `token` in the target come from `match_masks` (see
    :func:`match_masks`) when it covers the episode's dataset `pair`, else
    from scanning the target. Returns (distance to the target, best reachable distance).
    """
    if pair >= 0 and pair < match_masks.shape[0]:
        match = match_masks[pair, token]
    else:
        match = _ZERO
        for j in range(target_length):
            if targets[j, i] == token:
                match |= _ONE << np.uint64(j)
    mask = ~_ZERO if target_length == 64 else (_ONE << np.uint64(target_length)) - _ONE
    up, down = bits[0, i], bits[1, i]
    if substitution_cost == 2:  # Indel: the LCS bit-vector, every step +1 (up) or -1
        unchanged = up & match
        up = ((up + unchanged) | (up - unchanged)) & mask
        down = ~up & mask
    else:  # Levenshtein: Hyyrö's global variant of Myers' algorithm
        vertical = match | down
        horizontal = (((match & up) + up) ^ up) | match
        h_up = ((down | ~(horizontal | up)) << _ONE) | _ONE  # row 0 grows by one per token
        h_down = (up & horizontal) << _ONE
        up = (h_down | ~(vertical | h_up)) & mask
        down = h_up & vertical & mask
    bits[0, i], bits[1, i] = up, down
    distance = generated_length + _popcount(up) - _popcount(down)
    lowest = offset = 0
    while up or down:  # past the last set bit every step is 0
        key = (up & _BYTE) | ((down & _BYTE) << _EIGHT)
        if offset + _CHUNK_LOWEST[key] < lowest:
            lowest = offset + _CHUNK_LOWEST[key]
        offset += _CHUNK_NET[key]
        up >>= _EIGHT
        down >>= _EIGHT
    return float(distance), generated_length + lowest


def match_masks(target_matrix: np.ndarray, target_lengths: np.ndarray, vocab_size: int, max_entries: int = 1 << 21) -> np.ndarray:
    """``masks[pair, token]``: bit j set where ``target[j] == token``, for targets of up to 64 tokens.

    Built once per env, so a step finds a token's positions with one look-up. An
    empty table where it would exceed `max_entries` (the kernel then scans the target).
    """
    pairs = len(target_matrix)
    if pairs * vocab_size > max_entries:
        return np.zeros((0, 0), dtype=np.uint64)
    masks = np.zeros((pairs, vocab_size), dtype=np.uint64)
    width = min(target_matrix.shape[1], BIT_PARALLEL_MAX_TARGET)
    pair_index, position = np.nonzero(np.arange(width) < np.minimum(target_lengths, BIT_PARALLEL_MAX_TARGET)[:, None])
    np.bitwise_or.at(masks, (pair_index, target_matrix[pair_index, position]), np.left_shift(np.uint64(1), position.astype(np.uint64)))
    return masks


@_compiled
def _popcount(x):
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return np.int64((x * np.uint64(0x0101010101010101)) >> np.uint64(56))


@_compiled
def _distance_now(i, generated_length, rows, bits, target_length):
    if target_length <= BIT_PARALLEL_MAX_TARGET:
        return float(generated_length + _popcount(bits[0, i]) - _popcount(bits[1, i]))
    return float(rows[target_length, i] + target_length)


@_compiled
def current_distances(lengths, rows, bits, target_lengths, out):
    """Each env's distance between its generation so far and its target."""
    for i in range(lengths.shape[0]):
        out[i] = _distance_now(i, lengths[i], rows, bits, target_lengths[i])


@_compiled
def reset_columns(envs, rows, bits, target_lengths):
    """The empty generation's DP state (``D[j] = j``) for the envs in `envs`, whose targets are set."""
    for k in range(envs.shape[0]):
        _reset_column(envs[k], rows, bits, target_lengths[envs[k]])


@_compiled
def _reset_column(i, rows, bits, target_length):
    if target_length <= BIT_PARALLEL_MAX_TARGET:
        bits[0, i] = ~_ZERO if target_length == 64 else (_ONE << np.uint64(target_length)) - _ONE
        bits[1, i] = _ZERO
    else:
        rows[:, i] = 0


@_compiled
def start_episodes(envs, generated, lengths, elapsed, rows, bits, targets, target_lengths, scales, potential, episode):
    """Begin a new episode in each env of `envs`: the numpy ``_reset_finished``, fused.

    Returns how many draw buffers this used up (the caller refills them).
    """
    emptied = 0
    for k in range(envs.shape[0]):
        emptied += _start_episode(envs[k], generated, lengths, elapsed, rows, bits, targets, target_lengths, scales, potential, episode)
    return emptied


@_compiled
def _start_episode(i, generated, lengths, elapsed, rows, bits, targets, target_lengths, scales, potential, episode):
    """Env `i` starts the pair of its next buffered uniform draw; 1 if that used up its buffer."""
    prompts, pairs, draws, draw_positions, prompt_matrix, target_matrix, pair_target_lengths, counts_edits = episode
    dataset_size = prompt_matrix.shape[0]
    pair = min(int(draws[i, draw_positions[i]] * dataset_size), dataset_size - 1)
    draw_positions[i] += 1
    pairs[i] = pair
    prompts[i, :] = prompt_matrix[pair]
    targets[:, i] = target_matrix[pair]
    length = pair_target_lengths[pair]
    target_lengths[i] = length
    generated[i, :] = 0
    lengths[i] = 0
    elapsed[i] = 0
    potential[i] = 0.0
    _reset_column(i, rows, bits, length)
    scales[i] = max(1, length) if counts_edits else 1.0
    return 1 if draw_positions[i] == draws.shape[1] else 0

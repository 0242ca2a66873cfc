"""Compiled step kernels for the vector env (optional: the ``fast`` extra, numba).

The vector env's Levenshtein/Indel step is a handful of numpy calls per
generated token, and at a few hundred envs their fixed costs, not the
arithmetic, set the pace. With numba installed, :func:`advance_episodes` does
one whole step (append, distances, rewards, episode ends, similarities, and
the NEXT_STEP autoresets) and :func:`start_episodes` the SAME_STEP autoresets,
each in a single compiled call. Without numba the vector env uses its numpy
path, which gives the same results (tested); the env's ``backend`` says which
one runs.

Each episode's DP state is the single env's bit-parallel column
(:class:`textgen_env.distance.BitParallelRow`) in uint64 words, 64 target
positions a word, so a token costs a few dozen integer operations per word
(Myers' blocks for Levenshtein, a carried addition for Indel).
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
WORD = 64
_CHUNK_NET, _CHUNK_LOWEST = (np.array(table, dtype=np.int8) for table in chunk_tables())  # 64 KiB each: stays in cache
_ZERO, _ONE, _BYTE, _EIGHT, _HIGH = np.uint64(0), np.uint64(1), np.uint64(255), np.uint64(8), np.uint64(1) << np.uint64(63)


def _compiled(function):
    return njit(cache=True, nogil=True)(function) if AVAILABLE else function


@_compiled
def advance_episodes(
    actions, resetting, valid_actions, min_new_tokens, max_new_tokens, max_episode_steps, substitution_cost, reward_code, match_table,
    generated, lengths, elapsed, bits, targets, target_lengths, scales, potential,
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
            emptied += _start_episode(i, generated, lengths, elapsed, bits, targets, target_lengths, scales, potential, episode)
            distances[i] = target_lengths[i]  # d(empty, target) for Levenshtein and Indel alike
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
            distance, best = _append_token(i, action, lengths[i], substitution_cost, bits, targets, target_length, match_table, episode[1][i])
            terminated[i] = lengths[i] >= max_new_tokens
        else:
            terminated[i] = True
            distance, best = _distance_now(i, lengths[i], bits, target_length), 0
        elapsed[i] += 1
        if max_episode_steps > 0:
            truncated[i] = elapsed[i] >= max_episode_steps
        distances[i] = int(distance)
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
def _append_token(i, token, generated_length, substitution_cost, bits, targets, target_length, match_masks, pair):
    """Append `token` to env `i`'s bit-parallel column; (distance to the target, best reachable distance).

    ``bits[0, i, w]`` / ``bits[1, i, w]`` hold the up / down steps of
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
        up, down = bits[0, i, w], bits[1, i, w]
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
        bits[0, i, w], bits[1, i, w] = up, down
        while up or down:  # past the last set bit every step is 0
            key = (up & _BYTE) | ((down & _BYTE) << _EIGHT)
            lowest = min(lowest, offset + _CHUNK_LOWEST[key])
            offset += _CHUNK_NET[key]
            up >>= _EIGHT
            down >>= _EIGHT
    return float(generated_length + offset), generated_length + lowest  # offset: the sum of all steps


def match_masks(target_matrix: np.ndarray, target_lengths: np.ndarray, vocab_size: int, max_entries: int = 1 << 21) -> np.ndarray:
    """``masks[pair, token, w]``: bit j set where ``target[64 w + j] == token``.

    Built once per env, so a step finds a token's positions with one look-up a
    word. An empty table where it would exceed `max_entries` (the kernel then
    scans the target).
    """
    pairs, width = target_matrix.shape
    words = max(1, -(-width // WORD))
    if pairs * vocab_size * words > max_entries:
        return np.zeros((0, 0, 0), dtype=np.uint64)
    masks = np.zeros((pairs, vocab_size, words), dtype=np.uint64)
    pair_index, position = np.nonzero(np.arange(width) < target_lengths[:, None])
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
def _distance_now(i, generated_length, bits, target_length):
    distance = generated_length
    for w in range((target_length + WORD - 1) // WORD):
        distance += _popcount(bits[0, i, w]) - _popcount(bits[1, i, w])
    return float(distance)


@_compiled
def current_distances(lengths, bits, target_lengths, out):
    """Each env's distance between its generation so far and its target."""
    for i in range(lengths.shape[0]):
        out[i] = _distance_now(i, lengths[i], bits, target_lengths[i])


@_compiled
def reset_columns(envs, bits, target_lengths):
    """The empty generation's column (``D[j] = j``) for the envs in `envs`, whose targets are set."""
    for k in range(envs.shape[0]):
        _reset_column(envs[k], bits, target_lengths[envs[k]])


@_compiled
def _reset_column(i, bits, target_length):
    for w in range(bits.shape[2]):
        width = min(WORD, max(0, target_length - w * WORD))
        bits[0, i, w] = ~_ZERO if width == WORD else (_ONE << np.uint64(width)) - _ONE
        bits[1, i, w] = _ZERO


@_compiled
def start_episodes(envs, generated, lengths, elapsed, bits, targets, target_lengths, scales, potential, episode):
    """Begin a new episode in each env of `envs`: the numpy ``_reset_finished``, fused.

    Returns how many draw buffers this used up (the caller refills them).
    """
    emptied = 0
    for k in range(envs.shape[0]):
        emptied += _start_episode(envs[k], generated, lengths, elapsed, bits, targets, target_lengths, scales, potential, episode)
    return emptied


@_compiled
def _start_episode(i, generated, lengths, elapsed, bits, targets, target_lengths, scales, potential, episode):
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
    _reset_column(i, bits, length)
    scales[i] = max(1, length) if counts_edits else 1.0
    return 1 if draw_positions[i] == draws.shape[1] else 0

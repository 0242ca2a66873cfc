"""The compiled episode core (optional: the ``fast`` extra, numba): a whole step in one call.

:func:`advance_episodes` does one step of every env (the action check, append,
distances, rewards, episode ends, similarities and the NEXT_STEP autoresets) in a
single compiled call, reading the rules as data (:class:`~textgen_env.core.types.StepRules`:
the action-mask table, the reward mode's terminal weights) and writing the state
in place. It is the compiled build of :class:`~textgen_env.core.numpy_core.NumpyCore`,
which gives the same results (tested); :class:`NumbaCore` is the core around it.

Each episode's DP state is a bit-parallel column in uint64 words, 64 target
positions a word, so a token costs a few dozen integer operations per word (Myers'
blocks for Levenshtein, Hyyrö's global variant (2001); the LCS bit-vector of
Allison-Dix / Hyyrö 2004 for Indel). Targets may hold negative ids (padding, and
target tokens that no action can produce): no generated token ever equals them.
"""

from __future__ import annotations

import numpy as np

from textgen_env.core.base import EpisodeCore, out_of_range, start_episodes, take_draws
from textgen_env.core.types import StepOutput
from textgen_env.rewards import similarity_from_distance, terminal_reward

try:
    from numba import njit
except ImportError:
    AVAILABLE = False
    njit = None
else:
    AVAILABLE = True

WORD = 64


def chunk_tables(bits: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """For each pair of `bits`-bit chunks (up-steps | down-steps << bits): net change and lowest prefix."""
    keys = np.arange(1 << (2 * bits))
    positions = np.arange(bits)
    steps = ((keys[:, None] >> positions) & 1) - ((keys[:, None] >> (positions + bits)) & 1)
    prefix = np.cumsum(steps, axis=1)
    return prefix[:, -1].astype(np.int8), np.minimum(prefix.min(axis=1), 0).astype(np.int8)


_CHUNK_NET, _CHUNK_LOWEST = chunk_tables()  # 64 KiB each: stays in cache
_ZERO, _ONE, _BYTE, _EIGHT, _HIGH = np.uint64(0), np.uint64(1), np.uint64(255), np.uint64(8), np.uint64(1) << np.uint64(63)


def _compiled(function):
    return njit(cache=True, nogil=True)(function) if AVAILABLE else function


@_compiled
def advance_episodes(actions, resetting, rules, pairs, episodes, columns, out):
    """One step of every env, fused: what ``NumpyCore.step`` does in numpy.

    Envs in `resetting` (NEXT_STEP autoresets) start their next drawn pair (:func:`~textgen_env.core.base.take_draws`
    and :func:`~textgen_env.core.base.start_episodes`, compiled) and report the distance of an empty generation;
    every other env takes its action. `columns` (2, n, words) holds each env's bit column. Returns how many draw
    buffers the resets used up (the caller refills them); -1, having changed nothing, if an action is outside the
    vocabulary; -2 if an env whose episode has ended is neither reset nor stopped (a caller's error: nothing is
    written past the episode's row).
    """
    action_masks, max_new_tokens, max_episode_steps, substitution_cost, dense, terminal_weights, eos_id, unk_id = rules
    pair, _, generated, lengths, elapsed, targets, target_lengths, scales, potential, _, _ = episodes
    rewards, similarities, distances, terminated, truncated, invalid = out
    match_masks = pairs[4]
    n = actions.shape[0]
    vocab = action_masks.shape[1]
    for i in range(n):
        if actions[i] < 0 or actions[i] >= vocab:
            return -1
    for i in range(n):
        rewards[i] = 0.0
        terminated[i] = False
        truncated[i] = False
        invalid[i] = False
        similarities[i] = 0.0
        if resetting[i]:
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
                i, action, length, substitution_cost, columns, targets, target_length, match_masks, pair[i], dense
            )
            terminated[i] = length >= max_new_tokens
        elapsed[i] += 1
        if max_episode_steps > 0:
            truncated[i] = elapsed[i] >= max_episode_steps
        distances[i] = distance
        if not terminated[i]:
            if dense:  # the change in potential
                now = -best / scales[i]
                rewards[i] = now - potential[i] + 0.0
                potential[i] = now
            continue
        if substitution_cost == 1:
            similarities[i] = _similarity_from_distance(distance, length, target_length)
        exact = _exact_match(i, length, target_length, generated, targets) if terminal_weights[3] != 0.0 else 0.0
        score = -distance / scales[i]
        rewards[i] = _terminal_reward(terminal_weights, score, potential[i], distance, exact) + 0.0
    starting = np.nonzero(resetting)[0]
    if starting.shape[0] == 0:
        return 0
    _start_episodes(starting, _take_draws(starting, episodes), pairs, episodes)
    used_up = 0
    for i in starting:
        _reset_column(i, columns, target_lengths[i])
        distances[i] = target_lengths[i]  # d(empty, target) for Levenshtein and Indel alike
        if episodes[10][i] == episodes[9].shape[1]:
            used_up += 1
    return used_up


# The rules the numpy core applies to arrays, compiled from the same definitions.
_terminal_reward = _compiled(terminal_reward)
_similarity_from_distance = _compiled(similarity_from_distance)
_take_draws = _compiled(take_draws)
_start_episodes = _compiled(start_episodes)


@_compiled
def _exact_match(i, length, target_length, generated, targets):
    """1.0 if env `i`'s generation equals its target, else 0.0."""
    if length != target_length:
        return 0.0
    for j in range(target_length):
        if generated[i, j] != targets[i, j]:
            return 0.0
    return 1.0


@_compiled
def _append_token(i, token, generated_length, substitution_cost, columns, targets, target_length, match_masks, pair, best):
    """Append `token` to env `i`'s bit-parallel column; (distance to the target, best reachable distance).

    The best reachable distance (the dense reward's potential, 40% of this function's time) is only
    computed where `best` asks for it, else it is returned as 0.

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
                if targets[i, w * WORD + j] == token:
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
        if not best:  # only the sum of the steps
            offset += _popcount(up) - _popcount(down)
            continue
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


class NumbaCore(EpisodeCore):
    """Episodes stepped by one compiled call (Levenshtein and Indel)."""

    name = "numba"

    def __init__(self, task, num_envs: int, max_episode_steps: int | None = None):
        super().__init__(task, num_envs, max_episode_steps)
        self.columns = np.zeros((2, num_envs, -(-task.max_new_tokens // WORD)), dtype=np.uint64)
        self.bind_kernel()

    def bind_kernel(self) -> None:
        """The kernel's arguments (arrays it writes in place) and its compiled entry point."""
        self.arguments = tuple(self.rules), tuple(self.pairs), tuple(self.state), self.columns
        self.kernel = self.compiled_kernel()

    def compiled_kernel(self):
        """:func:`advance_episodes` compiled for this core's argument types, called without numba's dispatcher.

        The types never change for one core (int64 actions, bool resets, its own arrays), so matching them
        on every call is wasted work: at one env it is half of the step (7.2 -> 4.0 us here).
        """
        n = self.num_envs
        sample = (np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool), *self.arguments, tuple(self.empty_output()))
        signature = tuple(advance_episodes.typeof_pyval(value) for value in sample)
        advance_episodes.compile(signature)
        return advance_episodes.overloads[signature].entry_point

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "kernel"}  # a compiled entry point does not pickle

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.bind_kernel()

    def empty_output(self) -> StepOutput:
        n = self.num_envs
        floats, flags = np.empty((2, n)), np.empty((3, n), dtype=bool)  # fresh for every step: the caller keeps them
        return StepOutput(floats[0], floats[1], np.empty(n, dtype=np.int64), flags[0], flags[1], flags[2])

    def match_masks(self) -> np.ndarray:
        task = self.task
        return match_masks(task.target_matrix, task.target_lengths, task.vocab_size)

    def start_distances(self, envs: np.ndarray) -> None:
        reset_columns(envs, self.columns, self.state.target_lengths)

    checks_action_range = True  # the kernel refuses an out-of-range action before it changes anything

    def step(self, actions: np.ndarray, resetting: np.ndarray) -> StepOutput:
        out = self.empty_output()
        used_up = self.kernel(actions, resetting, *self.arguments, tuple(out))
        if used_up == -2:
            raise RuntimeError("the compiled step was asked to advance an episode that has ended without resetting it")
        if used_up == -1:
            raise out_of_range(actions, self.task.vocab_size)
        if used_up:
            self.refill_used_up(resetting.nonzero()[0])
        if self.metric.name != "levenshtein" and np.count_nonzero(out.terminated):
            out.similarities[:] = self.final_similarities(out.terminated, out.distances)
        return out

    def distances(self, mask: np.ndarray | None = None) -> np.ndarray:
        values = np.empty(self.num_envs, dtype=np.int64)
        current_distances(self.state.lengths, self.columns, self.state.target_lengths, values)
        return values

"""Compiled step kernels for the vector env (optional: the ``fast`` extra, numba).

The vector env's Levenshtein/Indel step is a handful of numpy calls per
generated token, and at a few hundred envs their fixed costs, not the
arithmetic, set the pace. With numba installed, :func:`advance_episodes` does
one whole step (append, the DP row update of :mod:`textgen_env.distance`,
distances, rewards, episode ends, similarities, and the NEXT_STEP autoresets)
and :func:`start_episodes` the SAME_STEP autoresets, each in a single compiled
call. Without numba the vector env uses its numpy path,
which gives the same results (tested); the env's ``backend`` says which one runs.

Both kernels work on the vector env's own arrays, in place, in the same layout
(rows and targets position-first, as in :mod:`textgen_env.distance`).
"""

from __future__ import annotations

from textgen_env.tokenizers import EOS_ID, UNK_ID

try:
    from numba import njit
except ImportError:
    AVAILABLE = False
    njit = None
else:
    AVAILABLE = True

REWARD_CODES = {"dense": 0, "sparse": 1, "inverse": 2, "exact": 3}


def _compiled(function):
    return njit(cache=True, nogil=True)(function) if AVAILABLE else function


@_compiled
def advance_episodes(
    actions, resetting, valid_actions, min_new_tokens, max_new_tokens, max_episode_steps, substitution_cost, reward_code,
    generated, lengths, elapsed, rows, targets, target_lengths, scales, potential,
    episode, rewards, terminated, truncated, distances, invalid, similarities,
):
    """One step of the vector env, fused: the numpy ``TextGenerationVectorEnv._advance``.

    Envs in `resetting` (NEXT_STEP autoresets) start a new episode, as
    :func:`start_episodes` does, and report the distance of an empty generation;
    every other env takes its action. ``max_episode_steps`` is 0 for no limit;
    `episode` holds what :func:`start_episodes` needs beyond the step arrays.
    Returns how many draw buffers a reset used up (the caller refills them).
    With Levenshtein (``substitution_cost == 1``) finished episodes also get
    their normalized similarity, ``1 - d / max(len(generated), len(target))``.
    """
    n = actions.shape[0]
    emptied = 0
    for i in range(n):
        rewards[i] = 0.0
        terminated[i] = False
        truncated[i] = False
        invalid[i] = False
        similarities[i] = 0.0
        if resetting[i]:
            emptied += _start_episode(i, generated, lengths, elapsed, rows, targets, target_lengths, scales, potential, episode)
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
            # The DP row update of textgen_env.distance, shifted form E = D - j,
            # over the positions this episode's readers look at (j <= len(target)).
            diagonal = rows[0, i]
            running = diagonal + 1
            rows[0, i] = running
            best = running
            for j in range(1, target_length + 1):
                above = rows[j, i]
                if targets[j - 1, i] == action:
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
            terminated[i] = lengths[i] >= max_new_tokens
        else:
            terminated[i] = True
            best = 0
        elapsed[i] += 1
        if max_episode_steps > 0:
            truncated[i] = elapsed[i] >= max_episode_steps
        distance = float(rows[target_length, i] + target_length)
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
def start_episodes(envs, generated, lengths, elapsed, rows, targets, target_lengths, scales, potential, episode):
    """Begin a new episode in each env of `envs`: the numpy ``_reset_finished``, fused.

    Returns how many draw buffers this used up (the caller refills them).
    """
    emptied = 0
    for k in range(envs.shape[0]):
        emptied += _start_episode(envs[k], generated, lengths, elapsed, rows, targets, target_lengths, scales, potential, episode)
    return emptied


@_compiled
def _start_episode(i, generated, lengths, elapsed, rows, targets, target_lengths, scales, potential, episode):
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
    rows[:, i] = 0
    scales[i] = max(1, length) if counts_edits else 1.0
    return 1 if draw_positions[i] == draws.shape[1] else 0

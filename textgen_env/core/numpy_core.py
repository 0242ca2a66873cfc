"""The reference episode core, in numpy: every rule of a step as whole-batch array operations.

Levenshtein and Indel keep one DP row per env (:mod:`textgen_env.core.numpy_rows`)
and update it once per token; every other metric is measured with rapidfuzz per
env. :mod:`textgen_env.core.numba_core` is the compiled build of this same step,
and tests hold the two equal on every field of every step.
"""

from __future__ import annotations

import numpy as np

from textgen_env.core import numpy_rows
from textgen_env.core.base import EpisodeCore
from textgen_env.core.types import StepOutput


class NumpyCore(EpisodeCore):
    """Episodes stepped with numpy (any metric)."""

    name = "numpy"

    def __init__(self, task, num_envs: int, max_episode_steps: int | None = None):
        super().__init__(task, num_envs, max_episode_steps)
        self.incremental = self.rules.substitution_cost > 0
        width = task.max_new_tokens
        self.rows = numpy_rows.initial_rows((num_envs,), width)
        self.targets_by_position = np.zeros((width, num_envs), dtype=np.int32)  # the rows' layout: one column per env
        self.offsets = numpy_rows.reachable_offsets(np.zeros(num_envs, dtype=np.int64), width)

    def start_distances(self, envs: np.ndarray) -> None:
        self.targets_by_position[:, envs] = self.state.targets[envs].T
        self.rows[:, envs] = 0
        self.offsets[:, envs] = numpy_rows.reachable_offsets(self.state.target_lengths[envs], self.task.max_new_tokens)

    def step(self, actions: np.ndarray, resetting: np.ndarray) -> StepOutput:
        state, rules = self.state, self.rules
        active = ~resetting
        valid = rules.action_masks[np.minimum(state.lengths, rules.max_new_tokens), actions]
        stop = active & valid & (actions == rules.eos_id)
        invalid = active & ~valid
        appending = active & ~stop
        self.append(appending, np.where(valid, actions, rules.unk_id))
        state.elapsed[active] += 1
        terminated = stop | (appending & (state.lengths >= rules.max_new_tokens))
        truncated = np.zeros(len(actions), dtype=bool)
        if rules.max_episode_steps:
            truncated = active & (state.elapsed >= rules.max_episode_steps)

        distances = self.distances(active)
        rewards = np.zeros(len(actions))
        if rules.dense:
            going_on = active & ~terminated
            potential = self.dense_potentials(going_on)
            rewards = np.where(going_on, potential - state.potential, 0.0)
            state.potential[:] = np.where(going_on, potential, state.potential)
        similarities = np.zeros(len(actions))
        if np.count_nonzero(terminated):
            final = self.task.reward.terminal(-distances / state.scales, distances, self.exact_matches(), state.potential)
            rewards = np.where(terminated, final, rewards)
            similarities = self.final_similarities(terminated, distances)
        if np.count_nonzero(resetting):
            envs = resetting.nonzero()[0]
            self.start(envs)
            distances[envs] = self.distances(resetting)[envs]
        return StepOutput(rewards + 0.0, similarities, distances, terminated, truncated, invalid)

    def exact_matches(self) -> np.ndarray | None:
        """Whether each generation equals its target (only when the reward mode reads it)."""
        if not self.rules.terminal_weights[3]:
            return None
        state = self.state
        positions = np.arange(self.rules.max_new_tokens)
        same = (state.generated == state.targets) | (positions >= state.target_lengths[:, None])
        return (state.lengths == state.target_lengths) & np.all(same, axis=1)

    def append(self, mask: np.ndarray, tokens: np.ndarray) -> None:
        state = self.state
        envs = mask.nonzero()[0]
        state.generated[envs, state.lengths[envs]] = tokens[envs]
        state.lengths[envs] += 1
        if self.incremental and len(envs):
            # Advancing every row is cheaper than selecting; the rows of envs that append nothing are put back.
            kept = (~mask).nonzero()[0]
            saved = self.rows[:, kept]
            self.rows = numpy_rows.advance_rows(self.rows, self.targets_by_position, tokens, self.rules.substitution_cost)
            self.rows[:, kept] = saved

    def distances(self, mask: np.ndarray | None = None) -> np.ndarray:
        state = self.state
        if self.incremental:
            return numpy_rows.distance_at(self.rows, state.target_lengths).astype(np.int64)
        values = np.zeros(self.num_envs, dtype=np.int64 if self.metric.counts_edits else np.float64)
        envs = range(self.num_envs) if mask is None else mask.nonzero()[0].tolist()
        for i in envs:
            values[i] = self.metric.measure(self.generated_ids(i), self.target_ids(i))
        return values

    def dense_potentials(self, mask: np.ndarray) -> np.ndarray:
        if self.incremental:
            return -numpy_rows.best_reachable(self.rows, self.offsets) / self.state.scales
        values = np.zeros(len(mask))
        for i in mask.nonzero()[0].tolist():
            values[i] = self.metric.prefix_potential(self.generated_ids(i), self.target_ids(i))
        return values

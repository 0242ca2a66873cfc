"""TextGeneration-v0, batched: all episodes advance together in numpy arrays."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from textgen_env import compiled
from textgen_env import distance as kernels
from textgen_env.rendering import render_episode
from textgen_env.rewards import similarity, terminal_reward
from textgen_env.task import RENDER_MODES, TextTask
from textgen_env.tokenizers import EOS_ID, UNK_ID

# Uniform draws kept ready per env, so that picking the next pair at an autoreset
# needs no Python loop; each env's buffer is refilled from its own generator, which
# yields exactly the draws the single env would make one reset at a time.
_DRAWS_PER_REFILL = 64
BACKENDS = ("auto", "numba", "numpy")


class TextGenerationVectorEnv(VectorEnv):
    """`num_envs` TextGeneration-v0 episodes stepped as one batch.

    Takes every argument of :class:`~textgen_env.env.TextGenerationEnv`, plus
    ``num_envs``, ``autoreset_mode`` (NEXT_STEP, Gymnasium's default, or SAME_STEP),
    ``max_episode_steps`` (truncation, as ``TimeLimit`` does) and ``render_indices``
    (the envs that :meth:`render` shows; all by default) and ``backend``: "auto"
    (the default) steps Levenshtein/Indel envs with the compiled kernels of
    :mod:`textgen_env.compiled` when numba is installed (the ``fast`` extra) and
    with numpy otherwise; "numba" or "numpy" asks for one. Beyond the single env's
    reset options, ``options={"index": array}`` gives each env its own pair. For the
    same seeds and actions it returns exactly what ``SyncVectorEnv`` over single
    envs returns.

    Levenshtein and Indel distances are updated by the batched row kernel of
    :mod:`textgen_env.distance` (or its compiled twin) with no Python loop over
    envs; the other metrics call rapidfuzz once per env and step. The texts of
    finished episodes in ``info`` are decoded together, with the tokenizer's
    ``decode_padded`` where it has one.
    """

    metadata = {"render_modes": list(RENDER_MODES), "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(
        self,
        num_envs: int = 1,
        *,
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        max_episode_steps: int | None = None,
        render_mode: str | None = None,
        render_indices: Sequence[int] | None = None,
        backend: str = "auto",
        **task_kwargs,
    ):
        if isinstance(num_envs, bool) or not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
            raise ValueError(f"num_envs={num_envs!r}: must be a positive integer")
        modes = {AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP}
        try:
            autoreset_mode = AutoresetMode(autoreset_mode)
        except ValueError:
            autoreset_mode = None
        if autoreset_mode not in modes:
            raise ValueError(f"autoreset_mode: allowed values are {[m.value for m in modes]}")
        if max_episode_steps is not None and (not isinstance(max_episode_steps, (int, np.integer)) or max_episode_steps < 1):
            raise ValueError(f"max_episode_steps={max_episode_steps!r}: must be a positive integer or None")

        if backend not in BACKENDS:
            raise ValueError(f"backend={backend!r}: allowed values are {list(BACKENDS)}")

        self.task = TextTask(render_mode=render_mode, **task_kwargs)
        incremental = self.task.metric.substitution_cost is not None
        if backend == "numba" and not (compiled.AVAILABLE and incremental):
            why = "numba is not installed: pip install 'textgen-env[fast]'" if not compiled.AVAILABLE else f"metric {self.task.metric.name!r} has no compiled kernel (levenshtein and indel do)"
            raise ValueError(f"backend='numba': {why}")
        self._compiled = backend != "numpy" and compiled.AVAILABLE and incremental
        self.backend = "numba" if self._compiled else "numpy"
        self.num_envs = int(num_envs)
        self.render_mode = render_mode
        self.render_indices = list(range(self.num_envs)) if render_indices is None else [int(i) for i in render_indices]
        self.metadata = {**self.metadata, "autoreset_mode": autoreset_mode}
        self.autoreset_mode = autoreset_mode
        self.max_episode_steps = max_episode_steps
        self.tokenizer = self.task.tokenizer
        self.metric = self.task.metric
        self.single_action_space = self.task.action_space
        self.single_observation_space = self.task.observation_space
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)

        n, width = self.num_envs, self.task.max_new_tokens
        self._env_ids = np.arange(n)
        self._every_env = np.ones(n, dtype=bool)
        self._columns = np.arange(width)
        self._pair = np.zeros(n, dtype=np.int64)
        self._prompts = np.zeros((n, self.task.max_prompt_tokens), dtype=np.int64)
        self._generated = np.zeros((n, width), dtype=np.int64)
        self._lengths = np.zeros(n, dtype=np.int64)
        self._targets = np.full((width, n), kernels.TARGET_PAD, dtype=np.int32)  # position-first, as the kernels want
        self._target_lengths = np.zeros(n, dtype=np.int64)
        self._scales = np.ones(n)
        if self._compiled:  # each backend keeps the DP state its kernels work on
            self._bits = np.zeros((2, n, -(-width // compiled.WORD) or 1), dtype=np.uint64)
        else:
            self._rows = kernels.initial_rows((n,), width)
            self._offsets = kernels.reachable_offsets(self._target_lengths, width)
        self._potential = np.zeros(n)
        self._elapsed = np.zeros(n, dtype=np.int64)
        self._needs_reset = np.zeros(n, dtype=bool)  # NEXT_STEP: envs whose episode ended last step
        self._custom_pair: tuple[list[int], list[int]] | None = None
        self._target_text_table = np.array(self.task.target_texts, dtype=object)
        self._generators: list[np.random.Generator] = []
        self._draws = np.zeros((n, _DRAWS_PER_REFILL))
        self._draw_position = np.zeros(n, dtype=np.int64)
        self._closed = False
        if self._compiled:
            self._step_arguments, self._reset_arguments = self._compiled_arguments()

    # -- Gymnasium API -------------------------------------------------------------

    def reset(self, *, seed: int | Sequence[int] | None = None, options: dict | None = None):
        if seed is not None or not self._generators:
            self._seed_generators(seed)
        options = options or {}
        unknown = set(options) - {"index", "prompt", "target"}
        if unknown:
            raise ValueError(f"unknown reset options {sorted(unknown)}; allowed: 'index', or 'prompt' with 'target'")
        everyone = np.ones(self.num_envs, dtype=bool)
        draws = self._next_draws(everyone)
        self._custom_pair = None
        if "prompt" in options or "target" in options:
            self._custom_pair = self.task.encode_pair(options.get("prompt"), options.get("target"))
            pairs = np.full(self.num_envs, -1)
        elif "index" in options:
            # A native extension: an array gives one pair index per env.
            indices = np.broadcast_to(np.asarray(options["index"], dtype=object), (self.num_envs,)).tolist()
            pairs = np.array([self.task.check_index(i) for i in indices], dtype=np.int64)
        else:
            pairs = self._pairs_for(draws)
        self._start_episodes(everyone, pairs)
        self._needs_reset = np.zeros(self.num_envs, dtype=bool)
        return self._observations(), self._reset_infos(everyone)

    def step(self, actions):
        if not self._generators:
            raise RuntimeError("step() called before reset(); call reset() first")
        actions = self._check_actions(actions, check_range=not self._compiled)  # the kernel checks the range
        resetting = self._needs_reset  # NEXT_STEP: envs whose episode ended last step start over now
        infos = {}
        advance = self._advance_compiled if self._compiled else self._advance
        rewards, terminated, truncated, distances, invalid, similarities = advance(actions, resetting)
        done = terminated | truncated

        # Every env reports a distance (a restarted one, its reset's).
        # (np.count_nonzero tests a mask several times faster than .any(): this is the hot path.)
        step_infos = {"distance": distances.astype(self._distance_type, copy=False), "_distance": self._every_env.copy()}
        if np.count_nonzero(invalid):
            step_infos["invalid_action"], step_infos["_invalid_action"] = invalid, invalid.copy()
        if np.count_nonzero(terminated):
            self._add_end_infos(step_infos, terminated, similarities)

        if self.autoreset_mode == AutoresetMode.SAME_STEP:
            if done.any():
                final_obs = self._observations()
                infos["final_obs"] = np.full(self.num_envs, None, dtype=object)
                for i in np.flatnonzero(done):
                    infos["final_obs"][i] = _select(final_obs, i)
                infos["_final_obs"] = done.copy()
                infos["final_info"] = _mask_infos(step_infos, done)
                infos["_final_info"] = done.copy()
                step_infos = _mask_infos(step_infos, ~done)
                self._reset_finished(done)
                _merge(step_infos, self._reset_infos(done))
        else:
            if np.count_nonzero(resetting):  # restarted by _advance: their reset's info
                step_infos["index"], step_infos["_index"] = self._pair * resetting, resetting.copy()  # 0 where not reset
            self._needs_reset = done
        infos.update(step_infos)  # keys apart from SAME_STEP's final_obs/final_info
        return self._observations(), rewards, terminated, truncated, infos

    def render(self):
        if self.render_mode is None:
            return None
        frames = tuple(self._render_env(i) for i in self.render_indices)
        if self.render_mode == "human":
            print("\n".join(frames))
            return None
        return frames

    def action_masks(self) -> np.ndarray:
        """(num_envs, vocab_size) boolean mask of the valid actions."""
        masks = np.broadcast_to(self.task.valid_actions, (self.num_envs, self.task.vocab_size)).copy()
        masks[:, EOS_ID] = self._lengths >= self.task.min_new_tokens
        return masks

    def close_extras(self, **kwargs):
        self._closed = True

    # -- seed API ------------------------------------------------------------------

    def get_text_data(self) -> list[str]:
        return self.task.dataset.prompts

    def get_target_texts(self) -> list[str]:
        return self.task.dataset.targets

    # -- batched episode state -----------------------------------------------------

    @property
    def _distance_type(self):
        return int if self.metric.counts_edits else float

    def _seed_generators(self, seed) -> None:
        if seed is None:
            seeds = [None] * self.num_envs
        elif isinstance(seed, (int, np.integer)):
            seeds = [int(seed) + i for i in range(self.num_envs)]
        else:
            seeds = list(seed)
            if len(seeds) != self.num_envs:
                raise ValueError(f"seed list has {len(seeds)} entries; num_envs={self.num_envs}")
        self._generators = [seeding.np_random(s)[0] for s in seeds]
        for i, generator in enumerate(self._generators):
            self._draws[i] = generator.random(_DRAWS_PER_REFILL)
        self._draw_position[:] = 0

    def _next_draws(self, mask: np.ndarray) -> np.ndarray:
        envs = np.flatnonzero(mask)
        positions = self._draw_position[envs]
        self._draw_position[envs] = positions + 1
        draws = self._draws[envs, positions]
        self._refill_emptied(envs)
        return draws

    def _refill_emptied(self, envs: np.ndarray) -> None:
        """Refill the draw buffers of `envs` that are used up, so a position is always valid."""
        for i in envs[self._draw_position[envs] == _DRAWS_PER_REFILL]:
            self._draws[i] = self._generators[i].random(_DRAWS_PER_REFILL)
            self._draw_position[i] = 0

    def _pairs_for(self, draws: np.ndarray) -> np.ndarray:
        size = len(self.task.dataset)
        return np.minimum((draws * size).astype(np.int64), size - 1)

    def _advance(self, actions: np.ndarray, resetting: np.ndarray):
        """One step: the envs in `resetting` start a new episode, the others take their action.

        Returns (rewards, terminated, truncated, distances, invalid, similarities):
        a restarted env's distance is its reset's; similarities (of finished
        episodes) only for Levenshtein, else None.
        """
        active = ~resetting
        stop = active & (actions == EOS_ID) & (self._lengths >= self.task.min_new_tokens)
        invalid = active & ~stop & ~self.task.valid_actions[actions]
        appending = active & ~stop
        self._append(appending, np.where(invalid, UNK_ID, actions))
        self._elapsed += active
        terminated = stop | (appending & (self._lengths >= self.task.max_new_tokens))
        truncated = np.zeros(self.num_envs, dtype=bool)
        if self.max_episode_steps is not None:
            truncated = active & (self._elapsed >= self.max_episode_steps)

        distances = self._distances(active)
        rewards = np.zeros(self.num_envs)
        if self.task.reward_mode == "dense":
            potential = self._dense_potentials(active & ~terminated)
            rewards = np.where(active & ~terminated, potential - self._potential, 0.0)
            self._potential = np.where(active & ~terminated, potential, self._potential)
        if terminated.any():
            exact = None
            if self.task.reward_mode == "exact":
                exact = (self._lengths == self._target_lengths) & np.all(
                    (self._generated == self._targets.T) | (self._columns >= self._target_lengths[:, None]), axis=1
                )
            scores = -distances / self._scales
            final = terminal_reward(self.task.reward_mode, scores, distances, exact, self._potential)
            rewards = np.where(terminated, final, rewards)
        rewards = rewards + 0.0
        similarities = None
        if self.metric.name == "levenshtein":
            # rapidfuzz's normalized similarity, 1 - d / max(len) (1 for two empty texts), from the distances at hand
            longest = np.maximum(np.maximum(self._lengths, self._target_lengths), 1)
            similarities = np.where(terminated, 1.0 - distances / longest, 0.0)
        if resetting.any():
            self._reset_finished(resetting)
            distances = np.where(resetting, self._distances(resetting), distances)
        return rewards, terminated, truncated, distances, invalid, similarities

    def _advance_compiled(self, actions: np.ndarray, resetting: np.ndarray):
        """:meth:`_advance` as one call of the compiled kernel."""
        n = self.num_envs
        rewards, similarities = np.empty((2, n))
        distances = np.empty(n, dtype=np.int64)  # edit counts, as the info reports them
        terminated, truncated, invalid = np.empty((3, n), dtype=bool)
        emptied = compiled.advance_episodes(actions, resetting, *self._step_arguments, rewards, terminated, truncated, distances, invalid, similarities)
        if emptied < 0:
            self._reject_out_of_range(actions)
        if emptied:
            self._refill_emptied(np.flatnonzero(resetting))
        return rewards, terminated, truncated, distances, invalid, similarities if self.metric.name == "levenshtein" else None

    def _compiled_arguments(self) -> tuple[tuple, tuple]:
        """What the compiled kernels take besides each call's own arrays: (step's, reset's).

        Made once: in the compiled backend these arrays are only ever updated in place.
        """
        task = self.task
        episode = (self._prompts, self._pair, self._draws, self._draw_position, task.prompt_matrix, task.target_matrix, task.target_lengths, self.metric.counts_edits)
        state = (self._generated, self._lengths, self._elapsed, self._bits, self._targets, self._target_lengths, self._scales, self._potential, episode)
        settings = (task.valid_actions, task.min_new_tokens, task.max_new_tokens, self.max_episode_steps or 0, self.metric.substitution_cost, compiled.REWARD_CODES[task.reward_mode])
        return (*settings, compiled.match_masks(task.target_matrix, task.target_lengths, task.vocab_size), *state), state

    def _reset_finished(self, mask: np.ndarray) -> None:
        if not self._compiled:
            self._start_episodes(mask, self._pairs_for(self._next_draws(mask)))
            return
        envs = np.flatnonzero(mask)
        if compiled.start_episodes(envs, *self._reset_arguments):
            self._refill_emptied(envs)

    def _start_episodes(self, mask: np.ndarray, pairs: np.ndarray) -> None:
        envs = np.flatnonzero(mask)
        self._pair[envs] = pairs
        if self._custom_pair is not None and (pairs < 0).any():
            prompt, target = self._custom_pair
            self._prompts[envs] = self.task.pad_prompts([prompt])[0]
            self._targets[:, envs] = kernels.TARGET_PAD
            self._targets[: len(target), envs] = np.asarray(target)[:, None]
            self._target_lengths[envs] = len(target)
        else:
            self._prompts[envs] = self.task.prompt_matrix[pairs]
            self._targets[:, envs] = self.task.target_matrix[pairs].T
            self._target_lengths[envs] = self.task.target_lengths[pairs]
        self._generated[envs] = 0
        self._lengths[envs] = 0
        self._elapsed[envs] = 0
        self._potential[envs] = 0.0
        if self._compiled:
            compiled.reset_columns(envs, self._bits, self._target_lengths)
        else:
            self._rows[:, envs] = 0
            self._offsets[:, envs] = kernels.reachable_offsets(self._target_lengths[envs], self.task.max_new_tokens)
        self._scales[envs] = np.maximum(1, self._target_lengths[envs]) if self.metric.counts_edits else 1.0

    def _append(self, mask: np.ndarray, tokens: np.ndarray) -> None:
        envs = np.flatnonzero(mask)
        self._generated[envs, self._lengths[envs]] = tokens[envs]
        self._lengths[envs] += 1
        if self.metric.substitution_cost is not None and len(envs):
            # Advancing every row is cheaper than selecting; rows of envs that append
            # nothing are put back (those about to reset need no care: reset rewrites them).
            kept = np.flatnonzero(~mask & ~self._needs_reset)
            saved = self._rows[:, kept]
            self._rows = kernels.advance_rows(self._rows, self._targets, tokens, self.metric.substitution_cost)
            self._rows[:, kept] = saved

    def _distances(self, mask: np.ndarray) -> np.ndarray:
        if self._compiled:
            values = np.empty(self.num_envs)
            compiled.current_distances(self._lengths, self._bits, self._target_lengths, values)
            return values
        if self.metric.substitution_cost is not None:
            return kernels.distance_at(self._rows, self._target_lengths).astype(np.float64)
        values = np.zeros(self.num_envs)
        for i in np.flatnonzero(mask):
            values[i] = self.metric.distance(self._generated_ids(i), self._target_ids(i))
        return values

    def _dense_potentials(self, mask: np.ndarray) -> np.ndarray:
        if self.metric.substitution_cost is not None:
            return -kernels.best_reachable(self._rows, self._offsets) / self._scales
        values = np.zeros(self.num_envs)
        for i in np.flatnonzero(mask):
            values[i] = self.metric.prefix_potential(self._generated_ids(i), self._target_ids(i))
        return values

    def _generated_ids(self, i: int) -> list[int]:
        return self._generated[i, : self._lengths[i]].tolist()

    def _target_ids(self, i: int) -> list[int]:
        pair = self._pair[i]
        return self._custom_pair[1] if pair < 0 else self.task.target_ids[pair]

    def _target_text(self, i: int) -> str:
        pair = self._pair[i]
        return self.tokenizer.decode(self._custom_pair[1]) if pair < 0 else self.task.target_texts[pair]

    def _prompt_ids(self, i: int) -> list[int]:
        pair = self._pair[i]
        return self._custom_pair[0] if pair < 0 else self.task.prompt_ids[pair]

    def _observations(self):
        if self.task.flat_observation:
            return np.concatenate([self._prompts, self._generated], axis=1)
        return {"prompt": self._prompts.copy(), "generated": self._generated.copy()}

    # -- infos, shaped as SyncVectorEnv shapes them ---------------------------------

    def _reset_infos(self, mask: np.ndarray) -> dict:
        """What the single env's reset() puts in info, for the envs in `mask`."""
        infos = {}
        _put(infos, "distance", self._distances(mask), mask, self._distance_type)
        _put(infos, "index", self._pair, mask, int)
        return infos

    def _add_end_infos(self, infos: dict, mask: np.ndarray, similarities: np.ndarray | None) -> None:
        """The texts and similarity of the episodes in `mask`, which just ended (similarities: when already known)."""
        envs = mask.nonzero()[0]
        generated_text = np.empty(self.num_envs, dtype=object)  # None where no episode ended
        target_text = np.empty(self.num_envs, dtype=object)
        decode_padded = getattr(self.tokenizer, "decode_padded", None)  # optional, batched
        if decode_padded is not None:
            # Rows are PAD past their length; as unsigned, the tokenizer knows no id is negative.
            generated_text[envs] = decode_padded(self._generated[envs].view(np.uint64))
        else:
            generated_text[envs] = [self.tokenizer.decode(self._generated_ids(i)) for i in envs.tolist()]
        if self._custom_pair is None:
            target_text[envs] = self._target_text_table[self._pair[envs]]
        else:
            target_text[envs] = [self._target_text(i) for i in envs.tolist()]
        if similarities is None:
            similarities = np.zeros(self.num_envs)
            for i in envs.tolist():
                similarities[i] = similarity(self._generated_ids(i), self._target_ids(i))
        infos["generated_text"], infos["_generated_text"] = generated_text, mask.copy()
        infos["target_text"], infos["_target_text"] = target_text, mask.copy()
        infos["similarity"], infos["_similarity"] = similarities, mask.copy()

    def _render_env(self, i: int) -> str:
        distance = self._distance_type(self._distances(self._env_ids == i)[i])
        return f"env {i}:\n" + render_episode(self.tokenizer, self._prompt_ids(i), self._generated_ids(i), self._target_ids(i), distance, self.metric.name, bool(self._needs_reset[i]))

    def _check_actions(self, actions, check_range: bool = True) -> np.ndarray:
        actions = np.asarray(actions)
        if actions.shape != (self.num_envs,):
            raise ValueError(f"actions have shape {actions.shape}; expected ({self.num_envs},) for num_envs={self.num_envs}")
        if actions.dtype.kind not in "iu":
            raise ValueError(f"actions must be integers, got dtype {actions.dtype}")
        if check_range and (actions.min() < 0 or actions.max() >= self.task.vocab_size):
            self._reject_out_of_range(actions)
        return actions.astype(np.int64, copy=False)

    def _reject_out_of_range(self, actions: np.ndarray):
        bad = (actions < 0) | (actions >= self.task.vocab_size)
        raise ValueError(f"actions {actions[bad].tolist()} (envs {np.flatnonzero(bad).tolist()}) are outside Discrete({self.task.vocab_size})")


def _put(infos: dict, key: str, values: np.ndarray, mask: np.ndarray, kind: type) -> None:
    """Add a batched info entry (zeros where `mask` is False), only if some env has it."""
    if mask.any():
        infos[key], infos[f"_{key}"] = np.where(mask, values, 0).astype(kind, copy=False), mask.copy()


def _mask_infos(infos: dict, mask: np.ndarray) -> dict:
    """The entries of `infos` restricted to the envs in `mask`, dropping keys none of them has."""
    kept = {}
    for key, value in infos.items():
        if key.startswith("_"):
            continue
        present = infos[f"_{key}"] & mask
        if present.any():
            array = np.zeros_like(value) if value.dtype != object else np.full(len(mask), None, dtype=object)
            array[present] = value[present]
            kept[key], kept[f"_{key}"] = array, present
    return kept


def _merge(infos: dict, more: dict) -> None:
    """Merge batched infos, combining the masks of keys both hold."""
    for key, value in more.items():
        if key.startswith("_"):
            continue
        mask = more[f"_{key}"]
        if key in infos:
            infos[key] = np.where(mask, value, infos[key])
            infos[f"_{key}"] = infos[f"_{key}"] | mask
        else:
            infos[key], infos[f"_{key}"] = value, mask.copy()


def _select(observations, i: int):
    if isinstance(observations, dict):
        return {key: value[i].copy() for key, value in observations.items()}
    return observations[i].copy()

"""TextGeneration-v0, batched: every episode advances together, in numpy or in one compiled call."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from textgen_env.env import check_reset_options, check_seed
from textgen_env.kernels import numba_batch, numpy_batch
from textgen_env.kernels.numba_batch import Episodes, Pairs, Rules, StepOutput
from textgen_env.rendering import render_rgb, render_text
from textgen_env.rewards import similarity, similarity_from_distance
from textgen_env.task import RENDER_MODES, TARGET_PAD, TOKEN_DTYPE, TextTask, check_integer, task_arguments
from textgen_env.tokenizers import EOS_ID, PAD_ID, UNK_ID

BACKENDS = ("auto", "numba", "numpy")
INFO_KEYS = ("distance", "index", "invalid_action", "similarity")
# Pairs drawn ahead per env, so that an autoreset picks its pair with no Python loop;
# each env's block is refilled from its own generator, with exactly the draws the
# single env would make one reset at a time.
_DRAWS_PER_REFILL = 64


class PairDraws:
    """Each env's next pairs, drawn ahead in blocks from its own generator through ``TextTask.draw_indices``."""

    def __init__(self, task: TextTask, num_envs: int):
        self.task = task
        self.generators: list[np.random.Generator] = []
        self.next_pairs = np.zeros((num_envs, _DRAWS_PER_REFILL), dtype=np.int64)
        self.position = np.zeros(num_envs, dtype=np.int64)

    @property
    def seeded(self) -> bool:
        return bool(self.generators)

    def seed(self, seed) -> None:
        n = len(self.position)
        if seed is None:
            seeds = [None] * n
        elif isinstance(seed, (int, np.integer)) and not isinstance(seed, (bool, np.bool_)):
            check_seed(seed)
            seeds = [int(seed) + i for i in range(n)]
        elif isinstance(seed, (list, tuple, np.ndarray)):
            seeds = list(seed)
            if len(seeds) != n:
                raise ValueError(f"seed list has {len(seeds)} entries; num_envs={n}")
            for s in seeds:
                check_seed(s)
        else:
            raise ValueError(f"seed={seed!r}: must be None, a non-negative integer, or a list of {n} of them")
        self.generators = [seeding.np_random(s)[0] for s in seeds]
        for i in range(n):
            self.next_pairs[i] = self.task.draw_indices(self.generators[i].random(_DRAWS_PER_REFILL))
        self.position[:] = 0

    def take(self, envs: np.ndarray) -> np.ndarray:
        """The next pair of each env in `envs` (indices), consumed."""
        positions = self.position[envs]
        self.position[envs] = positions + 1
        pairs = self.next_pairs[envs, positions]
        self.refill_used_up(envs)
        return pairs

    def refill_used_up(self, envs: np.ndarray) -> None:
        for i in envs[self.position[envs] == _DRAWS_PER_REFILL]:
            self.next_pairs[i] = self.task.draw_indices(self.generators[i].random(_DRAWS_PER_REFILL))
            self.position[i] = 0


class _Backend:
    """What both backends share: the env they step, and the similarities of ended episodes."""

    name = ""

    def __init__(self, env: TextGenerationVectorEnv):
        self.env, self.task, self.episodes = env, env.task, env.episodes
        self.metric = self.task.metric

    def final_similarities(self, ended: np.ndarray, distances: np.ndarray) -> np.ndarray:
        """The similarity of each episode in `ended`, 0 elsewhere (from the distances for Levenshtein)."""
        ep = self.episodes
        if self.metric.name == "levenshtein":
            return np.where(ended, similarity_from_distance(distances, ep.lengths, ep.target_lengths), 0.0)
        values = np.zeros(len(ended))
        for i in ended.nonzero()[0].tolist():
            values[i] = similarity(self.env.generated_ids(i), self.env.target_ids(i))
        return values


class NumpyBackend(_Backend):
    """The step in numpy: DP rows for Levenshtein and Indel, one rapidfuzz call per env for other metrics."""

    name = "numpy"

    def __init__(self, env: TextGenerationVectorEnv):
        super().__init__(env)
        self.incremental = self.metric.substitution_cost is not None
        n, width = env.num_envs, self.task.max_new_tokens
        self.rows = numpy_batch.initial_rows((n,), width)
        self.offsets = numpy_batch.reachable_offsets(np.zeros(n, dtype=np.int64), width)
        self.env_ids = np.arange(n)

    def start(self, envs: np.ndarray) -> None:
        """Fresh DP state for `envs`, whose targets were just set."""
        self.rows[:, envs] = 0
        self.offsets[:, envs] = numpy_batch.reachable_offsets(self.episodes.target_lengths[envs], self.task.max_new_tokens)

    def restart(self, envs: np.ndarray) -> None:
        """Begin the next drawn pair in each env of `envs` (autoresets)."""
        self.env.begin_episodes(envs, self.env.draws.take(envs))

    def advance(self, actions: np.ndarray, resetting: np.ndarray) -> StepOutput:
        """One step: the envs in `resetting` start a new episode, the others take their action."""
        ep, task, rules = self.episodes, self.task, self.task.rules
        active = ~resetting
        valid = rules.action_mask_table[np.minimum(ep.lengths, task.max_new_tokens), actions]
        stop = active & valid & (actions == EOS_ID)
        invalid = active & ~valid
        appending = active & ~stop
        self.append(appending, np.where(valid, actions, UNK_ID))
        ep.elapsed[active] += 1
        terminated = stop | (appending & (ep.lengths >= task.max_new_tokens))
        truncated = np.zeros(len(actions), dtype=bool)
        if self.env.max_episode_steps is not None:
            truncated = active & (ep.elapsed >= self.env.max_episode_steps)

        distances = self.distances(active)
        rewards = np.zeros(len(actions))
        if task.reward.dense:
            going_on = active & ~terminated
            potential = self.dense_potentials(going_on)
            rewards = np.where(going_on, potential - ep.potential, 0.0)
            ep.potential[:] = np.where(going_on, potential, ep.potential)
        similarities = np.zeros(len(actions))
        if np.count_nonzero(terminated):
            exact = None
            if task.reward.name == "exact":
                positions = np.arange(task.max_new_tokens)
                exact = (ep.lengths == ep.target_lengths) & np.all(
                    (ep.generated == ep.targets.T) | (positions >= ep.target_lengths[:, None]), axis=1
                )
            final = task.reward.terminal(-distances / ep.scales, distances, exact, ep.potential)
            rewards = np.where(terminated, final, rewards)
            similarities = self.final_similarities(terminated, distances)
        if np.count_nonzero(resetting):
            envs = resetting.nonzero()[0]
            self.restart(envs)
            distances[envs] = self.distances(resetting)[envs]
        return StepOutput(rewards + 0.0, similarities, distances, terminated, truncated, invalid)

    def append(self, mask: np.ndarray, tokens: np.ndarray) -> None:
        ep = self.episodes
        envs = mask.nonzero()[0]
        ep.generated[envs, ep.lengths[envs]] = tokens[envs]
        ep.lengths[envs] += 1
        if self.incremental and len(envs):
            # Advancing every row is cheaper than selecting; the rows of envs that append nothing are put back.
            kept = (~mask).nonzero()[0]
            saved = self.rows[:, kept]
            self.rows = numpy_batch.advance_rows(self.rows, ep.targets, tokens, self.metric.substitution_cost)
            self.rows[:, kept] = saved

    def distances(self, mask: np.ndarray | None = None) -> np.ndarray:
        """Each env's distance to its target (only the envs in `mask` are computed for non-incremental metrics)."""
        ep = self.episodes
        if self.incremental:
            return numpy_batch.distance_at(self.rows, ep.target_lengths).astype(np.int64)
        values = np.zeros(len(ep.lengths), dtype=np.int64 if self.metric.counts_edits else np.float64)
        for i in (self.env_ids if mask is None else mask.nonzero()[0]).tolist():
            values[i] = self.metric.measure(self.env.generated_ids(i), self.env.target_ids(i))
        return values

    def dense_potentials(self, mask: np.ndarray) -> np.ndarray:
        if self.incremental:
            return -numpy_batch.best_reachable(self.rows, self.offsets) / self.episodes.scales
        values = np.zeros(len(mask))
        for i in mask.nonzero()[0].tolist():
            values[i] = self.metric.prefix_potential(self.env.generated_ids(i), self.env.target_ids(i))
        return values


class NumbaBackend(_Backend):
    """The step as one compiled call (:mod:`textgen_env.kernels.numba_batch`); Levenshtein and Indel."""

    name = "numba"

    def __init__(self, env: TextGenerationVectorEnv):
        super().__init__(env)
        task = self.task
        rules = Rules(
            task.rules.action_mask_table,
            task.max_new_tokens,
            env.max_episode_steps or 0,
            self.metric.substitution_cost,
            task.reward.code,
            EOS_ID,
            UNK_ID,
        )
        masks = numba_batch.match_masks(task.target_matrix, task.target_lengths, task.vocab_size)
        pairs = Pairs(task.prompt_matrix, task.target_matrix, task.target_lengths, task.pair_scales, masks)
        # Made once: the kernels update these arrays in place.
        self.arguments = tuple(rules), tuple(pairs), tuple(self.episodes)

    def start(self, envs: np.ndarray) -> None:
        numba_batch.reset_columns(envs, self.episodes.columns, self.episodes.target_lengths)

    def restart(self, envs: np.ndarray) -> None:
        if numba_batch.start_episodes(envs, *self.arguments[1:]):
            self.env.draws.refill_used_up(envs)

    def advance(self, actions: np.ndarray, resetting: np.ndarray) -> StepOutput:
        n = len(actions)
        floats = np.empty((2, n))
        flags = np.empty((3, n), dtype=bool)
        out = StepOutput(floats[0], floats[1], np.empty(n, dtype=np.int64), flags[0], flags[1], flags[2])
        used_up = numba_batch.advance_episodes(actions, resetting, *self.arguments, tuple(out))
        if used_up == -2:
            raise RuntimeError("the compiled step was asked to advance an episode that has ended without resetting it")
        if used_up < 0:
            self.env.reject_out_of_range(actions)
        if used_up:
            self.env.draws.refill_used_up(resetting.nonzero()[0])
        if self.metric.name != "levenshtein" and np.count_nonzero(out.terminated):
            out.similarities[:] = self.final_similarities(out.terminated, out.distances)
        return out

    def distances(self, mask: np.ndarray | None = None) -> np.ndarray:
        values = np.empty(len(self.episodes.lengths), dtype=np.int64)
        numba_batch.current_distances(self.episodes.lengths, self.episodes.columns, self.episodes.target_lengths, values)
        return values


class TextGenerationVectorEnv(VectorEnv):
    """`num_envs` TextGeneration-v0 episodes stepped as one batch.

    Takes every argument of :class:`~textgen_env.env.TextGenerationEnv`, plus
    ``num_envs``, ``autoreset_mode`` (NEXT_STEP, Gymnasium's default, or SAME_STEP),
    ``max_episode_steps`` (truncation, as ``TimeLimit`` does), ``render_indices``
    (the envs that :meth:`render` shows; all by default) and ``backend``: "auto"
    (the default) steps Levenshtein/Indel envs in one compiled call when numba is
    installed (the ``fast`` extra) and in numpy otherwise; "numba" or "numpy" asks
    for one. Beyond the single env's reset options, ``options={"index": array}``
    gives each env its own pair. For the same seeds and actions it returns exactly
    what ``SyncVectorEnv`` over single envs returns, infos included: every key on
    every step, with Gymnasium's ``_key`` masks.
    """

    metadata = {"render_modes": list(RENDER_MODES), "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(
        self,
        num_envs: int = 1,
        *,
        task: str | None = None,
        dataset=None,
        split: str = "train",
        tokenizer=None,
        reward: str = "dense",
        metric="levenshtein",
        max_prompt_tokens: int | None = None,
        max_new_tokens: int | None = None,
        min_new_tokens: int = 1,
        render_mode: str | None = None,
        flat_observation: bool = False,
        task_options: dict | None = None,
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        max_episode_steps: int | None = None,
        render_indices: Sequence[int] | None = None,
        backend: str = "auto",
    ):
        self.num_envs = check_integer("num_envs", num_envs, 1)
        self.autoreset_mode = _check_autoreset_mode(autoreset_mode)
        self.max_episode_steps = (
            None if max_episode_steps is None else check_integer("max_episode_steps", max_episode_steps, 1)
        )
        if backend not in BACKENDS:
            raise ValueError(f"backend={backend!r}: allowed values are {list(BACKENDS)}")
        self.task = TextTask(**task_arguments(locals()))
        self.render_mode = render_mode
        self.render_indices = _check_render_indices(render_indices, self.num_envs)
        self.metadata = {**self.metadata, "autoreset_mode": self.autoreset_mode}
        self.tokenizer = self.task.tokenizer
        self.metric = self.task.metric
        self.single_action_space = self.task.action_space
        self.single_observation_space = self.task.observation_space
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)

        compiled = _choose_compiled(backend, self.metric)
        self.draws = PairDraws(self.task, self.num_envs)
        self.episodes = self._empty_episodes(words=-(-self.task.max_new_tokens // numba_batch.WORD) if compiled else 0)
        self._backend = NumbaBackend(self) if compiled else NumpyBackend(self)
        self.backend = self._backend.name
        self._custom_pair: tuple[list[int], list[int]] | None = None
        self._needs_reset = np.zeros(self.num_envs, dtype=bool)  # NEXT_STEP: envs whose episode ended last step

    def _empty_episodes(self, words: int) -> Episodes:
        n, task = self.num_envs, self.task
        return Episodes(
            pair=np.zeros(n, dtype=np.int64),
            prompts=np.zeros((n, task.max_prompt_tokens), dtype=TOKEN_DTYPE),
            generated=np.zeros((n, task.max_new_tokens), dtype=TOKEN_DTYPE),
            lengths=np.zeros(n, dtype=np.int64),
            elapsed=np.zeros(n, dtype=np.int64),
            targets=np.full((task.max_new_tokens, n), TARGET_PAD, dtype=np.int32),
            target_lengths=np.zeros(n, dtype=np.int64),
            scales=np.ones(n),
            potential=np.zeros(n),
            columns=np.zeros((2, n, words), dtype=np.uint64),
            next_pairs=self.draws.next_pairs,
            draw_position=self.draws.position,
        )

    # -- Gymnasium API -------------------------------------------------------------

    def reset(self, *, seed: int | Sequence[int] | None = None, options: dict | None = None):
        options = check_reset_options(options)
        if seed is not None or not self.draws.seeded:
            self.draws.seed(seed)
        everyone = np.arange(self.num_envs)
        drawn = self.draws.take(everyone)  # drawn even when options choose, so seeds stay aligned
        self._custom_pair = None
        if "prompt" in options or "target" in options:
            self._custom_pair = self.task.encode_pair(options.get("prompt"), options.get("target"))
            pairs = np.full(self.num_envs, -1)
        elif "index" in options:
            pairs = self._index_option(options["index"])
        else:
            pairs = drawn
        self.begin_episodes(everyone, pairs)
        self._needs_reset = np.zeros(self.num_envs, dtype=bool)
        return self._observations(), self._infos(
            self._backend.distances(), np.zeros(self.num_envs, dtype=bool), np.zeros(self.num_envs)
        )

    def step(self, actions):
        if not self.draws.seeded:
            raise RuntimeError("step() called before reset(); call reset() first")
        actions = self._check_actions(actions)
        out = self._backend.advance(actions, self._needs_reset)  # NEXT_STEP: envs that ended last step start over now
        done = out.terminated | out.truncated
        if self.autoreset_mode == AutoresetMode.SAME_STEP:
            infos = self._same_step_autoreset(done, out)
        else:
            self._needs_reset = done
            infos = self._infos(out.distances, out.invalid, out.similarities)
        return self._observations(), out.rewards, out.terminated, out.truncated, infos

    def render(self):
        if self.render_mode is None:
            return None
        if self.render_mode == "rgb_array":
            width = max(self.task.max_prompt_tokens, self.task.max_new_tokens)
            return tuple(
                render_rgb(self._prompt_ids(i), self.generated_ids(i), self.target_ids(i), width) for i in self.render_indices
            )
        distances = self._backend.distances()
        frames = tuple(
            f"env {i}:\n"
            + render_text(
                self.tokenizer,
                self._prompt_ids(i),
                self.generated_ids(i),
                self.target_ids(i),
                distances[i],
                self.metric.name,
                bool(self._needs_reset[i]),
            )
            for i in self.render_indices
        )
        if self.render_mode == "human":
            print("\n".join(frames))
            return None
        return frames

    def action_masks(self) -> np.ndarray:
        """(num_envs, vocab_size) boolean mask of the valid actions."""
        return self.task.rules.action_masks(self.episodes.lengths)

    # -- texts and the seed API ---------------------------------------------------------

    def generated_texts(self) -> list[str]:
        """Each env's text generated so far (in NEXT_STEP mode, a finished episode's until the next step)."""
        decode_padded = getattr(self.tokenizer, "decode_padded", None)
        if decode_padded is not None:  # rows are PAD past their length; unsigned, so no id is negative
            return decode_padded(self.episodes.generated.view(np.uint32))
        return [self.tokenizer.decode(self.generated_ids(i)) for i in range(self.num_envs)]

    def target_texts(self) -> list[str]:
        """Each env's current target text."""
        return [self._target_text(i) for i in range(self.num_envs)]

    def get_text_data(self) -> list[str]:
        return self.task.dataset.prompts

    def get_target_texts(self) -> list[str]:
        return self.task.dataset.targets

    # -- episodes -------------------------------------------------------------------

    def begin_episodes(self, envs: np.ndarray, pairs: np.ndarray) -> None:
        """Start pair ``pairs[k]`` in env ``envs[k]`` (-1: the pair set by reset options)."""
        ep, task = self.episodes, self.task
        ep.pair[envs] = pairs
        if self._custom_pair is not None and (pairs < 0).any():
            prompt, target = self._custom_pair
            ep.prompts[envs] = task.pad_prompts([prompt])[0]
            ep.targets[:, envs] = TARGET_PAD
            ep.targets[: len(target), envs] = np.asarray(target, dtype=np.int32)[:, None]
            ep.target_lengths[envs] = len(target)
            ep.scales[envs] = self.metric.scale(len(target))
        else:
            ep.prompts[envs] = task.prompt_matrix[pairs]
            ep.targets[:, envs] = task.target_matrix[pairs].T
            ep.target_lengths[envs] = task.target_lengths[pairs]
            ep.scales[envs] = task.pair_scales[pairs]
        ep.generated[envs] = PAD_ID
        ep.lengths[envs] = 0
        ep.elapsed[envs] = 0
        ep.potential[envs] = 0.0
        self._backend.start(envs)

    def generated_ids(self, i: int) -> list[int]:
        return self.episodes.generated[i, : self.episodes.lengths[i]].tolist()

    def target_ids(self, i: int) -> list[int]:
        pair = self.episodes.pair[i]
        return self._custom_pair[1] if pair < 0 else self.task.target_ids[pair]

    def _prompt_ids(self, i: int) -> list[int]:
        pair = self.episodes.pair[i]
        return self._custom_pair[0] if pair < 0 else self.task.prompt_ids[pair]

    def _target_text(self, i: int) -> str:
        pair = self.episodes.pair[i]
        return (
            self.tokenizer.decode([t if t >= 0 else UNK_ID for t in self._custom_pair[1]])
            if pair < 0
            else self.task.target_texts[pair]
        )

    def _observations(self):
        ep = self.episodes
        if self.task.flat_observation:
            return np.concatenate([ep.prompts, ep.generated], axis=1)
        return {"prompt": ep.prompts.copy(), "generated": ep.generated.copy()}

    # -- infos, shaped as SyncVectorEnv shapes them ---------------------------------

    def _infos(self, distances: np.ndarray, invalid: np.ndarray, similarities: np.ndarray) -> dict:
        """Every key for every env, with Gymnasium's `_key` masks (all True: each env reports each key)."""
        every = np.ones(self.num_envs, dtype=bool)
        values = (distances, self.episodes.pair.copy(), invalid, similarities)
        infos = {}
        for key, value in zip(INFO_KEYS, values):
            infos[key], infos[f"_{key}"] = value, every.copy()
        return infos

    def _same_step_autoreset(self, done: np.ndarray, out: StepOutput) -> dict:
        """SAME_STEP: finished envs start over now; their last step's obs and info go under final_obs / final_info."""
        if not np.count_nonzero(done):
            return self._infos(out.distances, out.invalid, out.similarities)
        envs = done.nonzero()[0]
        final_obs = self._observations()
        infos = {"final_obs": np.full(self.num_envs, None, dtype=object), "_final_obs": done.copy()}
        for i in envs.tolist():
            infos["final_obs"][i] = (
                {k: v[i].copy() for k, v in final_obs.items()} if isinstance(final_obs, dict) else final_obs[i].copy()
            )
        final = {}
        for key, value in zip(INFO_KEYS, (out.distances, self.episodes.pair, out.invalid, out.similarities)):
            final[key] = np.where(done, value, np.zeros((), dtype=value.dtype))
            final[f"_{key}"] = done.copy()
        infos["final_info"], infos["_final_info"] = final, done.copy()
        self._backend.restart(envs)
        distances = np.where(done, self._backend.distances(done), out.distances)
        infos.update(self._infos(distances, out.invalid & ~done, np.where(done, 0.0, out.similarities)))
        return infos

    # -- argument checks ---------------------------------------------------------------

    def _index_option(self, index) -> np.ndarray:
        """options['index']: one pair for every env, or an array of one pair per env."""
        array = np.asarray(index, dtype=object)
        if array.ndim > 1 or (array.ndim == 1 and len(array) != self.num_envs):
            raise ValueError(
                f"options['index'] has shape {array.shape}; give one index, or one per env: shape ({self.num_envs},)"
            )
        return np.array([self.task.check_index(i) for i in np.broadcast_to(array, (self.num_envs,)).tolist()], dtype=np.int64)

    def _check_actions(self, actions) -> np.ndarray:
        actions = np.asarray(actions)
        if actions.shape != (self.num_envs,):
            raise ValueError(f"actions have shape {actions.shape}; expected ({self.num_envs},) for num_envs={self.num_envs}")
        if actions.dtype.kind not in "iu":
            raise ValueError(f"actions must be integers, got dtype {actions.dtype}")
        if self.backend != "numba" and (
            actions.min() < 0 or actions.max() >= self.task.vocab_size
        ):  # the kernel checks its own
            self.reject_out_of_range(actions)
        return actions.astype(np.int64, copy=False)

    def reject_out_of_range(self, actions: np.ndarray):
        bad = (actions < 0) | (actions >= self.task.vocab_size)
        raise ValueError(
            f"actions {actions[bad].tolist()} (envs {bad.nonzero()[0].tolist()}) are outside Discrete({self.task.vocab_size})"
        )


def _check_autoreset_mode(mode) -> AutoresetMode:
    allowed = (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP)
    try:
        mode = AutoresetMode(mode)
    except ValueError:
        mode = None
    if mode not in allowed:
        raise ValueError(f"autoreset_mode: allowed values are {[m.value for m in allowed]}")
    return mode


def _check_render_indices(render_indices, num_envs: int) -> list[int]:
    if render_indices is None:
        return list(range(num_envs))
    if isinstance(render_indices, (str, bytes)) or not isinstance(render_indices, (Sequence, np.ndarray)):
        raise ValueError(f"render_indices={render_indices!r}: must be a list of env indices in [0, {num_envs})")
    indices = list(render_indices)
    for i in indices:
        if isinstance(i, (bool, np.bool_)) or not isinstance(i, (int, np.integer)) or not 0 <= i < num_envs:
            raise ValueError(f"render_indices={indices!r}: {i!r} is not an env index in [0, {num_envs})")
    return [int(i) for i in indices]


def _choose_compiled(backend: str, metric) -> bool:
    incremental = metric.substitution_cost is not None
    if backend == "numba" and not (numba_batch.AVAILABLE and incremental):
        why = (
            "numba is not installed: pip install 'textgen-env[fast]'"
            if not numba_batch.AVAILABLE
            else f"metric {metric.name!r} has no compiled kernel (levenshtein and indel do)"
        )
        raise ValueError(f"backend='numba': {why}")
    return backend != "numpy" and numba_batch.AVAILABLE and incremental

"""TextGeneration-v0, batched: Gymnasium's face (spaces, infos, autoreset, copies) of the episode core."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from textgen_env.aliases import renamed_method
from textgen_env.core import StepOutput, make_core
from textgen_env.core.base import out_of_range
from textgen_env.env import check_reset_options
from textgen_env.rendering import render_rgb, render_text
from textgen_env.task import RENDER_MODES, TaskConfig, TextTask, accepts_task_arguments, check_bool, check_integer

INFO_KEYS = ("distance", "index", "invalid_action", "similarity")


class TextGenerationVectorEnv(VectorEnv):
    """`num_envs` TextGeneration-v0 episodes stepped as one batch.

    Takes every argument of :class:`~textgen_env.env.TextGenerationEnv`, plus
    ``num_envs``, ``autoreset_mode`` (NEXT_STEP, Gymnasium's default; SAME_STEP; or DISABLED:
    the caller resets finished envs with ``reset(options={"reset_mask": mask})``, as with
    ``SyncVectorEnv``, and stepping an env whose episode ended and was not reset is an error),
    ``max_episode_steps`` (truncation, as ``TimeLimit`` does), ``render_indices``
    (the envs that :meth:`render` shows; all by default), ``backend`` and ``copy``.

    ``backend``: "auto" (the default) steps Levenshtein/Indel envs in one compiled
    call when numba is installed (the ``fast`` extra) and in numpy otherwise;
    "numba" or "numpy" asks for one (see :mod:`textgen_env.core`).

    ``copy`` (Gymnasium's, default True as in ``SyncVectorEnv``): with False, the
    observations are the env's own buffers, written in place (one token per env per
    step; a whole row when an episode starts), valid until the next ``step`` or
    ``reset``; copy what you keep. The same dict and arrays come back every step.
    ``flat_observation=True`` concatenates, so it always returns a new array.

    Beyond the single env's reset options, ``options={"index": array}`` gives each
    env its own pair. For the same seeds and actions it returns exactly what
    ``SyncVectorEnv`` over single envs returns, infos included: every key on every
    step, with Gymnasium's ``_key`` masks.
    """

    metadata = {"render_modes": list(RENDER_MODES), "autoreset_mode": AutoresetMode.NEXT_STEP}

    @accepts_task_arguments
    def __init__(
        self,
        num_envs: int = 1,
        config: TaskConfig | TextTask | None = None,
        *,
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        max_episode_steps: int | None = None,
        render_indices: Sequence[int] | None = None,
        backend: str = "auto",
        copy: bool = True,
        **arguments,
    ):
        self.num_envs = check_integer("num_envs", num_envs, 1)
        self.autoreset_mode = _check_autoreset_mode(autoreset_mode)
        self.max_episode_steps = (
            None if max_episode_steps is None else check_integer("max_episode_steps", max_episode_steps, 1)
        )
        self.copy = check_bool("copy", copy)
        self.task = TextTask.of(config, arguments)
        self.core = make_core(self.task, self.num_envs, backend, self.max_episode_steps)
        self.backend = self.core.name
        self.render_mode = self.task.render_mode
        self.render_indices = _check_render_indices(render_indices, self.num_envs)
        self.metadata = {**self.metadata, "autoreset_mode": self.autoreset_mode}
        self.tokenizer = self.task.tokenizer
        self.metric = self.task.metric
        self.single_action_space = self.task.action_space
        self.single_observation_space = self.task.observation_space
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        state = self.core.state
        self._buffers = {"prompt": state.prompts, "generated": state.generated}  # what copy=False returns
        # envs whose episode ended last step: NEXT_STEP starts them over now, DISABLED waits for a reset_mask
        self._needs_reset = np.zeros(self.num_envs, dtype=bool)

    # -- Gymnasium API -------------------------------------------------------------

    def reset(self, *, seed: int | Sequence[int] | None = None, options: dict | None = None):
        """Start new episodes: in every env, or, with ``options={"reset_mask": mask}`` (as ``SyncVectorEnv``),
        only where `mask` is True; the others go on, and the infos' ``_key`` masks are True only for the reset ones."""
        options = dict(options) if isinstance(options, dict) else options
        mask = self._reset_mask(options.pop("reset_mask")) if isinstance(options, dict) and "reset_mask" in options else None
        options = check_reset_options(options or None)
        core = self.core
        envs = np.arange(self.num_envs) if mask is None else mask.nonzero()[0]
        if seed is not None or not core.seeded:
            core.seed(seed, envs)
        drawn = core.take_draws(envs)  # drawn even when options choose, so seeds stay aligned
        if "prompt" in options or "target" in options:
            if mask is not None and (core.state.pair[~mask] < 0).any():
                raise ValueError("reset options: a new 'prompt'/'target' would replace the one that unmasked envs still run")
            core.custom_pair = self.task.encode_pair(options.get("prompt"), options.get("target"))
            pairs = np.full(len(envs), -1)
        elif "index" in options:
            pairs = self._index_option(options["index"])[envs]
        else:
            pairs = drawn
        core.start(envs, pairs)
        self._needs_reset[envs] = False
        none = np.zeros(self.num_envs)
        return self._observations(), self._infos(core.distances(), none.astype(bool), none, reported=mask)

    def step(self, actions):
        if not self.core.seeded:
            raise RuntimeError("step() called before reset(); call reset() first")
        actions = self._check_actions(actions)
        if self.autoreset_mode == AutoresetMode.DISABLED and self._needs_reset.any():
            raise RuntimeError(
                f"autoreset_mode=DISABLED: envs {self._needs_reset.nonzero()[0].tolist()} finished and were not reset;"
                " call reset(options={'reset_mask': mask}) with them first"
            )
        out = self.core.step(actions, self._needs_reset)  # NEXT_STEP: envs that ended last step start over now
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
        core = self.core
        if self.render_mode == "rgb_array":
            width = max(self.task.max_prompt_tokens, self.task.max_new_tokens)
            return tuple(
                render_rgb(self.tokenizer, core.prompt_ids(i), core.generated_ids(i), core.target_ids(i), width)
                for i in self.render_indices
            )
        distances = self.core.distances()
        frames = tuple(
            f"env {i}:\n"
            + render_text(
                self.tokenizer,
                core.prompt_ids(i),
                core.generated_ids(i),
                core.target_ids(i),
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
        return self.core.action_masks()

    # -- texts and the seed API ---------------------------------------------------------

    def generated_texts(self) -> list[str]:
        """Each env's text generated so far (in NEXT_STEP mode, a finished episode's until the next step)."""
        decode_padded = getattr(self.tokenizer, "decode_padded", None)
        if decode_padded is not None:  # rows are PAD past their length
            return decode_padded(self.core.state.generated)
        return [self.tokenizer.decode(self.core.generated_ids(i)) for i in range(self.num_envs)]

    def generated_ids(self, i: int) -> list[int]:
        """Env `i`'s token ids generated so far."""
        return self.core.generated_ids(i)

    def target_ids(self, i: int) -> list[int]:
        """Env `i`'s target ids (tokens no action can produce as ``UNMATCHABLE``)."""
        return self.core.target_ids(i)

    def current_target_texts(self) -> list[str]:
        """Each env's current target text (:meth:`get_target_texts`: all of the split's)."""
        return [self.core.target_text(i) for i in range(self.num_envs)]

    target_texts = renamed_method("target_texts", "current_target_texts")

    def get_text_data(self) -> list[str]:
        """The split's prompts, in pair order (``info["index"]`` indexes them)."""
        return self.task.dataset.prompts

    def get_target_texts(self) -> list[str]:
        """The split's targets, in pair order."""
        return self.task.dataset.targets

    def _observations(self):
        state = self.core.state
        if self.task.flat_observation:
            return np.concatenate([state.prompts, state.generated], axis=1)
        if not self.copy:
            return self._buffers
        return {"prompt": state.prompts.copy(), "generated": state.generated.copy()}

    # -- infos, shaped as SyncVectorEnv shapes them ---------------------------------

    def _infos(self, distances, invalid, similarities, reported: np.ndarray | None = None) -> dict:
        """Every key for every env, with Gymnasium's `_key` masks: all True, or True where `reported` (the
        envs a ``reset_mask`` reset; 0 elsewhere, as ``SyncVectorEnv`` fills them)."""
        masks = np.ones((len(INFO_KEYS), self.num_envs), dtype=bool)  # one allocation, a row per key
        values = (distances, self.core.state.pair.copy(), invalid, similarities)
        if reported is not None:
            masks[:] = reported
            values = tuple(np.where(reported, value, np.zeros((), dtype=value.dtype)) for value in values)
        infos = {}
        for key, value, mask in zip(INFO_KEYS, values, masks):
            infos[key], infos[f"_{key}"] = value, mask
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
        for key, value in zip(INFO_KEYS, (out.distances, self.core.state.pair, out.invalid, out.similarities)):
            final[key] = np.where(done, value, np.zeros((), dtype=value.dtype))
            final[f"_{key}"] = done.copy()
        infos["final_info"], infos["_final_info"] = final, done.copy()
        self.core.start(envs)
        distances = np.where(done, self.core.distances(done), out.distances)
        infos.update(self._infos(distances, out.invalid & ~done, np.where(done, 0.0, out.similarities)))
        return infos

    # -- argument checks ---------------------------------------------------------------

    def _reset_mask(self, mask) -> np.ndarray:
        if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_ or mask.shape != (self.num_envs,):
            raise ValueError(
                f"options['reset_mask']={mask!r}: must be a numpy bool array of shape ({self.num_envs},), as in SyncVectorEnv"
            )
        if not mask.any():
            raise ValueError("options['reset_mask'] resets no env: at least one entry must be True")
        if not self.core.seeded:
            raise ValueError("options['reset_mask'] needs every env reset once first: call reset() without it")
        return mask

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
        if not self.core.checks_action_range and (actions.min() < 0 or actions.max() >= self.task.vocab_size):
            raise out_of_range(actions, self.task.vocab_size)
        return actions.astype(np.int64, copy=False)


def _check_autoreset_mode(mode) -> AutoresetMode:
    allowed = (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP, AutoresetMode.DISABLED)
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

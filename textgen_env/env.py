"""TextGeneration-v0: write a target text one token at a time."""

from __future__ import annotations

import operator

import gymnasium as gym
import numpy as np

from textgen_env.core import make_core
from textgen_env.core.base import check_seed
from textgen_env.rendering import render_rgb, render_text
from textgen_env.task import RENDER_MODES, TaskConfig, TextTask, accepts_task_arguments

RESET_OPTIONS = ("index", "prompt", "target")


def as_action(action, vocab_size: int) -> int:
    """The action as an int, or a ValueError naming it and the allowed range."""
    if isinstance(action, (bool, np.bool_)) or (isinstance(action, np.ndarray) and action.dtype == bool):
        raise ValueError(f"action {action!r} is a bool; allowed: an integer 0 <= action < {vocab_size}")
    try:
        value = operator.index(action)
    except TypeError:
        if isinstance(action, np.ndarray) and action.shape in ((), (1,)) and np.issubdtype(action.dtype, np.integer):
            value = int(action.reshape(()))
        else:
            raise ValueError(f"action {action!r} is not an integer; allowed: 0 <= action < {vocab_size}") from None
    if not 0 <= value < vocab_size:
        raise ValueError(f"action {action!r} is outside the action space Discrete({vocab_size})")
    return value


def check_reset_options(options) -> dict:
    """The reset options as a dict, checked: 'index', or 'prompt' with 'target'."""
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise ValueError(f"options={options!r}: must be a dict (or None) with 'index', or 'prompt' and 'target'")
    unknown = sorted(set(options) - set(RESET_OPTIONS), key=str)
    if unknown:
        raise ValueError(f"unknown reset options {unknown}; allowed: 'index', or 'prompt' with 'target'")
    if "index" in options and ("prompt" in options or "target" in options):
        raise ValueError("reset options: give 'index', or 'prompt' with 'target', not both")
    return options


class TextGenerationEnv(gym.Env):
    """
    ## Description

    The agent writes a text one token at a time, given a prompt, and is rewarded by
    how close the text comes to a target text, measured by an edit distance over
    tokens (rapidfuzz). Built-in tasks form a ladder from ``copy`` and ``reverse``
    up to ``addition``, ``spelling`` and ``continue`` (see :mod:`textgen_env.builtin_tasks`);
    a dataset of your own works the same way.

    ## Action Space

    ``Discrete(vocab_size)``: the id of the next token. Ids 0-3 are PAD, BOS, EOS
    and UNK. EOS ends the episode. PAD, BOS and UNK are never valid, nor is EOS
    before ``min_new_tokens`` tokens; :meth:`action_masks` says which actions are
    valid (sb3-contrib's convention). An invalid action inside the space is written
    as UNK, a token that matches nothing, and ``info["invalid_action"]`` is True.

    ## Observation Space

    A ``Dict`` of two ``MultiDiscrete`` vectors of token ids, right-padded with
    PAD (0): ``"prompt"`` (``max_prompt_tokens`` long) and ``"generated"``
    (``max_new_tokens`` long: the token budget is the vector's length). With
    ``flat_observation=True`` a single ``MultiDiscrete`` vector holds both.

    ## Rewards

    See :mod:`textgen_env.rewards`. With the default ``reward="dense"`` and
    levenshtein, a correct token gets 0, a wrong one ``-1/len(target)`` at once,
    and stopping early is charged for what is missing; the dense rewards of an
    episode sum to its sparse reward ``-distance / len(target)``, which is 0 for
    a perfect generation and at least ``-max(max_new_tokens, len(target)) / len(target)``.
    A target token that no action can produce (one the tokenizer does not know)
    always counts as an error; the env warns about such tokens when it is built.

    ## Starting State

    ``reset`` draws a (prompt, target) pair of the split with ``self.np_random``;
    ``options={"index": i}`` picks pair ``i``, ``options={"prompt": ..., "target": ...}``
    sets one. Nothing has been generated yet.

    ## Episode End

    Terminated when the agent emits EOS or when ``max_new_tokens`` tokens have been
    generated (the budget is part of the task, so it is a termination, and the last
    step gets the terminal reward). ``truncated`` is always False here; Gymnasium's
    ``TimeLimit`` sets it when ``max_episode_steps`` is given.

    ``info`` has the same keys, all numbers, on every reset and step: ``"distance"``
    (the metric's distance of the generation so far to the whole target),
    ``"index"`` (the episode's pair in the split, -1 for one set by reset options),
    ``"invalid_action"`` (whether this step's action was invalid) and
    ``"similarity"`` (on the episode's last step its normalized Levenshtein similarity
    in [0, 1], 0.0 before). The texts: :meth:`generated_text` and :meth:`target_text`.

    ## Arguments

    Each as a keyword, or all at once as ``config``, a :class:`~textgen_env.task.TaskConfig` (the one place they
    and their defaults are listed; keywords given beside it replace its fields), or a
    :class:`~textgen_env.task.TextTask` already built from one, which the env then shares.

    - ``task``: a built-in task (default ``"copy"``: the first rung, see ``DEFAULT_TASK``), see
      :mod:`textgen_env.builtin_tasks`;
      ``task_options`` passes its options (``min_length``, ``max_length``, ``alphabet``,
      ``seed``, ...): ones it does not take are an error.
    - ``dataset``: instead of a task, a list of (prompt, target) pairs, a file
      (``.txt``, ``.jsonl``, ``.csv``, ``.tsv``) or a ``TextDataset``.
    - ``split``: ``"train"`` (default), ``"test"`` or ``"all"``; deterministic. With
      ``validation_fraction`` (default 0), that share of the training split's targets is
      held out as ``"validation"``, and ``"train"`` is the rest.
    - ``tokenizer``: ``"char"``, ``"word"``, a tokenizer JSON file (one saved by this
      package, or a Hugging Face ``tokenizer.json``), or a ``Tokenizer`` object. The
      default is the task's own (``"word"`` for ``reverse_words``, else ``"char"``);
      char and word vocabularies are built from the whole dataset.
    - ``reward``: ``"dense"`` (default), ``"sparse"``, ``"inverse"``, ``"exact"``.
    - ``metric``: ``"levenshtein"`` (default), ``"indel"``, ``"osa"``,
      ``"damerau_levenshtein"``, ``"lcs"``, ``"hamming"``, ``"jaro_winkler"``, or a
      callable ``(generated_ids, target_ids) -> distance``.
    - ``max_prompt_tokens`` / ``max_new_tokens``: default to the longest prompt / target.
    - ``min_new_tokens``: tokens before EOS becomes valid (default 1).
    - ``render_mode``: ``"ansi"``, ``"human"`` or ``"rgb_array"``.
    - ``flat_observation``: one vector instead of the Dict (default False).
    - ``backend``: the episode core that steps it, "auto" (default), "numba" or
      "numpy" (see :mod:`textgen_env.core`).

    Observations hold token ids in the smallest dtype for the vocabulary (uint8 up
    to 255 tokens, uint16 up to 65,535, else int32).

    ## Version History

    - v0: initial version.
    """

    metadata = {"render_modes": list(RENDER_MODES), "render_fps": 4}

    @accepts_task_arguments
    def __init__(self, config: TaskConfig | TextTask | None = None, *, backend: str = "auto", **arguments):
        self.task = TextTask.of(config, arguments)
        self.core = make_core(self.task, 1, backend)  # the same rules as the vector env, for one episode
        self.render_mode = self.task.render_mode
        self.tokenizer = self.task.tokenizer
        self.metric = self.task.metric
        self.action_space = self.task.action_space
        self.observation_space = self.task.observation_space
        self._env = np.zeros(1, dtype=np.int64)  # the core's env ids: just this one
        self._not_resetting = np.zeros(1, dtype=bool)
        self._finished = True

    # -- Gymnasium API -------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        check_seed(seed)
        options = check_reset_options(options)
        super().reset(seed=seed)
        uniform = self.np_random.random()  # drawn even when options choose, so seeds stay aligned
        core = self.core
        core.custom_pair = None
        if "prompt" in options or "target" in options:
            core.custom_pair = self.task.encode_pair(options.get("prompt"), options.get("target"))
            index = -1
        elif "index" in options:
            index = self.task.check_index(options["index"])
        else:
            index = int(self.task.draw_indices(uniform))
        core.start(self._env, np.array([index]))
        self._finished = False
        if self.render_mode == "human":
            self.render()
        info = {"distance": core.distances()[0].item(), "index": index, "invalid_action": False, "similarity": 0.0}
        return self._observation(), info

    def step(self, action):
        if self._finished:
            raise RuntimeError("step() called on a finished episode; call reset() first")
        token = as_action(action, self.task.vocab_size)
        out = self.core.step(np.array([token]), self._not_resetting)
        self._finished = bool(out.terminated[0])
        if self.render_mode == "human":
            self.render()
        info = {
            "distance": out.distances[0].item(),
            "index": int(self.core.state.pair[0]),
            "invalid_action": bool(out.invalid[0]),
            "similarity": float(out.similarities[0]),
        }
        return self._observation(), float(out.rewards[0]), self._finished, False, info

    def render(self):
        if self.render_mode is None:
            gym.logger.warn(
                "render() called without a render_mode; pass render_mode='ansi', 'human' or 'rgb_array' to the env"
            )
            return None
        core = self.core
        prompt, generated, target = core.prompt_ids(0), core.generated_ids(0), core.target_ids(0)
        if self.render_mode == "rgb_array":
            return render_rgb(
                self.tokenizer, prompt, generated, target, max(self.task.max_prompt_tokens, self.task.max_new_tokens)
            )
        text = render_text(
            self.tokenizer, prompt, generated, target, core.distances()[0].item(), self.metric.name, self._finished
        )
        if self.render_mode == "human":
            print(text)
            return None
        return text

    def action_masks(self) -> np.ndarray:
        """Boolean mask of the valid actions (sb3-contrib's MaskablePPO reads it)."""
        return self.core.action_masks()[0]

    # -- texts ----------------------------------------------------------------------

    def generated_text(self) -> str:
        """The text generated so far in this episode."""
        return self.tokenizer.decode(self.core.generated_ids(0))

    def target_text(self) -> str:
        """This episode's target text."""
        return self.core.target_text(0)

    def generated_ids(self) -> list[int]:
        """The token ids generated so far in this episode."""
        return self.core.generated_ids(0)

    def target_ids(self) -> list[int]:
        """This episode's target ids (tokens no action can produce as ``UNMATCHABLE``)."""
        return self.core.target_ids(0)

    def get_text_data(self) -> list[str]:
        """The prompts of this env's split, in dataset order."""
        return self.task.dataset.prompts

    def get_target_texts(self) -> list[str]:
        """The targets of this env's split, in dataset order."""
        return self.task.dataset.targets

    def _observation(self):
        state = self.core.state
        if self.task.flat_observation:
            return np.concatenate([state.prompts[0], state.generated[0]])
        return {"prompt": state.prompts[0].copy(), "generated": state.generated[0].copy()}

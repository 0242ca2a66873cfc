"""TextGeneration-v0: write a target text one token at a time."""

from __future__ import annotations

import operator

import gymnasium as gym
import numpy as np

from textgen_env.kernels.bitrow import BitParallelRow
from textgen_env.rendering import render_rgb, render_text
from textgen_env.rewards import similarity
from textgen_env.task import RENDER_MODES, TOKEN_DTYPE, TextTask, task_arguments
from textgen_env.tokenizers import EOS_ID, UNK_ID

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


def check_seed(seed) -> None:
    if seed is not None and (isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0):
        raise ValueError(f"seed={seed!r}: must be None or a non-negative integer")


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
    up to ``addition``, ``spelling`` and ``continue`` (see :mod:`textgen_env.tasks`);
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

    - ``task``: a built-in task (default ``"continue"``), see :mod:`textgen_env.tasks`;
      ``task_options`` passes its options (``min_length``, ``max_length``, ``alphabet``,
      ``seed``, ...): ones it does not take are an error.
    - ``dataset``: instead of a task, a list of (prompt, target) pairs, a file
      (``.txt``, ``.jsonl``, ``.csv``, ``.tsv``) or a ``TextDataset``.
    - ``split``: ``"train"`` (default), ``"test"`` or ``"all"``; deterministic.
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

    ## Version History

    - v0: initial version.
    """

    metadata = {"render_modes": list(RENDER_MODES), "render_fps": 4}

    def __init__(
        self,
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
    ):
        self.task = TextTask(**task_arguments(locals()))
        self.render_mode = render_mode
        self.tokenizer = self.task.tokenizer
        self.metric = self.task.metric
        self.action_space = self.task.action_space
        self.observation_space = self.task.observation_space
        self._mask_table = self.task.rules.action_mask_table
        self._finished = True
        self._index = -1
        self._prompt: list[int] = []
        self._target: list[int] = []
        self._generated: list[int] = []

    # -- Gymnasium API -------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        check_seed(seed)
        options = check_reset_options(options)
        super().reset(seed=seed)
        uniform = self.np_random.random()  # drawn even when options choose, so seeds stay aligned
        if "prompt" in options or "target" in options:
            prompt, target = self.task.encode_pair(options.get("prompt"), options.get("target"))
            self._index, self._target_text = -1, None
        else:
            self._index = (
                self.task.check_index(options["index"]) if "index" in options else int(self.task.draw_indices(uniform))
            )
            prompt, target = self.task.prompt_ids[self._index], self.task.target_ids[self._index]
            self._target_text = self.task.target_texts[self._index]
        self._start_episode(prompt, target)
        if self.render_mode == "human":
            self.render()
        return self._observation(), {
            "distance": self._distance(),
            "index": self._index,
            "invalid_action": False,
            "similarity": 0.0,
        }

    def step(self, action):
        if self._finished:
            raise RuntimeError("step() called on a finished episode; call reset() first")
        token = as_action(action, self.task.vocab_size)
        valid = bool(self._mask_table[len(self._generated), token])
        stop = valid and token == EOS_ID
        if not stop:
            self._append(token if valid else UNK_ID)
            stop = len(self._generated) >= self.task.max_new_tokens
        distance = self._distance()
        final_similarity = 0.0
        if stop:
            self._finished = True
            score = -distance / self._scale
            reward = self.task.reward.terminal(score, distance, self._generated == self._target, self._potential)
            final_similarity = similarity(self._generated, self._target)
        elif self.task.reward.dense:
            potential = self._dense_potential()
            reward, self._potential = potential - self._potential, potential
        else:
            reward = 0.0
        if self.render_mode == "human":
            self.render()
        info = {"distance": distance, "index": self._index, "invalid_action": not valid, "similarity": final_similarity}
        return self._observation(), float(reward) + 0.0, stop, False, info

    def render(self):
        if self.render_mode is None:
            gym.logger.warn(
                "render() called without a render_mode; pass render_mode='ansi', 'human' or 'rgb_array' to the env"
            )
            return None
        if self.render_mode == "rgb_array":
            return render_rgb(
                self._prompt, self._generated, self._target, max(self.task.max_prompt_tokens, self.task.max_new_tokens)
            )
        text = render_text(
            self.tokenizer, self._prompt, self._generated, self._target, self._distance(), self.metric.name, self._finished
        )
        if self.render_mode == "human":
            print(text)
            return None
        return text

    def action_masks(self) -> np.ndarray:
        """Boolean mask of the valid actions (sb3-contrib's MaskablePPO reads it)."""
        return self._mask_table[len(self._generated)].copy()

    # -- texts ----------------------------------------------------------------------

    def generated_text(self) -> str:
        """The text generated so far in this episode."""
        return self.tokenizer.decode(self._generated)

    def target_text(self) -> str:
        """This episode's target text."""
        return (
            self._target_text
            if self._target_text is not None
            else self.tokenizer.decode([t if t >= 0 else UNK_ID for t in self._target])
        )

    def get_text_data(self) -> list[str]:
        """The prompts of this env's split, in dataset order."""
        return self.task.dataset.prompts

    def get_target_texts(self) -> list[str]:
        """The targets of this env's split, in dataset order."""
        return self.task.dataset.targets

    # -- episode state -------------------------------------------------------------

    def _start_episode(self, prompt: list[int], target: list[int]) -> None:
        self._prompt, self._target, self._generated = prompt, target, []
        self._finished = False
        self._potential = 0.0
        self._scale = self.metric.scale(len(target))
        self._row = None
        if self.metric.substitution_cost is not None:
            self._row = BitParallelRow(target, self.metric.substitution_cost)
        self._prompt_obs = np.zeros(self.task.max_prompt_tokens, dtype=TOKEN_DTYPE)
        self._prompt_obs[: len(prompt)] = prompt
        self._generated_obs = np.zeros(self.task.max_new_tokens, dtype=TOKEN_DTYPE)

    def _append(self, token: int) -> None:
        self._generated_obs[len(self._generated)] = token
        self._generated.append(token)
        if self._row is not None:
            self._row.append(token)

    def _distance(self):
        if self._row is not None:
            return self._row.distance
        return self.metric.measure(self._generated, self._target)

    def _dense_potential(self) -> float:
        if self._row is not None:
            return -self._row.best_reachable() / self._scale
        return self.metric.prefix_potential(self._generated, self._target)

    def _observation(self):
        if self.task.flat_observation:
            return np.concatenate([self._prompt_obs, self._generated_obs])
        return {"prompt": self._prompt_obs.copy(), "generated": self._generated_obs.copy()}

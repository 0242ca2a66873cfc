"""TextGeneration-v0: write a target text one token at a time."""

from __future__ import annotations

import operator

import gymnasium as gym
import numpy as np

from textgen_env import distance as kernels
from textgen_env.rendering import render_episode
from textgen_env.rewards import similarity, terminal_reward
from textgen_env.task import RENDER_MODES, TextTask
from textgen_env.tokenizers import EOS_ID, UNK_ID


def as_action(action, vocab_size: int) -> int:
    """The action as an int, or a ValueError naming it and the allowed range."""
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


class TextGenerationEnv(gym.Env):
    """
    ## Description

    The agent writes a text one token at a time, given a prompt, and is rewarded by
    how close the text comes to a target text, measured by an edit distance over
    tokens (rapidfuzz). Built-in tasks: ``copy`` and ``reverse`` a random string,
    and ``continue`` an English sentence (the default, character-level).

    ## Action Space

    ``Discrete(vocab_size)``: the id of the next token. Ids 0-3 are PAD, BOS, EOS
    and UNK. EOS ends the episode. PAD, BOS and UNK are never valid, nor is EOS
    before ``min_new_tokens`` tokens; :meth:`action_masks` says which actions are
    valid (sb3-contrib's convention). An invalid action inside the space is written
    as UNK (a wrong token) and ``info["invalid_action"]`` is True.

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

    ## Starting State

    ``reset`` draws a (prompt, target) pair of the split with ``self.np_random``;
    ``options={"index": i}`` picks pair ``i``, ``options={"prompt": ..., "target": ...}``
    sets one. Nothing has been generated yet.

    ## Episode End

    Terminated when the agent emits EOS or when ``max_new_tokens`` tokens have been
    generated (the budget is part of the task, so it is a termination, and the last
    step gets the terminal reward). ``truncated`` is always False here; Gymnasium's
    ``TimeLimit`` sets it when ``max_episode_steps`` is given.

    ``info`` holds ``"distance"`` (the metric's distance of the generation so far to
    the whole target) on every step; on the last step also ``"generated_text"``,
    ``"target_text"`` and ``"similarity"`` (normalized Levenshtein similarity in [0, 1]).

    ## Arguments

    - ``task``: ``"continue"`` (default), ``"copy"`` or ``"reverse"``; ``task_options``
      passes ``num_examples``, ``min_length``, ``max_length``, ``alphabet``, ``seed``.
    - ``dataset``: instead of a task, a list of (prompt, target) pairs, a file
      (``.txt``, ``.jsonl``, ``.csv``, ``.tsv``) or a ``TextDataset``.
    - ``split``: ``"train"`` (default), ``"test"`` or ``"all"``; deterministic.
    - ``tokenizer``: ``"char"`` (default), ``"word"``, a saved tokenizer JSON file, or a
      ``Tokenizer`` object. The vocabulary is built from the whole dataset.
    - ``reward``: ``"dense"`` (default), ``"sparse"``, ``"inverse"``, ``"exact"``.
    - ``metric``: ``"levenshtein"`` (default), ``"indel"``, ``"osa"``,
      ``"damerau_levenshtein"``, ``"lcs"``, ``"hamming"``, ``"jaro_winkler"``, or a
      callable ``(generated_ids, target_ids) -> distance``.
    - ``max_prompt_tokens`` / ``max_new_tokens``: default to the longest prompt / target.
    - ``min_new_tokens``: tokens before EOS becomes valid (default 1).
    - ``render_mode``: ``"ansi"`` or ``"human"``.
    - ``flat_observation``: one vector instead of the Dict (default False).

    ## Version History

    - v0: initial version.
    """

    metadata = {"render_modes": list(RENDER_MODES), "render_fps": 4}

    def __init__(self, render_mode: str | None = None, **kwargs):
        self.task = TextTask(render_mode=render_mode, **kwargs)
        self.render_mode = render_mode
        self.tokenizer = self.task.tokenizer
        self.metric = self.task.metric
        self.reward_mode = self.task.reward_mode
        self.action_space = self.task.action_space
        self.observation_space = self.task.observation_space
        self._vocab_size = self.task.vocab_size
        self._finished = True
        self._prompt: list[int] = []
        self._target: list[int] = []
        self._generated: list[int] = []

    # -- Gymnasium API -------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        uniform = self.np_random.random()  # drawn even when options choose, so seeds stay aligned
        options = options or {}
        unknown = set(options) - {"index", "prompt", "target"}
        if unknown:
            raise ValueError(f"unknown reset options {sorted(unknown)}; allowed: 'index', or 'prompt' with 'target'")
        if "prompt" in options or "target" in options:
            prompt, target = self.task.encode_pair(options.get("prompt"), options.get("target"))
            index, self._target_text = -1, self.tokenizer.decode(target)
        else:
            index = self.task.check_index(options["index"]) if "index" in options else self.task.draw_index(uniform)
            prompt, target = self.task.prompt_ids[index], self.task.target_ids[index]
            self._target_text = self.task.target_texts[index]
        self._start_episode(prompt, target)
        info = {"distance": self._distance(), "index": index}
        if self.render_mode == "human":
            self.render()
        return self._observation(), info

    def step(self, action):
        if self._finished:
            raise RuntimeError("step() called on a finished episode; call reset() first")
        token = as_action(action, self._vocab_size)
        stop = token == EOS_ID and len(self._generated) >= self.task.min_new_tokens
        invalid = not (stop or self.task.valid_actions[token])
        if not stop:
            self._append(UNK_ID if invalid else token)
            stop = len(self._generated) >= self.task.max_new_tokens

        info = {"distance": self._distance()}
        if invalid:
            info["invalid_action"] = True
        if stop:
            self._finished = True
            exact = self._generated == self._target
            score = self.metric.score(self._generated, self._target) if self._row is None else -info["distance"] / self._scale
            reward = terminal_reward(self.reward_mode, score, info["distance"], exact, self._potential)
            info["generated_text"] = self.tokenizer.decode(self._generated)
            info["target_text"] = self._target_text
            info["similarity"] = similarity(self._generated, self._target)
        elif self.reward_mode == "dense":
            potential = self._dense_potential()
            reward, self._potential = potential - self._potential, potential
        else:
            reward = 0.0
        if self.render_mode == "human":
            self.render()
        return self._observation(), float(reward) + 0.0, stop, False, info

    def render(self):
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode; pass render_mode='ansi' or 'human' to the env")
            return None
        text = render_episode(self.tokenizer, self._prompt, self._generated, self._target, self._distance(), self.metric.name, self._finished)
        if self.render_mode == "human":
            print(text)
            return None
        return text

    def action_masks(self) -> np.ndarray:
        """Boolean mask of the valid actions (sb3-contrib's MaskablePPO reads it)."""
        mask = self.task.valid_actions.copy()
        mask[EOS_ID] = len(self._generated) >= self.task.min_new_tokens
        return mask

    # -- seed API ------------------------------------------------------------------

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
            self._row = kernels.BitParallelRow(target, self.metric.substitution_cost)
        self._prompt_obs = np.zeros(self.task.max_prompt_tokens, dtype=np.int64)
        self._prompt_obs[: len(prompt)] = prompt
        self._generated_obs = np.zeros(self.task.max_new_tokens, dtype=np.int64)

    def _append(self, token: int) -> None:
        self._generated_obs[len(self._generated)] = token
        self._generated.append(token)
        if self._row is not None:
            self._row.append(token)

    def _distance(self):
        if self._row is not None:
            return self._row.distance
        value = self.metric.distance(self._generated, self._target)
        return int(value) if self.metric.counts_edits else float(value)

    def _dense_potential(self) -> float:
        if self._row is not None:
            return -self._row.best_reachable() / self._scale
        return self.metric.prefix_potential(self._generated, self._target)

    def _observation(self):
        if self.task.flat_observation:
            return np.concatenate([self._prompt_obs, self._generated_obs])
        return {"prompt": self._prompt_obs.copy(), "generated": self._generated_obs.copy()}

"""Edit-distance rewards for LLM fine-tuning with TRL (GRPO, RLOO, Online DPO, ...).

Each factory returns a function with the signature TRL's trainers call reward
functions with, ``reward(prompts, completions, **columns) -> list[float]``: the
target of each completion is read from a dataset column (``target`` by default,
as :func:`textgen_env.hf.to_hf_dataset` writes it), and the function has a
``__name__`` (``levenshtein_similarity``, ...) so that TRL logs it as
``rewards/<name>``. Completions may be plain text or conversational (a list of
messages: the last one's ``content`` is scored). This module imports nothing
beyond rapidfuzz; TRL itself is not needed to use it::

    from trl import GRPOTrainer
    from textgen_env.trl import similarity_reward

    trainer = GRPOTrainer(model=..., reward_funcs=[similarity_reward()], train_dataset=to_hf_dataset(task="reverse"))

Texts are compared character by character, as the env compares token ids under its
char tokenizer. Modes, each a reward of the whole completion:

- ``similarity_reward``: the metric's normalized similarity in [0, 1] (rapidfuzz's
  ``normalized_similarity``; 1 for an exact match);
- ``sparse_reward``: the env's episode score ``-distance / max(1, len(target))``
  (what the env's ``dense`` rewards of an episode add up to, so there is no separate
  dense mode for a whole completion);
- ``inverse_reward``: ``1 / (1 + distance)``;
- ``exact_reward``: 1.0 where the completion equals the target, else 0.0.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence

from textgen_env.rewards import METRICS

MODES = ("similarity", "sparse", "inverse", "exact")

RewardFunction = Callable[..., list[float]]


def completion_text(completion) -> str:
    """The text of one completion as TRL passes it: a string, or a list of messages (the last one's content)."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, (list, tuple)) and completion and isinstance(completion[-1], dict):
        content = completion[-1].get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, list):  # content parts: the text ones, in order
            return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    raise ValueError(f"completion {completion!r}: expected a string or a list of messages with a 'content'")


def difflib_ratio(a: str, b: str) -> float:
    """``difflib.SequenceMatcher(None, a, b).ratio()``: the figure LLM RL tool kits report."""
    return difflib.SequenceMatcher(None, a, b).ratio()


def score_text(text: str, target: str, metric: str = "levenshtein", mode: str = "similarity") -> float:
    """One completion's reward (see the module docstring for the modes)."""
    if mode == "similarity":
        return float(METRICS[metric].similarity(text, target))
    if mode == "exact":
        return float(text == target)
    resolved = METRICS[metric]
    distance = resolved.measure(text, target)
    if mode == "inverse":
        return 1.0 / (1.0 + distance)
    return resolved.score(text, target)


def _check(metric, mode, column) -> None:
    if metric not in METRICS:
        raise ValueError(f"metric={metric!r}: allowed values are {sorted(METRICS)}")
    if mode == "dense":
        raise ValueError("mode='dense': over a whole completion the dense rewards add up to the sparse one; use mode='sparse'")
    if mode not in MODES:
        raise ValueError(f"mode={mode!r}: allowed values are {list(MODES)}")
    if not isinstance(column, str) or not column:
        raise ValueError(f"column={column!r}: must be the name of the dataset column that holds the targets")


def reward_function(metric: str = "levenshtein", mode: str = "similarity", column: str = "target") -> RewardFunction:
    """A TRL reward function scoring each completion against the target in `column`."""
    _check(metric, mode, column)

    def reward(prompts: Sequence | None = None, completions: Sequence = (), **columns) -> list[float]:
        if column not in columns:
            raise ValueError(
                f"reward {reward.__name__}: no dataset column {column!r} among {sorted(columns)};"
                f" pass column=... naming the column that holds the targets"
            )
        targets = columns[column]
        if len(targets) != len(completions):
            raise ValueError(f"reward {reward.__name__}: {len(completions)} completions but {len(targets)} targets")
        return [score_text(completion_text(c), str(t), metric, mode) for c, t in zip(completions, targets)]

    reward.__name__ = reward.__qualname__ = "exact_match" if mode == "exact" else f"{metric}_{mode}"
    return reward


def similarity_reward(metric: str = "levenshtein", column: str = "target") -> RewardFunction:
    """The metric's normalized similarity to the target, in [0, 1]."""
    return reward_function(metric, "similarity", column)


def sparse_reward(metric: str = "levenshtein", column: str = "target") -> RewardFunction:
    """The env's episode score, ``-distance / max(1, len(target))`` (0 for an exact match)."""
    return reward_function(metric, "sparse", column)


def inverse_reward(metric: str = "levenshtein", column: str = "target") -> RewardFunction:
    """``1 / (1 + distance)``, in (0, 1]."""
    return reward_function(metric, "inverse", column)


def exact_reward(column: str = "target") -> RewardFunction:
    """1.0 where the completion equals the target, else 0.0."""
    return reward_function("levenshtein", "exact", column)

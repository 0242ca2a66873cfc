"""Reward modes and metrics, and the dense/sparse contract.

A *metric* measures the distance between the generated token sequence and the
target (token ids; characters for the char tokenizer, words for the word one).
Its *score* is the negative distance, scaled so that it is comparable across
targets: ``score = -distance / max(1, len(target))`` for metrics that count edits
(levenshtein, indel, osa, damerau_levenshtein, lcs, hamming) and
``score = -distance`` for jaro_winkler (already in [0, 1]) and user callables.
A perfect generation scores 0.

Reward modes (``reward=``):

- ``"sparse"``: 0 on every step, the score on the last one.
- ``"dense"``: a reward on every step, ``potential(after) - potential(before)``,
  with potential 0 before the first token and the score after the last. So the
  dense rewards of an episode always sum to its sparse reward.
  For levenshtein and indel the potential is minus the best final distance still
  reachable (``min_j d(generated, target[:j])``, ignoring the token budget): a
  correct token costs nothing, a wrong one is charged at once (-1/len(target) for
  levenshtein), and stopping early is charged for what is missing. For the other
  metrics the potential compares the generation with the target prefix of the same
  length, ``-distance(generated, target[:len(generated)])``, scaled as the score.
- ``"inverse"``: ``1 / (1 + distance)`` on the last step (the raw, unscaled
  distance), 0 before: in (0, 1], 1 for a perfect generation.
- ``"exact"``: 1 on the last step if the generation equals the target, else 0.

Reward ranges: sparse and dense episode returns lie in
``[-max(max_new_tokens, len(target)) / len(target), 0]`` for the edit-counting
metrics and in ``[-1, 0]`` for jaro_winkler; a dense levenshtein step before the
last is 0 or ``-1/len(target)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from rapidfuzz.distance import OSA, DamerauLevenshtein, Hamming, Indel, JaroWinkler, LCSseq, Levenshtein

from textgen_env.distance import INCREMENTAL_SUBSTITUTION_COST

REWARD_MODES = ("dense", "sparse", "inverse", "exact")

DistanceFn = Callable[[Sequence[int], Sequence[int]], float]


@dataclass(frozen=True)
class Metric:
    """A distance between token sequences and how it turns into a score."""

    name: str
    distance: DistanceFn
    counts_edits: bool

    @property
    def substitution_cost(self) -> int | None:
        """The DP kernel's substitution cost where the metric is updated incrementally, else None."""
        return INCREMENTAL_SUBSTITUTION_COST.get(self.name)

    def scale(self, target_length: int) -> float:
        return float(max(1, target_length)) if self.counts_edits else 1.0

    def score(self, generated: Sequence[int], target: Sequence[int]) -> float:
        return -float(self.distance(generated, target)) / self.scale(len(target))

    def prefix_potential(self, generated: Sequence[int], target: Sequence[int]) -> float:
        """The dense potential of metrics without an incremental kernel."""
        return -float(self.distance(generated, target[: len(generated)])) / self.scale(len(target))


METRICS: dict[str, Metric] = {
    "levenshtein": Metric("levenshtein", Levenshtein.distance, True),
    "indel": Metric("indel", Indel.distance, True),
    "osa": Metric("osa", OSA.distance, True),
    "damerau_levenshtein": Metric("damerau_levenshtein", DamerauLevenshtein.distance, True),
    "lcs": Metric("lcs", LCSseq.distance, True),
    "hamming": Metric("hamming", lambda a, b: Hamming.distance(a, b, pad=True), True),
    "jaro_winkler": Metric("jaro_winkler", JaroWinkler.distance, False),
}


def resolve_metric(metric) -> Metric:
    """The env's `metric` argument: a name from METRICS, a Metric, or a callable distance."""
    if isinstance(metric, Metric):
        return metric
    if isinstance(metric, str):
        if metric not in METRICS:
            raise ValueError(f"metric={metric!r}: allowed values are {sorted(METRICS)} or a callable (generated, target) -> distance")
        return METRICS[metric]
    if callable(metric):
        return Metric(getattr(metric, "__name__", "custom"), metric, False)
    raise TypeError(f"metric={metric!r}: allowed values are {sorted(METRICS)} or a callable (generated, target) -> distance")


def check_reward_mode(reward: str) -> str:
    if reward not in REWARD_MODES:
        raise ValueError(f"reward={reward!r}: allowed values are {list(REWARD_MODES)}")
    return reward


def terminal_reward(mode: str, score, distance, exact, potential_before):
    """The reward of an episode's last step; scalars or arrays (one entry per env)."""
    if mode == "dense":
        return score - potential_before
    if mode == "sparse":
        return score
    if mode == "inverse":
        return 1.0 / (1.0 + distance)
    return np.asarray(exact, dtype=np.float64)


def similarity(generated: Sequence[int], target: Sequence[int]) -> float:
    """Normalized Levenshtein similarity in [0, 1]: the headline metric of evaluations."""
    return float(Levenshtein.normalized_similarity(generated, target))

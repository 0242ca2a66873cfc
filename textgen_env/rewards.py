"""Reward modes and metrics, and the dense/sparse contract.

A *metric* measures the distance between the generated token sequence and the
target (token ids; characters for the char tokenizer, words for the word one).
Its *score* is the negative distance, scaled so that it is comparable across
targets: ``score = -distance / max(1, len(target))`` for metrics that count edits
(levenshtein, indel, osa, damerau_levenshtein, lcs, hamming) and
``score = -distance`` for jaro_winkler (already in [0, 1]) and user callables.
A perfect generation scores 0. The scale is :meth:`Metric.scale`, the one place
that rule lives.

Reward modes (``reward=``), the table :data:`REWARD_MODES`:

- ``"dense"``: a reward on every step, ``potential(after) - potential(before)``,
  with potential 0 before the first token and the score after the last. So the
  dense rewards of an episode always sum to its sparse reward.
  For levenshtein and indel the potential is minus the best final distance still
  reachable (``min_j d(generated, target[:j])``, ignoring the token budget): a
  correct token costs nothing, a wrong one is charged at once (-1/len(target) for
  levenshtein), and stopping early is charged for what is missing. For the other
  metrics the potential compares the generation with the target prefix of the same
  length, ``-distance(generated, target[:len(generated)])``, scaled as the score.
- ``"sparse"``: 0 on every step, the score on the last one.
- ``"inverse"``: ``1 / (1 + distance)`` on the last step (the raw, unscaled
  distance), 0 before: in (0, 1], 1 for a perfect generation.
- ``"exact"``: 1 on the last step if the generation equals the target, else 0.

Reward ranges: sparse and dense episode returns lie in
``[-max(max_new_tokens, len(target)) / len(target), 0]`` for the edit-counting
metrics and in ``[-1, 0]`` for jaro_winkler; a dense levenshtein step before the
last is 0 or ``-1/len(target)``.

To add a reward mode: add a row to :data:`REWARD_MODES` (whether it is dense, and
its terminal reward's weights over :data:`TERMINAL_FEATURES`); both episode cores
(:mod:`textgen_env.core`) read the table, and nothing else defines a mode.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from rapidfuzz.distance import OSA, DamerauLevenshtein, Hamming, Indel, JaroWinkler, LCSseq, Levenshtein

DistanceFn = Callable[[Sequence[int], Sequence[int]], float]


# -- reward modes ---------------------------------------------------------------------


TERMINAL_FEATURES = ("score", "potential_before", "inverse_distance", "exact")


@dataclass(frozen=True)
class RewardMode:
    """How an episode is rewarded.

    `dense` modes also pay on the steps before the last (the change in potential).
    The last step pays a weighted sum of :data:`TERMINAL_FEATURES`: the score, the
    dense potential before this step, ``1 / (1 + distance)``, and 1.0 for an exact
    generation. Both episode cores read these weights, so a row of the table is the
    whole definition of a mode.
    """

    name: str
    dense: bool
    terminal_weights: tuple[float, float, float, float]

    def terminal(self, score, distance, exact, potential_before):
        """The last step's reward, for arrays (`exact` is only read when its weight is not 0)."""
        exact = None if exact is None else np.asarray(exact, dtype=np.float64)
        weights = np.array(self.terminal_weights, dtype=np.float64)
        return terminal_reward(weights, np.asarray(score, dtype=np.float64), potential_before, distance, exact)


def terminal_reward(weights, score, potential_before, distance, exact):
    """The last step's reward: `weights` (a mode's ``terminal_weights``) over :data:`TERMINAL_FEATURES`, for scalars or
    arrays. The one definition: the numpy core calls it on arrays, the compiled core compiles it for one episode.
    A feature whose weight is 0 is not read (`exact` may then be anything)."""
    reward = 0.0
    if weights[0] != 0.0:
        reward = reward + weights[0] * score
    if weights[1] != 0.0:
        reward = reward + weights[1] * potential_before
    if weights[2] != 0.0:
        reward = reward + weights[2] * (1.0 / (1.0 + distance))
    if weights[3] != 0.0:
        reward = reward + weights[3] * exact
    return reward


REWARD_MODES: dict[str, RewardMode] = {
    mode.name: mode
    for mode in (
        RewardMode("dense", True, (1.0, -1.0, 0.0, 0.0)),
        RewardMode("sparse", False, (1.0, 0.0, 0.0, 0.0)),
        RewardMode("inverse", False, (0.0, 0.0, 1.0, 0.0)),
        RewardMode("exact", False, (0.0, 0.0, 0.0, 1.0)),
    )
}


def reward_mode(reward) -> RewardMode:
    if not isinstance(reward, str) or reward not in REWARD_MODES:
        raise ValueError(f"reward={reward!r}: allowed values are {list(REWARD_MODES)}")
    return REWARD_MODES[reward]


# -- metrics ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Metric:
    """A distance between token sequences and how it turns into a score.

    ``substitution_cost`` is set for the metrics the incremental kernels update one
    token at a time (1 for levenshtein, 2 for indel: a substitution is a deletion
    plus an insertion); the others are recomputed with rapidfuzz. ``similarity`` is the
    metric's normalized similarity in [0, 1] (rapidfuzz's, on texts or token sequences; 1
    for an exact match), what the TRL rewards and the completion scores report.
    """

    name: str
    distance: DistanceFn
    counts_edits: bool
    substitution_cost: int | None = None
    builtin: bool = False
    similarity: Callable[[Sequence, Sequence], float] | None = None

    def scale(self, target_length: int) -> float:
        """What a distance is divided by to give the score: the one home of that rule."""
        return float(max(1, target_length)) if self.counts_edits else 1.0

    def measure(self, generated: Sequence[int], target: Sequence[int]):
        """The distance, an int for edit counts; a user callable's value is checked and named when bad."""
        value = self.distance(generated, target)
        if not self.builtin:
            value = self._checked(value, generated, target)
        return int(value) if self.counts_edits else float(value)

    def score(self, generated: Sequence[int], target: Sequence[int]) -> float:
        return -float(self.measure(generated, target)) / self.scale(len(target))

    def prefix_potential(self, generated: Sequence[int], target: Sequence[int]) -> float:
        """The dense potential of metrics without an incremental kernel."""
        return -float(self.measure(generated, target[: len(generated)])) / self.scale(len(target))

    def _checked(self, value, generated, target) -> float:
        if (
            isinstance(value, (bool, np.bool_))
            or not isinstance(value, (int, float, np.integer, np.floating))
            or not math.isfinite(value)
            or value < 0
        ):
            raise ValueError(
                f"metric {self.name!r} returned {value!r} for generated={list(generated)!r}, target={list(target)!r};"
                " a distance must be a finite number >= 0"
            )
        return float(value)

    def __reduce__(self):
        # Built-in metrics pickle by name (rapidfuzz's functions do not pickle); callables as themselves.
        if self.builtin:
            return (resolve_metric, (self.name,))
        return (Metric, (self.name, self.distance, self.counts_edits, self.substitution_cost, self.builtin))


def _hamming(generated: Sequence[int], target: Sequence[int]) -> int:
    return Hamming.distance(generated, target, pad=True)


def _hamming_similarity(generated: Sequence, target: Sequence) -> float:
    return Hamming.normalized_similarity(generated, target, pad=True)


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("levenshtein", Levenshtein.distance, True, 1, True, Levenshtein.normalized_similarity),
        Metric("indel", Indel.distance, True, 2, True, Indel.normalized_similarity),
        Metric("osa", OSA.distance, True, None, True, OSA.normalized_similarity),
        Metric("damerau_levenshtein", DamerauLevenshtein.distance, True, None, True, DamerauLevenshtein.normalized_similarity),
        Metric("lcs", LCSseq.distance, True, None, True, LCSseq.normalized_similarity),
        Metric("hamming", _hamming, True, None, True, _hamming_similarity),
        Metric("jaro_winkler", JaroWinkler.distance, False, None, True, JaroWinkler.normalized_similarity),
    )
}


def resolve_metric(metric) -> Metric:
    """The env's `metric` argument: a name from METRICS, a Metric, or a callable distance."""
    if isinstance(metric, Metric):
        return metric
    if isinstance(metric, str):
        if metric not in METRICS:
            raise ValueError(
                f"metric={metric!r}: allowed values are {sorted(METRICS)} or a callable (generated, target) -> distance"
            )
        return METRICS[metric]
    if callable(metric):
        return Metric(getattr(metric, "__name__", type(metric).__name__), metric, False)
    raise TypeError(f"metric={metric!r}: allowed values are {sorted(METRICS)} or a callable (generated, target) -> distance")


def similarity(generated: Sequence[int], target: Sequence[int]) -> float:
    """Normalized Levenshtein similarity in [0, 1]: the headline metric of evaluations."""
    return float(Levenshtein.normalized_similarity(generated, target))


def similarity_from_distance(distance, generated_length, target_length):
    """:func:`similarity` from a Levenshtein distance already at hand, ``1 - d / max(lengths)``
    (1 for two empty sequences); scalars or arrays."""
    return 1.0 - distance / np.maximum(np.maximum(generated_length, target_length), 1)

"""Incremental edit-distance kernels over token-id sequences.

State: one dynamic-programming row per episode, ``row[j] = d(generated, target[:j])``
for ``j = 0..M``. Appending one generated token updates the row in O(M) numpy work,
never a recomputation over the whole prefix:

    new[0] = old[0] + 1
    new[j] = min(old[j-1] + cost(target[j-1], token), old[j] + 1, new[j-1] + 1)

The last term is a running minimum of ``new[j] - j``; ``np.minimum.accumulate``
computes it without a Python loop. ``cost`` is 1 for Levenshtein and 2 for Indel
(a substitution is then a deletion plus an insertion). Every function works on the
last axis, so the same code serves one episode (shape ``(M+1,)``) and a batch
(shape ``(N, M+1)``). Targets in a batch are right-padded with ``TARGET_PAD`` (-1),
which never matches a token; columns past an episode's own target length are
ignored by :func:`best_reachable` and :func:`distance_at`.
"""

from __future__ import annotations

import numpy as np

TARGET_PAD = -1
INCREMENTAL_SUBSTITUTION_COST = {"levenshtein": 1, "indel": 2}
_UNREACHABLE = np.iinfo(np.int32).max // 2


def initial_rows(batch_shape: tuple[int, ...], width: int) -> np.ndarray:
    """Rows for empty generations: ``row[j] = j`` (j insertions)."""
    return np.broadcast_to(np.arange(width + 1, dtype=np.int32), (*batch_shape, width + 1)).copy()


def advance_rows(rows: np.ndarray, targets: np.ndarray, tokens, substitution_cost: int) -> np.ndarray:
    """The rows after appending `tokens` (a scalar, or one token per row) to each generation."""
    tokens = np.asarray(tokens)
    mismatch = targets != tokens[..., None]
    columns = np.arange(rows.shape[-1], dtype=np.int32)
    new = np.empty_like(rows)
    new[..., 0] = rows[..., 0] + 1
    np.minimum(rows[..., :-1] + mismatch * np.int32(substitution_cost), rows[..., 1:] + 1, out=new[..., 1:])
    new -= columns
    np.minimum.accumulate(new, axis=-1, out=new)
    new += columns
    return new


def column_penalty(target_lengths: np.ndarray, width: int) -> np.ndarray:
    """0 for the columns ``j <= len(target)`` of each row, a huge value past them."""
    columns = np.arange(width + 1)
    return np.where(columns <= np.asarray(target_lengths)[..., None], 0, _UNREACHABLE).astype(np.int32)


def best_reachable(rows: np.ndarray, penalty: np.ndarray) -> np.ndarray:
    """min over j <= len(target) of row[j]: the smallest final distance any continuation can reach.

    Appending ``target[j:]`` after the generation costs nothing more than ``row[j]``,
    and every continuation aligns the generation with some target prefix.
    """
    return (rows + penalty).min(axis=-1)


def distance_at(rows: np.ndarray, target_lengths) -> np.ndarray:
    """row[len(target)]: the distance between the generation and the whole target."""
    target_lengths = np.asarray(target_lengths)
    if rows.ndim == 1:
        return rows[int(target_lengths)]
    return np.take_along_axis(rows, target_lengths[:, None].astype(np.intp), axis=-1)[:, 0]

"""The single env's kernel: one episode's DP column as Python-int bit vectors.

Python ints have no width limit, so one "word" covers any target length, and a
token costs a handful of integer operations however long the target is.
"""

from __future__ import annotations

import numpy as np


def chunk_tables(bits: int = 8) -> tuple[list[int], list[int]]:
    """For each pair of `bits`-bit chunks (up-steps | down-steps << bits): net change and lowest prefix."""
    keys = np.arange(1 << (2 * bits))
    positions = np.arange(bits)
    steps = ((keys[:, None] >> positions) & 1) - ((keys[:, None] >> (positions + bits)) & 1)
    prefix = np.cumsum(steps, axis=1)
    return prefix[:, -1].tolist(), np.minimum(prefix.min(axis=1), 0).tolist()


_CHUNK_NET, _CHUNK_LOWEST = chunk_tables()


class BitParallelRow:
    """One episode's DP column in Python-int bit vectors: O(len(target) / word) per token.

    The single env's kernel. Bit ``j`` of the vertical deltas describes
    ``D[j+1] - D[j]`` with ``D[0] = len(generated)``. Levenshtein follows Hyyrö's
    global variant of Myers' algorithm (Myers 1999; Hyyrö 2001); Indel the LCS
    bit-vector of Allison-Dix / Hyyrö 2004, where every delta is +1 (bit set) or -1.
    Python ints have no width limit, so one "word" covers any target length.
    """

    def __init__(self, target, substitution_cost: int):
        self.length = len(target)
        self.mask = (1 << self.length) - 1
        self.indel = substitution_cost == 2
        self.match_masks: dict[int, int] = {}
        for j, token in enumerate(target):
            self.match_masks[int(token)] = self.match_masks.get(int(token), 0) | (1 << j)
        self.generated = 0
        self.up, self.down = self.mask, 0  # D[j] = j: every delta +1
        self.distance = self.length

    def append(self, token: int) -> None:
        self.generated += 1
        if not self.length:
            self.distance += 1
            return
        match = self.match_masks.get(token, 0)
        if self.indel:
            unchanged = self.up & match
            self.up = ((self.up + unchanged) | (self.up - unchanged)) & self.mask
            self.down = ~self.up & self.mask
            self.distance = self.generated - self.length + 2 * self.up.bit_count()
            return
        up, down, mask = self.up, self.down, self.mask
        vertical = match | down
        horizontal = (((match & up) + up) ^ up) | match
        h_up = down | ~(horizontal | up)
        h_down = up & horizontal
        last = 1 << (self.length - 1)
        if h_up & last:
            self.distance += 1
        elif h_down & last:
            self.distance -= 1
        h_up = (h_up << 1) | 1  # row 0 grows by one per token: global alignment
        h_down <<= 1
        self.up = (h_down | ~(vertical | h_up)) & mask
        self.down = h_up & vertical & mask

    def best_reachable(self) -> int:
        """``min_j D[j]``, from the lowest prefix sum of the deltas, 8 bits per table look-up."""
        up, down = self.up, self.down
        lowest = offset = 0
        while up or down:  # past the last set bit every delta is 0
            key = (up & 255) | ((down & 255) << 8)
            if offset + _CHUNK_LOWEST[key] < lowest:
                lowest = offset + _CHUNK_LOWEST[key]
            offset += _CHUNK_NET[key]
            up >>= 8
            down >>= 8
        return self.generated + lowest

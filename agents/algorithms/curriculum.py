"""A length curriculum: start on the shortest targets, move to longer ones as they are learned.

It works through the episode indices an agent chooses (``sample_indices``), so
the env needs no change and any dataset, the user's own included, can use it.
Band ``k`` holds every pair whose target is no longer than the ``k``-th shortest
target length of the dataset; an episode's length is drawn uniformly from the
band's lengths, then a pair of that length. When the mean similarity of the last
``window`` episodes of the current band reaches ``threshold``, the next length joins.
"""

from __future__ import annotations

from collections import deque

import numpy as np


class LengthCurriculum:
    def __init__(self, target_lengths: np.ndarray, threshold: float = 0.9, window: int = 1024):
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"curriculum_threshold={threshold!r}: must be in (0, 1]")
        if window < 1:
            raise ValueError(f"curriculum_window={window!r}: must be >= 1")
        target_lengths = np.asarray(target_lengths)
        self.lengths = np.unique(target_lengths)  # sorted
        self.pairs_of_length = [np.flatnonzero(target_lengths == n) for n in self.lengths]
        self.threshold, self.window = threshold, window
        self.band = 0
        self.recent: deque[float] = deque(maxlen=window)

    @property
    def max_length(self) -> int:
        """The longest target length in the current band."""
        return int(self.lengths[self.band])

    @property
    def complete(self) -> bool:
        return self.band == len(self.lengths) - 1

    def sample(self, rng: np.random.Generator, count: int) -> np.ndarray:
        """`count` pair indices of the current band."""
        lengths = rng.integers(self.band + 1, size=count)
        return np.array([self.pairs_of_length[k][rng.integers(len(self.pairs_of_length[k]))] for k in lengths], dtype=np.int64)

    def record(self, similarities: np.ndarray) -> bool:
        """Add finished episodes' similarities; True if that moved the curriculum to the next band."""
        self.recent.extend(float(s) for s in similarities)
        if not self.complete and len(self.recent) == self.window and np.mean(self.recent) >= self.threshold:
            self.band += 1
            self.recent.clear()
            return True
        return False

    def state(self) -> dict:
        return {"band": self.band, "recent": list(self.recent)}

    def load_state(self, state: dict) -> None:
        band = int(state["band"])
        if not 0 <= band < len(self.lengths):
            raise ValueError(f"curriculum band {band} is outside this dataset's {len(self.lengths)} bands")
        self.band = band
        self.recent = deque((float(s) for s in state["recent"]), maxlen=self.window)

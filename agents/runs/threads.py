"""Torch's CPU threads: how many, and how long an idle one spins before it sleeps.

Both must be set before torch loads (OpenMP reads its environment once), so the
command line calls :func:`configure_threads` before it imports torch.

Why: torch's OpenMP threads spin at the end of every parallel region (libgomp's
default is 300,000 spins), waiting for more work. When two trainings share the
cores, each spins on a core the other needs, and its next parallel region waits for
a thread that is not scheduled: each fell to 0.16-0.31x of its speed alone on 2 cores.
Measured in ``benchmarks/results/scaling.md`` (reverse, PPO's defaults, 2 cores):

- one thread per training (the default for ``train`` and ``pretrain``): 0.87x alone,
  and two at once each keep their speed;
- torch's count (one per core) with a short spin (``GOMP_SPINCOUNT=1000``): 0.83-0.90x
  alone, 0.40-0.58x each when two share the cores;
- ``OMP_WAIT_POLICY=PASSIVE``: 0.67-0.75x alone.

One thread also makes a run's numbers the same on machines with different core
counts. The short spin is set for every command (unless the environment chooses a
wait policy), so ``--threads N`` above 1 shares the cores gracefully too.
"""

from __future__ import annotations

import os
import sys

SPIN_COUNT = "1000"  # libgomp's spins before an idle OpenMP thread sleeps (default 300,000)
TRAINING_THREADS = 1  # train and pretrain, unless --threads or OMP_NUM_THREADS says otherwise


def configure_threads(threads: int | None = None, default: int | None = None) -> None:
    """Short OpenMP spin waits (unless the environment sets a policy), and `threads` torch threads:
    `default` where neither `threads` nor ``OMP_NUM_THREADS`` is given, torch's own count where none is."""
    for name, value in (("threads", threads), ("default", default)):
        if value is not None and value < 1:
            raise ValueError(f"{name}={value}: must be at least 1")
    if "OMP_WAIT_POLICY" not in os.environ:
        os.environ.setdefault("GOMP_SPINCOUNT", SPIN_COUNT)
    if threads is None and "OMP_NUM_THREADS" not in os.environ:
        threads = default
    if threads is not None:
        os.environ["OMP_NUM_THREADS"] = str(threads)
        if "torch" in sys.modules:  # already loaded (in a notebook, say): the count still applies
            sys.modules["torch"].set_num_threads(threads)

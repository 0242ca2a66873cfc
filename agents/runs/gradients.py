"""A minibatch's gradient taken in parts that run side by side, one per free core.

The gradient of a sum of losses is the sum of their gradients: a minibatch cut into parts (each part's loss
weighted as in the whole minibatch) has the gradient of the whole, taken part by part and added in a fixed
order. Which rows go in which part depends on the minibatch alone, so the result is the same whether the parts
ran at once on two cores or one after another on one: the same seed gives the same numbers on any machine.

The parts run in threads of this process: torch releases Python's lock inside its ops and autograd's backward,
and each thread does its ops with one intra-op thread. A part that waits for a core blocks; nothing spins, so on
a busy machine a run slows to one core's speed and no further, and two runs share the cores as two processes do.
Python's lock is held between ops, so a part must hold enough work for the ops to dominate: a minibatch is cut
only into parts of at least :data:`MIN_PART_CELLS` padded steps.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import torch

# A part's padded steps (episodes x steps) below which a thread costs more than it saves (Python's lock): PPO's
# policy on minibatches of 64 episodes ran 0.87x as fast in two threads at 8 steps, 1.06x at 16, 1.5x at 48-64.
# A worker process instead of the thread ran 1.65x at 64 steps but paid ~2 ms a part in messages (parity at 8).
MIN_PART_CELLS = 512


def split_rows(rows: torch.Tensor, steps: int, parts: int) -> list[torch.Tensor]:
    """`rows` (a minibatch's episode indices, `steps` long at most) cut into at most `parts` interleaved parts,
    ``rows[i::count]``, as many as keep :data:`MIN_PART_CELLS` padded steps in each. Interleaved, a minibatch of
    episodes sorted by length gives parts of similar lengths."""
    count = max(1, min(parts, len(rows), len(rows) * steps // MIN_PART_CELLS))
    return [rows[i::count] for i in range(count)]


def available_cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


class PartGradients:
    """Sums the gradients of a loss over the parts of a minibatch, the parts side by side on up to `workers`
    cores (default: the cores this process may use)."""

    def __init__(self, workers: int | None = None):
        self.workers = max(1, available_cores() if workers is None else workers)
        self._pool: ThreadPoolExecutor | None = None  # made on first use, by the training thread alone

    def pool(self) -> ThreadPoolExecutor:
        if self._pool is None:
            # a new thread starts with OpenMP's default count (one per core): give it this thread's count
            threads = torch.get_num_threads()
            self._pool = ThreadPoolExecutor(
                self.workers - 1, "gradient-part", initializer=torch.set_num_threads, initargs=(threads,)
            )
        return self._pool

    def accumulate(self, parameters: Sequence[torch.nn.Parameter], parts: Sequence, loss_of: Callable) -> tuple[float, list]:
        """Set each parameter's ``grad`` to the sum over `parts` of the gradient of ``loss_of(part)[0]``.

        ``loss_of(part)`` returns ``(loss, extras)``; returns the sum of the losses and each part's extras, in
        the parts' order. Parameters that no part's loss reaches get no gradient (``grad`` None).
        """
        parameters = [p for p in parameters if p.requires_grad]

        def gradients(part):
            loss, extras = loss_of(part)
            return loss.detach(), torch.autograd.grad(loss, parameters, allow_unused=True), extras

        if len(parts) == 1 or self.workers == 1:
            results = [gradients(part) for part in parts]
        else:
            # the first part in this thread, the others in the pool's, all waited for before any is summed
            pending = [self.pool().submit(gradients, part) for part in parts[1:]]
            results = [gradients(parts[0])] + [future.result() for future in pending]
        for index, parameter in enumerate(parameters):
            found = [grads[index] for _, grads, _ in results if grads[index] is not None]
            parameter.grad = None if not found else found[0] if len(found) == 1 else torch.stack(found).sum(0)
        total = results[0][0] if len(results) == 1 else torch.stack([loss for loss, _, _ in results]).sum()
        return float(total), [extras for _, _, extras in results]

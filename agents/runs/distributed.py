"""Our own training loop across processes and machines, with PyTorch's distributed package.

    torchrun --nproc-per-node 2 -m agents train --task reverse

torchrun starts one process (rank) per slot and describes the group in environment
variables; :func:`join_launched_group` joins it (gloo on CPU, nccl on CUDA). Then, as
in CleanRL's multi-GPU PPO:

- each rank steps its own vector env of ``num_envs / world_size`` episodes, sampled with
  its own seed (``seed + rank``), so a batch still holds ``num_envs`` episodes in all;
- after each backward pass the ranks' gradients are averaged in one all-reduce, each
  weighted by the number of steps its loss averaged over, so every rank takes the same
  optimizer step: the one a single process would take on all ranks' episodes together;
- rank 0 alone holds the run folder and writes the log and the checkpoints.

:class:`Ranks` is this process's view of the group; outside a group it is a world of
one whose collectives return their input, so the loop has a single code path.
"""

from __future__ import annotations

import os
import time

import numpy as np
import torch
import torch.distributed as dist


def launched() -> bool:
    """Whether a launcher (torchrun, or any that sets the same variables) started this process as one of several."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "MASTER_ADDR" in os.environ


def join_launched_group(device: str) -> None:
    """Join the process group torchrun describes, once; nothing when not launched by it.

    nccl where the policy trains on CUDA (``device`` auto with a GPU, or cuda[:N]), else gloo.
    """
    if not launched() or dist.is_initialized():
        return
    cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    if cuda:
        torch.cuda.set_device(local_rank())
    dist.init_process_group("nccl" if cuda else "gloo")


def leave_group(wait: bool = True) -> None:
    """Leave the process group, with the other ranks (`wait`) or alone; a rank that exits without leaving
    can abort in gloo's threads."""
    if dist.is_initialized():
        if wait:
            dist.barrier()
        dist.destroy_process_group()


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


class Ranks:
    """This process's place among the training processes, and the few collectives the loop needs."""

    def __init__(self):
        self.active = dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1
        self.rank = dist.get_rank() if self.active else 0
        self.world_size = dist.get_world_size() if self.active else 1
        # the processes on this machine (torchrun's LOCAL_WORLD_SIZE): they share its cores
        self.local_world_size = int(os.environ.get("LOCAL_WORLD_SIZE", self.world_size)) if self.active else 1
        nccl = self.active and dist.get_backend() == "nccl"
        self.device = torch.device("cuda", torch.cuda.current_device()) if nccl else torch.device("cpu")
        self.communication_seconds = 0.0  # in sums and gathers (waiting for the slowest rank included)

    @property
    def is_main(self) -> bool:
        """Rank 0: the one that writes the run folder, the log and the checkpoints."""
        return self.rank == 0

    def share(self, total: int, name: str) -> int:
        """This rank's part of `total` (episodes per batch, say), which must divide evenly."""
        if total % self.world_size:
            raise ValueError(f"{name}={total} must be a multiple of the number of processes ({self.world_size})")
        return total // self.world_size

    def sum(self, values: torch.Tensor) -> torch.Tensor:
        """The element-wise sum over ranks (a new tensor on `values`' device)."""
        if not self.active:
            return values.clone()
        started = time.perf_counter()
        summed = values.detach().to(self.device, copy=True)
        dist.all_reduce(summed)
        summed = summed.to(values.device)
        self.communication_seconds += time.perf_counter() - started
        return summed

    def sum_floats(self, *values: float) -> list[float]:
        """Each of `values` summed over ranks, in one all-reduce."""
        values = [float(v) for v in values]
        if not self.active:
            return values
        return self.sum(torch.tensor(values, dtype=torch.float64)).tolist()

    def average_gradients(self, parameters, weight: float) -> None:
        """Replace each gradient by the ranks' average, rank r weighted by its `weight` (its loss's step count).

        One all-reduce of every gradient and the weight in one flat buffer; a parameter
        without a gradient counts as zeros, so every rank sends the same layout.
        """
        if not self.active:
            return
        parameters = [p for p in parameters if p.requires_grad]
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in parameters]
        flat = torch.cat([g.reshape(-1) for g in grads] + [torch.ones(1, device=grads[0].device, dtype=grads[0].dtype)])
        flat = self.sum(flat * weight)
        flat = flat[:-1] / flat[-1]
        offset = 0
        for p, g in zip(parameters, grads):
            p.grad = flat[offset : offset + g.numel()].view_as(g).clone()
            offset += g.numel()

    def broadcast_parameters(self, module: torch.nn.Module) -> None:
        """Rank 0's weights (and buffers) everywhere."""
        if not self.active:
            return
        for tensor in [*module.parameters(), *module.buffers()]:
            moved = tensor.data.to(self.device)
            dist.broadcast(moved, src=0)
            tensor.data.copy_(moved)

    def broadcast_object(self, value):
        """Rank 0's `value` on every rank (a picklable Python object)."""
        if not self.active:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather_objects(self, value) -> list | None:
        """Every rank's `value`, in rank order, on rank 0 (None elsewhere)."""
        if not self.active:
            return [value]
        out = [None] * self.world_size if self.is_main else None
        dist.gather_object(value, out, dst=0)
        return out

    def concatenate(self, array: np.ndarray) -> np.ndarray:
        """Every rank's `array` (the same shape on each), concatenated in rank order, on every rank."""
        if not self.active:
            return array
        local = torch.as_tensor(np.ascontiguousarray(array, dtype=np.float64)).to(self.device)
        started = time.perf_counter()
        out = [torch.empty_like(local) for _ in range(self.world_size)]
        dist.all_gather(out, local)
        self.communication_seconds += time.perf_counter() - started
        return torch.cat(out).cpu().numpy().astype(array.dtype)

    def any(self, flag: bool) -> bool:
        """Whether `flag` is set on any rank (a stop request, say), so that all ranks act on it together."""
        return self.sum_floats(float(flag))[0] > 0

    def check_all(self, error: BaseException | None, what: str) -> None:
        """Raise on every rank if `error` happened on any (rank 0 re-raises its own): no rank waits forever."""
        failed = self.any(error is not None)
        if error is not None:
            raise error
        if failed:
            raise RuntimeError(f"{what} failed on another rank; see its message")

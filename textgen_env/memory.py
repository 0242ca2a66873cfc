"""Sizes checked against this machine's memory before anything is allocated."""

from __future__ import annotations

import os


def memory_bytes() -> int | None:
    """This machine's physical memory, where the OS says."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def check_allocation(nbytes: int, what: str, options: str) -> None:
    """Refuse, before allocating, arrays that would take more than a quarter of this machine's memory
    (a run allocates several such groups: the task's, the episodes', the policy's, a batch's)."""
    total = memory_bytes()
    if total is not None and nbytes > total // 4:
        raise ValueError(
            f"{options}: {what} would take {nbytes / 2**30:.1f} GiB, more than a quarter of this machine's"
            f" {total / 2**30:.1f} GiB of memory; lower them"
        )

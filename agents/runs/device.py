"""Where the policy runs: ``auto`` (cuda when torch sees one), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.

The policy, the rollout tensors and the optimizer live on the device; the env
always steps on the CPU.
"""

from __future__ import annotations

import torch

DEVICES = ("auto", "cpu", "cuda", "mps")


def what_torch_sees() -> str:
    cuda = f"{torch.cuda.device_count()} CUDA device(s)" if torch.cuda.is_available() else "no CUDA device"
    mps = (
        "an MPS device"
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
        else "no MPS device"
    )
    build = f"torch {torch.__version__}" + (
        f", built for CUDA {torch.version.cuda}" if torch.version.cuda else ", a CPU-only build"
    )
    return f"{cuda}, {mps} ({build})"


def resolve_device(name: str) -> torch.device:
    """The torch device for `name`, or a ValueError that says what torch sees."""
    if not isinstance(name, str):
        raise ValueError(f"device={name!r}: allowed values are {list(DEVICES)} or cuda:N")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    kind, _, index = name.partition(":")
    if kind not in DEVICES[1:] or (index and (kind != "cuda" or not index.isdigit())):
        raise ValueError(f"device={name!r}: allowed values are {list(DEVICES)} or cuda:N")
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device={name!r}: torch sees {what_torch_sees()}; use --device cpu (or auto)")
        if index and int(index) >= torch.cuda.device_count():
            raise ValueError(f"device={name!r}: torch sees {what_torch_sees()}")
    if kind == "mps" and not (getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()):
        raise ValueError(f"device={name!r}: torch sees {what_torch_sees()}; use --device cpu (or auto)")
    return torch.device(name)

"""Safe checkpoints: written atomically, loaded without unpickling arbitrary objects.

A checkpoint is a ``torch.save`` of plain containers only (tensors, numbers,
strings, lists, dicts): the policy and optimizer state dicts, the config and the
tokenizer vocabulary as JSON text, the RNG states, and the training progress.
It is written to a temporary file in the same folder and renamed into place, so a
crash never leaves a half-written checkpoint; it is read with
``torch.load(weights_only=True)``, which refuses pickled objects.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch

FORMAT = "textgen-rl-checkpoint"
VERSION = 2  # 2: the policy's encoder LSTM has no biases, so version 1 weights do not fit
REQUIRED = ("format", "version", "algorithm", "config", "tokenizer", "policy", "policy_config")


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used: missing, corrupt, or made for something else."""


def save_checkpoint(path: str | os.PathLike, payload: dict) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"format": FORMAT, "version": VERSION, **payload}
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(data, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def load_checkpoint(path: str | os.PathLike) -> dict:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises several types for truncated, foreign or pickled files
        raise CheckpointError(
            f"{path}: not a readable textgen-rl checkpoint ({type(e).__name__}: {str(e).splitlines()[0][:200]})"
        ) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a textgen-rl checkpoint (format {FORMAT!r} expected)")
    if data.get("version") != VERSION:
        raise CheckpointError(
            f"{path}: checkpoint version {data.get('version')!r}; this code reads version {VERSION} (retrain, or use the textgen-env release that wrote it)"
        )
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise CheckpointError(f"{path}: checkpoint lacks {missing}")
    data["config"] = json.loads(data["config"])
    data["tokenizer"] = json.loads(data["tokenizer"])
    data["policy_config"] = json.loads(data["policy_config"])
    return data

"""Safe, self-contained checkpoints: written atomically, loaded without unpickling arbitrary objects.

A checkpoint is a ``torch.save`` of plain containers only (tensors, numbers,
strings, lists, dicts), read back with ``torch.load(weights_only=True)``, which
refuses pickled objects. It holds everything needed to continue or use the run
without its data: the config (the env config included), the tokenizer (its whole
vocabulary, or a Hugging Face tokenizer's JSON), the held-out pairs of a dataset
file, the policy and optimizer state, the RNG states and the progress so far.

It is written to a temporary file beside it and renamed into place, so a crash
never leaves a half-written checkpoint; temporary files that a killed write left
behind are removed at the next save. Every field is checked when it is read: a
truncated or crafted file gives a :class:`CheckpointError` naming the file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from agents.config import PolicyConfig
from agents.policy import ActorCritic
from textgen_env.tokenizers import tokenizer_from_dict

FORMAT = "textgen-rl-checkpoint"
# 3: self-contained (tokenizer, env config, held-out pairs) and the algorithm's state under its own key;
# 2: the policy's encoder LSTM has no biases, so version 1 weights do not fit.
VERSION = 3
JSON_FIELDS = {
    "config": dict,
    "tokenizer": dict,
    "policy_config": dict,
    "limits": dict,  # the token limits the run resolved: max_prompt_tokens, max_new_tokens, min_new_tokens
    "history": list,
    "algorithm_state": dict,
    "heldout": (list, type(None)),
}


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used: missing, corrupt, or made for something else."""


def save_checkpoint(path: str | os.PathLike, payload: dict) -> Path:
    """Write `payload` atomically to `path`; on failure the previous checkpoint there is left intact."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f"{path.name}.*.tmp"):  # left by a write that was killed
        stale.unlink(missing_ok=True)
    data = {"format": FORMAT, "version": VERSION, **payload}
    tmp = path.parent / f"{path.name}.{os.getpid()}.tmp"
    try:
        with open(tmp, "wb") as f:
            torch.save(data, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        if isinstance(e, OSError):
            kept = f"; the previous checkpoint {path} is intact" if path.exists() else ""
            raise CheckpointError(f"{path}: could not write the checkpoint ({e.strerror or e}){kept}") from None
        raise
    return path


def _reason(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0][:200]}" if text else type(error).__name__


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Read and check a checkpoint; JSON fields come back parsed and the tokenizer rebuilt (``data["tokenizer_object"]``)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: the checkpoint file is empty (0 bytes)")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises several types for truncated, foreign or pickled files
        raise CheckpointError(f"{path}: not a readable textgen-rl checkpoint ({_reason(e)})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a textgen-rl checkpoint (format {FORMAT!r} expected)")
    if data.get("version") != VERSION:
        raise CheckpointError(
            f"{path}: checkpoint version {data.get('version')!r}; this code reads version {VERSION}"
            " (retrain, or use the textgen-env release that wrote it)"
        )
    for key in ("algorithm", "policy", *JSON_FIELDS):
        if key not in data:
            raise CheckpointError(f"{path}: checkpoint lacks {key!r}")
    if not isinstance(data["algorithm"], str):
        raise CheckpointError(f"{path}: 'algorithm' must be a string, got {data['algorithm']!r}")
    for key, kind in JSON_FIELDS.items():
        try:
            data[key] = json.loads(data[key])
        except (TypeError, ValueError) as e:
            raise CheckpointError(f"{path}: {key!r} is not JSON text ({_reason(e)})") from None
        if not isinstance(data[key], kind):
            raise CheckpointError(f"{path}: {key!r} has the wrong shape ({type(data[key]).__name__})")
    if not isinstance(data["policy"], dict) or not all(isinstance(v, torch.Tensor) for v in data["policy"].values()):
        raise CheckpointError(f"{path}: 'policy' must map parameter names to tensors")
    try:
        data["tokenizer_object"] = tokenizer_from_dict(data["tokenizer"])
    except (ValueError, TypeError) as e:
        raise CheckpointError(f"{path}: its tokenizer does not load ({e})") from None
    limits = data["limits"]
    if not all(isinstance(limits.get(k), int) for k in ("max_prompt_tokens", "max_new_tokens", "min_new_tokens")):
        raise CheckpointError(
            f"{path}: 'limits' must give integer max_prompt_tokens, max_new_tokens and min_new_tokens, got {limits!r}"
        )
    vocab_size = data["policy_config"].get("vocab_size")
    if vocab_size != data["tokenizer_object"].vocab_size:
        raise CheckpointError(
            f"{path}: the policy's vocab_size {vocab_size!r} does not match"
            f" its tokenizer's {data['tokenizer_object'].vocab_size}"
        )
    return data


def policy_from_checkpoint(data: dict, path, device: torch.device | str = "cpu") -> ActorCritic:
    """The checkpoint's policy on `device` (weights checked against its recorded size and heads)."""
    described = dict(data["policy_config"])
    vocab_size = described.pop("vocab_size")
    try:
        policy = ActorCritic(vocab_size, PolicyConfig(**described))
        policy.load_state_dict(data["policy"])
    except (TypeError, RuntimeError) as e:
        raise CheckpointError(f"{path}: its weights do not fit the policy it describes ({_reason(e)})") from None
    return policy.to(device)

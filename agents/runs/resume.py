"""How a run is resumed: its checkpoint checked (same algorithm, same folder, same data), then every piece of
state put back (weights, optimizer, random states, progress), so that it continues to the same result."""

from __future__ import annotations

import contextlib
import copy
import json
import random
from pathlib import Path

import numpy as np
import torch

from agents.runs.checkpoint import Checkpoint, CheckpointError
from agents.runs.rundir import CHECKPOINT_NAME, RunDirError
from textgen_env.files import content_digest


def resume_run(cls, path, *, total_env_steps: int | None = None, device: str | None = None, overwrite: bool = False):
    """Rebuild a `cls` run from its checkpoint `path`, in the checkpoint's own folder (see :meth:`Run.resume`)."""
    data = Checkpoint.load(path)
    if data.algorithm != cls.name:
        raise CheckpointError(f"{path}: checkpoint of a {data.algorithm!r} run, not {cls.name!r}")
    folder = Path(path).resolve().parent
    own = folder / CHECKPOINT_NAME
    if own.exists() and own != Path(path).resolve() and not overwrite:
        raise RunDirError(
            f"{path} is not its folder's own checkpoint: resuming from it would replace {own} (at"
            f" {Checkpoint.load(own).env_steps:,} env steps) and cut progress.csv back to its rows. Resume {own},"
            f" copy {Path(path).name} into a folder of its own to continue it there, or give --overwrite"
        )
    check_same_data(data, path)
    overrides = {"init_checkpoint": None, "run_dir": str(folder), "overwrite": False}
    if total_env_steps is not None:
        overrides["total_env_steps"] = total_env_steps
    if device is not None:
        overrides["device"] = device
    try:
        config = cls.config_class.from_dict({**data.config, **overrides})
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: its config does not fit {cls.config_class.__name__} ({e})") from None
    run = cls(config, tokenizer=data.tokenizer)
    restore(run, data, path)
    run.continues_folder = True
    return run


def check_same_data(data: Checkpoint, path) -> None:
    """Refuse to resume a run whose data files are gone or have changed since its checkpoint was written."""
    for file, digest in data.data_files.items():
        if not Path(file).exists():
            raise CheckpointError(
                f"{path}: its run trained on {file}, which is gone; restore the file to resume the run"
                " (evaluate and generate need it not: the checkpoint holds the held-out pairs)"
            )
        if content_digest(file) != digest:
            raise CheckpointError(
                f"{path}: {file} has changed since the run trained on it; a run resumes only on the same data, so"
                " that its held-out split never changes: restore the file, or start a new run on it"
            )


def restore(run, data: Checkpoint, path) -> None:
    """Put a checkpoint's state back into `run`, built from the checkpoint's config."""
    data.load_into(run.policy, path, data.training_policy or data.policy)
    if run.inference_policy is not run.policy:
        data.load_into(run.inference_policy, path)
    if data.reference_policy:
        run.reference_policy = copy.deepcopy(run.policy).requires_grad_(False)
        data.load_into(run.reference_policy, path, data.reference_policy)
    run.iteration, run.env_steps, run.history = data.iteration, data.env_steps, data.history
    rng = own_rng_state(run, data)
    with _restoring(path, "optimizer"):
        run.optimizer.load_state_dict(data.optimizer)
    with _restoring(path, "rng"):
        run.rng.bit_generator.state = json.loads(rng["numpy"])
        torch.set_rng_state(rng["torch"])
        random.setstate(_as_tuples(json.loads(rng["python"])))
        if "cuda" in rng and run.device.type == "cuda":
            torch.cuda.set_rng_state(rng["cuda"], run.device)
    with _restoring(path, "algorithm_state"):
        run.load_algorithm_state(data.algorithm_state)


def own_rng_state(run, data: Checkpoint) -> dict:
    """`run`'s process's random states in a checkpoint. A rank the checkpoint has none for (it was written
    by fewer processes) starts from its seed, its rank and the iteration."""
    rank = run.ranks.rank
    if rank == 0:
        return data.rng
    others = data.rng.get("ranks", [])
    if len(others) >= rank:
        return others[rank - 1]
    seed = run.config.seed + rank + 1_000_003 * data.iteration
    return {
        "numpy": json.dumps(np.random.default_rng(seed).bit_generator.state),
        "torch": torch.Generator().manual_seed(seed).get_state(),
        "python": json.dumps(random.Random(seed).getstate()),
    }


@contextlib.contextmanager
def _restoring(path, field: str):
    """A checkpoint field that does not load (wrong type or shape) is a CheckpointError naming it."""
    try:
        yield
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError, IndexError) as e:
        raise CheckpointError(f"{path}: its {field!r} does not load ({type(e).__name__}: {e})") from None


def _as_tuples(value):
    return tuple(_as_tuples(v) for v in value) if isinstance(value, list) else value

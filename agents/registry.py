"""The algorithms by name: what ``--agent`` and checkpoints' ``algorithm`` field refer to."""

from __future__ import annotations

from agents.algorithms.a2c import A2C
from agents.algorithms.ppo import PPO
from agents.algorithms.pretrain import Pretrain
from agents.algorithms.reinforce import Reinforce
from agents.runs.run import Run

RL_ALGORITHMS: dict[str, type[Run]] = {"ppo": PPO, "a2c": A2C, "reinforce": Reinforce}
ALGORITHMS: dict[str, type[Run]] = {**RL_ALGORITHMS, "pretrain": Pretrain}


def resume(path, **overrides) -> Run:
    """Rebuild any run from its checkpoint: the algorithm is read from the checkpoint."""
    from agents.runs.checkpoint import Checkpoint, CheckpointError

    algorithm = Checkpoint.load(path).algorithm
    if algorithm not in ALGORITHMS:
        raise CheckpointError(f"{path}: checkpoint of an unknown algorithm {algorithm!r}; known: {sorted(ALGORITHMS)}")
    return ALGORITHMS[algorithm].resume(path, **overrides)

"""The algorithms by name: what ``--agent`` and checkpoints' ``algorithm`` field refer to.

:data:`CONFIGS` (torch-free) gives each algorithm's config class; :data:`ALGORITHMS` and
:data:`RL_ALGORITHMS` give the classes themselves, each imported (with torch) when it is
first asked for, so that the command line builds its options and ``--help`` without torch.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from pathlib import Path

from agents.algorithms.configs import A2CConfig, PPOConfig, PretrainConfig, ReinforceConfig
from agents.runs.config import RunConfig

CONFIGS: dict[str, type[RunConfig]] = {
    "ppo": PPOConfig,
    "a2c": A2CConfig,
    "reinforce": ReinforceConfig,
    "pretrain": PretrainConfig,
}
_CLASSES = {
    "ppo": "agents.algorithms.ppo:PPO",
    "a2c": "agents.algorithms.a2c:A2C",
    "reinforce": "agents.algorithms.reinforce:Reinforce",
    "pretrain": "agents.algorithms.pretrain:Pretrain",
}


class _Algorithms(Mapping):
    """Algorithm classes by name, imported on first use."""

    def __init__(self, names: tuple[str, ...]):
        self.names = names

    def __getitem__(self, name: str):
        if name not in self.names:
            raise KeyError(name)
        module, _, attribute = _CLASSES[name].partition(":")
        return getattr(importlib.import_module(module), attribute)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)


RL_ALGORITHMS = _Algorithms(("ppo", "a2c", "reinforce"))
ALGORITHMS = _Algorithms(("ppo", "a2c", "reinforce", "pretrain"))


def resume(path, **overrides):
    """Rebuild any run from its checkpoint: the algorithm is read from the checkpoint."""
    from agents.runs.checkpoint import Checkpoint, CheckpointError

    algorithm = Checkpoint.load(path).algorithm
    if algorithm == "fit":
        raise CheckpointError(
            f"{path}: the policy a fit kept, not a run: continue the fit with textgen-rl fit --resume"
            f" {Path(path).parent}, or train from this policy with --init {path}"
        )
    if algorithm not in ALGORITHMS:
        raise CheckpointError(f"{path}: checkpoint of an unknown algorithm {algorithm!r}; known: {sorted(ALGORITHMS)}")
    return ALGORITHMS[algorithm].resume(path, **overrides)

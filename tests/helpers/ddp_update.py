"""Started by tests/test_distributed.py under torchrun: one PPO update on this rank's own batch.

Writes, per rank, the batch it collected and the weights after the update, for the
test to compare with one process updating on both ranks' batches together.
"""

import sys
from dataclasses import fields
from pathlib import Path

import torch

from agents.algorithms.ppo import PPO
from agents.algorithms.rollout import collect_episodes
from agents.runs.distributed import join_launched_group

from helpers.ddp_config import update_config

out = Path(sys.argv[1])
join_launched_group("cpu")
run = PPO(update_config(num_envs=16))
batch = collect_episodes(run.policy, run.env, run.sample_indices())
torch.save({f.name: getattr(batch, f.name) for f in fields(batch)}, out / f"batch{run.ranks.rank}.pt")
run.update(batch)
torch.save(run.policy.state_dict(), out / f"weights{run.ranks.rank}.pt")

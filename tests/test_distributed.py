"""Our own loop across processes (torchrun): the same update as one process on all ranks' episodes,
one writer of the run folder, and resume."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from agents.algorithms.ppo import PPO
from agents.algorithms.rollout import EpisodeBatch
from agents.runs.checkpoint import Checkpoint
from agents.runs.distributed import Ranks

from helpers.ddp_config import update_config

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent


def torchrun(*args) -> None:
    """Run `args` (a script, or -m and a module) as 2 processes under torchrun, one torch thread each."""
    torchrun_together(list(args))


def torchrun_together(*commands: list[str]) -> None:
    """Each of `commands` under torchrun (2 processes), all launched at once: their start-ups overlap."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), str(ROOT)]), "OMP_NUM_THREADS": "1"}
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]
    processes = [
        subprocess.Popen([*launcher, *args], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for args in commands
    ]
    for process in processes:
        _, err = process.communicate(timeout=300)
        assert process.returncode == 0, err[-3000:]


def concatenate(batches: list[dict]) -> EpisodeBatch:
    """The ranks' batches as one batch, the shorter ones padded with steps that are not real."""
    steps = max(b["mask"].shape[1] for b in batches)

    def padded(value, fill):
        extra = steps - value.shape[1]
        pad = torch.full((value.shape[0], extra, *value.shape[2:]), fill, dtype=value.dtype)
        return torch.cat([value, pad], dim=1)

    joined = {}
    for name in batches[0]:
        values = [b[name] for b in batches]
        if name in ("inputs", "actions", "action_masks", "mask", "rewards", "log_probs", "values"):
            fill = True if name == "action_masks" else 0  # a padded step's masks allow every action: no NaN
            joined[name] = torch.cat([padded(v, fill) for v in values])
        elif isinstance(values[0], torch.Tensor):
            joined[name] = torch.cat(values)
        elif isinstance(values[0], np.ndarray):
            joined[name] = np.concatenate(values)
        else:
            joined[name] = [item for v in values for item in v]
    return EpisodeBatch(**joined)


def test_two_ranks_take_the_update_one_process_takes_on_both_batches(tmp_path):
    torchrun(str(TESTS / "helpers" / "ddp_update.py"), str(tmp_path))
    batches = [torch.load(tmp_path / f"batch{r}.pt", weights_only=False) for r in range(2)]
    after = [torch.load(tmp_path / f"weights{r}.pt") for r in range(2)]
    # The ranks sampled different episodes, and ended with the same weights.
    assert not torch.equal(batches[0]["actions"][:, :2], batches[1]["actions"][:, :2])
    for name in after[0]:
        torch.testing.assert_close(after[0][name], after[1][name], rtol=0, atol=0)

    single = PPO(update_config(num_envs=32))  # same seed: the weights the ranks started from
    before = {k: v.clone() for k, v in single.policy.state_dict().items()}
    single.update(concatenate(batches))
    moved = 0.0
    for name, value in single.policy.state_dict().items():
        torch.testing.assert_close(after[0][name], value, rtol=1e-4, atol=1e-5, msg=name)
        moved = max(moved, float((value - before[name]).abs().max()))
    assert moved > 1e-3  # the update did move the weights


def train_command(run_dir, steps, *extra):
    return ["-m", "agents", "train", "--task", "reverse", "--steps", str(steps), "--num-envs", "16", "--seed", "2",
            "--embed-dim", "16", "--hidden-dim", "32", "--checkpoint-every", "1", "--no-anneal-lr", *extra]  # fmt: skip


def test_torchrun_trains_one_run_folder_and_resumes_to_the_uninterrupted_result(tmp_path):
    straight, halves = tmp_path / "straight", tmp_path / "halves"
    torchrun_together(
        train_command(straight, 2000, "--run-dir", str(straight)), train_command(halves, 1000, "--run-dir", str(halves))
    )
    first = Checkpoint.load(halves / "checkpoint.pt")
    assert len(first.rng["ranks"]) == 1  # rank 1's random states, for an exact resume
    torchrun("-m", "agents", "train", "--resume", str(halves / "checkpoint.pt"), "--steps", "2000")

    a, b = Checkpoint.load(straight / "checkpoint.pt"), Checkpoint.load(halves / "checkpoint.pt")
    assert a.env_steps == b.env_steps >= 2000
    assert [r["mean_return"] for r in a.history] == [r["mean_return"] for r in b.history]
    for name in a.policy:
        torch.testing.assert_close(a.policy[name], b.policy[name], rtol=0, atol=0, msg=name)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["halves", "straight"]  # no second folder from rank 1
    rows = (straight / "progress.csv").read_text().splitlines()
    assert len(rows) == 1 + len(a.history)  # one writer: no line twice


def test_a_batch_that_does_not_split_evenly_over_the_ranks_is_refused():
    ranks = Ranks()
    ranks.world_size = 3
    with pytest.raises(ValueError, match=r"num_envs=16 must be a multiple of the number of processes \(3\)"):
        ranks.share(16, "num_envs")


def test_outside_torchrun_the_collectives_are_the_identity():
    ranks = Ranks()
    assert (ranks.active, ranks.rank, ranks.world_size, ranks.is_main) == (False, 0, 1, True)
    assert ranks.sum_floats(2.5, torch.tensor(3.0)) == [2.5, 3.0]
    assert ranks.broadcast_object("x") == "x" and ranks.gather_objects(1) == [1] and not ranks.any(False)


def test_pretraining_refuses_to_run_as_several_processes(monkeypatch):
    from agents.algorithms.configs import PretrainConfig
    from agents.algorithms.pretrain import Pretrain
    from agents.runs import run

    class TwoRanks(Ranks):
        def __init__(self):
            super().__init__()
            self.active, self.world_size = True, 2

    monkeypatch.setattr(run, "Ranks", TwoRanks)
    with pytest.raises(ValueError, match="pretrain runs in one process: start it without torchrun"):
        Pretrain(PretrainConfig(epochs=1))


def test_a_world_size_without_a_launcher_is_one_process(monkeypatch):
    from agents.runs.distributed import launched

    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    assert not launched()  # a stray WORLD_SIZE (a cluster's own) starts no process group
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    assert launched()

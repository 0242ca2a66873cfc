"""The length curriculum: bands over the dataset's episode indices, moving up as they are learned."""

import csv

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="install the 'agents' extra")

from agents.algorithms.curriculum import LengthCurriculum  # noqa: E402
from agents.algorithms.ppo import PPO, PPOConfig  # noqa: E402
from agents.model.policy import PolicyConfig  # noqa: E402
from agents.registry import resume  # noqa: E402
from agents.runs.config import EnvConfig  # noqa: E402


def test_bands_sample_only_their_lengths_and_move_up_on_a_full_window():
    lengths = np.array([3, 1, 2, 3, 1, 5, 2])
    curriculum = LengthCurriculum(lengths, threshold=0.8, window=4)
    rng = np.random.default_rng(0)
    assert curriculum.max_length == 1 and set(curriculum.sample(rng, 50).tolist()) == {1, 4}
    assert not curriculum.record(np.array([1.0, 1.0, 1.0]))  # the window is not full yet
    assert curriculum.record(np.array([0.9])) and curriculum.max_length == 2  # mean 0.975 >= 0.8
    assert set(curriculum.sample(rng, 200).tolist()) == {1, 4, 2, 6}  # cumulative: shorter lengths stay
    assert not curriculum.record(np.array([0.5, 0.5, 0.9, 0.9]))  # mean 0.7 < 0.8
    assert curriculum.max_length == 2
    for _ in range(3):
        curriculum.record(np.ones(4))
    assert curriculum.max_length == 5 and curriculum.complete and not curriculum.record(np.ones(4))
    restored = LengthCurriculum(lengths, threshold=0.8, window=4)
    restored.load_state(curriculum.state())
    assert restored.band == curriculum.band and list(restored.recent) == list(curriculum.recent)


def test_lengths_are_drawn_uniformly_within_the_band():
    lengths = np.array([1] * 90 + [2] * 10)
    curriculum = LengthCurriculum(lengths, window=1)
    curriculum.record(np.ones(1))
    drawn = lengths[curriculum.sample(np.random.default_rng(1), 4000)]
    assert abs((drawn == 2).mean() - 0.5) < 0.03  # each length half the episodes, however few pairs it has


def curriculum_config(run_dir, steps):
    return PPOConfig(
        env=EnvConfig(task="copy", task_options={"num_examples": 30, "min_length": 1, "max_length": 4, "alphabet": "ab"}),
        policy=PolicyConfig(embed_dim=16, hidden_dim=32),
        num_envs=64,
        learning_rate=3e-3,
        total_env_steps=steps,
        curriculum=True,
        curriculum_threshold=0.8,
        curriculum_window=128,
        run_dir=str(run_dir),
        checkpoint_every=0,
    )


def test_ppo_moves_up_the_curriculum_logs_it_and_resumes_in_its_band(tmp_path):
    run = PPO(curriculum_config(tmp_path, 6000))
    history = run.learn()
    bands = [row["curriculum_max_length"] for row in history]
    assert bands[0] == 1 and bands[-1] > 1 and bands == sorted(bands)  # it moved up, never down
    with open(tmp_path / "progress.csv", newline="") as f:
        assert [int(r["curriculum_max_length"]) for r in csv.DictReader(f)] == bands
    resumed = resume(tmp_path / "checkpoint.pt", total_env_steps=9000)
    assert resumed.curriculum.band == run.curriculum.band and list(resumed.curriculum.recent) == list(run.curriculum.recent)
    resumed.learn()
    assert (
        resumed.history[len(history)]["curriculum_max_length"] == run.curriculum.max_length
    )  # continues in the band it stopped in


def test_bad_curriculum_settings_are_named():
    with pytest.raises(ValueError, match="curriculum_threshold=1.5"):
        LengthCurriculum(np.array([1, 2]), threshold=1.5)
    with pytest.raises(ValueError, match="curriculum_window=0"):
        LengthCurriculum(np.array([1, 2]), window=0)

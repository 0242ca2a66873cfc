"""TextGeneration-v0 inside Ray RLlib (the `rllib` extra; `make test-rllib` runs it in its own venv)."""

import pytest

ray = pytest.importorskip("ray", reason="install the 'rllib' extra (make test-rllib runs these in their own venv)")
pytest.importorskip("ray.rllib", reason="install the 'rllib' extra (make test-rllib runs these in their own venv)")

from agents.rllib import ppo_config  # noqa: E402

TINY = {"task": "copy", "task_options": {"num_examples": 36, "min_length": 2, "max_length": 3, "alphabet": "abc"}}


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, ignore_reinit_error=True, log_to_driver=False)
    yield
    ray.shutdown()


def test_ppo_trains_one_iteration_with_two_env_runners(local_ray):
    config = ppo_config(TINY, num_env_runners=2, train_batch_size_per_learner=256, minibatch_size=64, num_epochs=1)
    config = config.env_runners(num_cpus_per_env_runner=0.5)
    algo = config.build_algo()
    try:
        result = algo.train()
        assert result["env_runners"]["num_env_steps_sampled_lifetime"] >= 256
        assert result["env_runners"]["num_episodes"] > 0
        returns = result["env_runners"]["episode_return_mean"]
        assert -12.0 <= returns <= 0.0  # dense levenshtein returns of <= 16-token episodes
    finally:
        algo.stop()

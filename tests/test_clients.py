"""TextGeneration-v0 in TorchRL and Tianshou (the `clients` extra), which batch every info key as a tensor."""

import gymnasium as gym
import numpy as np
import pytest

import textgen_env  # noqa: F401

OPTIONS = {"num_examples": 36, "min_length": 2, "max_length": 3, "alphabet": "abc"}
INFO_KEYS = ("distance", "index", "invalid_action", "similarity")


def test_torchrl_batched_gym_env_reads_every_info_key():
    pytest.importorskip("torchrl", reason="install the 'clients' extra: pip install 'textgen-env[clients]'")
    from torchrl.envs import GymEnv

    env = GymEnv("textgen_env:TextGeneration-v0", num_envs=4, task="copy", task_options=OPTIONS)  # worker processes
    try:
        rollout = env.rollout(30, break_when_any_done=False)
    finally:
        env.close()
    keys = rollout.keys(True)
    for key in INFO_KEYS:
        assert ("next", key) in keys and rollout["next", key].shape == (4, 30)
    done = rollout["next", "done"][..., 0]
    assert done.any() and (rollout["next", "similarity"][~done] == 0).all()  # the end-of-episode value, 0.0 before
    assert (rollout["next", "distance"] >= 0).all() and (rollout["next", "index"] >= 0).all()


def test_torchrl_serial_env_of_single_envs():
    pytest.importorskip("torchrl", reason="install the 'clients' extra: pip install 'textgen-env[clients]'")
    from torchrl.envs import GymEnv, SerialEnv

    # Single envs' infos are not read by TorchRL unless asked (the batched GymEnv above reads them).
    env = SerialEnv(2, lambda: GymEnv("textgen_env:TextGeneration-v0", task="copy", task_options=OPTIONS))
    try:
        rollout = env.rollout(12, break_when_any_done=False)
    finally:
        env.close()
    assert rollout["next", "reward"].shape == (2, 12, 1) and rollout["next", "done"].any()
    assert (rollout["next", "reward"] <= 0).all()  # dense levenshtein rewards


def test_tianshou_dqn_collects_and_trains():
    ts = pytest.importorskip("tianshou", reason="install the 'clients' extra: pip install 'textgen-env[clients]'")
    from tianshou.algorithm.modelfree.dqn import DiscreteQLearningPolicy
    from tianshou.algorithm.optim import AdamOptimizerFactory
    from tianshou.data import CollectStats
    from tianshou.trainer import OffPolicyTrainerParams
    from tianshou.utils.net.common import Net

    def make():
        return gym.make("TextGeneration-v0", task="copy", task_options=OPTIONS, flat_observation=True)

    env = make()
    train_envs = ts.env.DummyVectorEnv([make for _ in range(4)])
    net = Net(state_shape=env.observation_space.shape, action_shape=env.action_space.n, hidden_sizes=[64])
    policy = DiscreteQLearningPolicy(model=net, action_space=env.action_space, eps_training=0.2, eps_inference=0.0)
    algorithm = ts.algorithm.DQN(policy=policy, optim=AdamOptimizerFactory(lr=1e-3), gamma=1.0, target_update_freq=50)
    buffer = ts.data.VectorReplayBuffer(2000, 4)
    collector = ts.data.Collector[CollectStats](algorithm, train_envs, buffer, exploration_noise=True)
    stats = collector.collect(n_step=400, reset_before_collect=True)
    assert stats.n_collected_episodes > 20
    buffer = collector.buffer
    for key in INFO_KEYS:  # every row has every key: nothing for Tianshou to fill with NaN
        assert np.isfinite(np.asarray(buffer.info[key][: len(buffer)], dtype=float)).all()
    result = algorithm.run_training(
        OffPolicyTrainerParams(
            training_collector=collector,
            max_epochs=1,
            epoch_num_steps=200,
            collection_step_num_env_steps=20,
            batch_size=32,
            update_step_num_gradient_steps_per_sample=0.1,
            test_in_training=False,
            show_progress=False,
        )
    )
    assert result.timing.total_time > 0 and len(collector.buffer) >= 600

"""The PPO config of the distributed-update test, shared by the test and its torchrun worker."""

from agents.algorithms.configs import PPOConfig
from agents.model.config import PolicyConfig
from agents.runs.config import EnvConfig


def update_config(num_envs: int) -> PPOConfig:
    # One minibatch, so that one process's minibatch is exactly the ranks' minibatches together.
    return PPOConfig(
        env=EnvConfig(task="reverse"),
        num_envs=num_envs,
        num_minibatches=1,
        update_epochs=3,
        target_kl=None,
        seed=5,
        policy=PolicyConfig(embed_dim=16, hidden_dim=32),
        device="cpu",
    )

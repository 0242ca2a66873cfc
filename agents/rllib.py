"""Ray RLlib integration (the `rllib` extra): PPO on TextGeneration-v0, on one machine or a cluster.

RLlib's default models take flat Box observations, while this env observes a
``Dict`` of two ``MultiDiscrete`` token vectors. :func:`ppo_config` adds RLlib's
``FlattenObservations`` env-to-module connector, which one-hot encodes both
vectors and concatenates them, so PPO works with no other change:

    from agents.rllib import ppo_config
    algo = ppo_config({"task": "copy"}, num_env_runners=2).build_algo()
    algo.train()

RLlib's PPO does not read ``action_masks()``; a masked action is written as UNK,
a wrong token (see the env's docstring). For several machines, start a Ray
cluster and run the same config there: ``examples/rllib_cluster.py``.
"""

from __future__ import annotations

ENV_NAME = "TextGeneration-v0"


def _make_env(env_config):
    from textgen_env.env import TextGenerationEnv

    return TextGenerationEnv(**dict(env_config))


def register() -> str:
    """Register the env with Ray Tune's registry (on every worker, through the config's env name)."""
    from ray.tune.registry import register_env

    register_env(ENV_NAME, _make_env)
    return ENV_NAME


def ppo_config(env_config: dict | None = None, num_env_runners: int = 2, **training):
    """An RLlib ``PPOConfig`` for TextGeneration-v0(**env_config); `training` goes to ``.training()``."""
    try:
        from ray.rllib.algorithms.ppo import PPOConfig
        from ray.rllib.connectors.env_to_module import FlattenObservations
    except ImportError:
        raise ImportError("RLlib is missing: install the 'rllib' extra, pip install 'textgen-env[rllib]'") from None
    register()
    return (
        PPOConfig()
        .environment(ENV_NAME, env_config=dict(env_config or {}))
        .env_runners(
            num_env_runners=num_env_runners, env_to_module_connector=lambda env, spaces, device: FlattenObservations()
        )
        .training(**training)
    )

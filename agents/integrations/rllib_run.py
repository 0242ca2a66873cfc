"""RLlib's PPO training our policy as a run of ours (the ``rllib`` extra): :class:`RLlibPPO`, :func:`train` and
:func:`export_checkpoint`. Built on :mod:`agents.integrations.rllib` (the algorithm's config, the env, the weights),
which imports nothing from here, so that the command line's help loads neither torch nor the run base."""

from __future__ import annotations

import math
import time
from pathlib import Path

from agents.algorithms.configs import PPOConfig
from agents.integrations.rllib import (
    RLlibConfig,
    load_policy_weights,
    policy_weights,
    ppo_config,
    require_rllib,
    rllib_training_settings,
)
from agents.runs.run import Run
from textgen_env.task import TextTask


class RLlibPPO(Run):
    """RLlib's PPO training our policy, as a run of ours: its run folder, progress log, Ctrl-C and checkpoints are
    :class:`~agents.runs.run.Run`'s, the policy's weights copied from RLlib's learner after each iteration."""

    name = "rllib-ppo"
    config_class = PPOConfig

    def __init__(self, config: PPOConfig, rllib: RLlibConfig | None = None, *, algo=None, tokenizer=None):
        super().__init__(config, tokenizer=tokenizer)
        self.rllib = rllib or RLlibConfig()
        self.algo = algo if algo is not None else self._build_algo()
        self.started = time.perf_counter()

    def _build_algo(self):
        env_config = self.config.env.task_config("train", self.task.tokenizer).arguments()
        rllib = self.rllib
        algo = ppo_config(
            env_config,
            num_env_runners=rllib.num_env_runners,
            model=rllib.model,
            policy=self.config.policy,
            envs_per_env_runner=rllib.envs_per_env_runner,
            num_learners=rllib.num_learners,
            num_gpus_per_learner=rllib.num_gpus_per_learner,
            task=self.task,
            **rllib_training_settings(self.config, self.task),
        ).build_algo()
        if self.config.init_checkpoint:  # the run loaded them into its policy
            load_policy_weights(algo, self.policy.state_dict())
        return algo

    @property
    def owns_policy(self) -> bool:
        """Whether RLlib trains our policy (with ``model="mlp"`` it trains its own, which no checkpoint of ours holds)."""
        return self.rllib.model == "lstm_attention"

    def iterate(self) -> dict:
        result = self.algo.train()["env_runners"]
        self.iteration += 1
        self.env_steps = int(result["num_env_steps_sampled_lifetime"])
        if self.owns_policy:
            self.policy.load_state_dict(policy_weights(self.algo))
        return {
            "iteration": self.iteration,
            "env_steps": self.env_steps,
            "mean_return": float(result.get("episode_return_mean", math.nan)),
            "env_steps_per_s": self.env_steps / (time.perf_counter() - self.started),
        }

    def finished(self) -> bool:
        limit = self.config.total_env_steps if self._until is None else min(self._until, self.config.total_env_steps)
        return self.env_steps >= limit

    def progress(self) -> tuple[int, int]:
        return self.config.total_env_steps, self.env_steps

    def shown(self, row: dict) -> dict:
        return {"return": f"{row['mean_return']:.3f}"}

    def checkpoint(self):
        return super().checkpoint() if self.owns_policy else None


def train(config, rllib: RLlibConfig, progress: bool = True) -> dict:
    """Train our PPO config's task with RLlib's PPO; the policy ends up as ``run_dir/checkpoint.pt``."""
    require_rllib()
    import ray

    if rllib.address is not None or not ray.is_initialized():
        ray.init(address=rllib.address, ignore_reinit_error=True, include_dashboard=False, log_to_driver=False)
    run = RLlibPPO(config, rllib)
    try:
        history = run.learn(progress=progress)
    finally:
        run.algo.stop()
    return history[-1] if history else {"iteration": 0, "env_steps": 0}


def export_checkpoint(algo, path, config, task: TextTask, history: list[dict], env_steps: int) -> Path:
    """Write the algorithm's policy as a checkpoint of ours (``algorithm`` "rllib-ppo"): evaluate and generate read it.
    Written by the run's own checkpoint writer (:meth:`agents.runs.run.Run.save`), as :class:`RLlibPPO` writes it."""
    run = RLlibPPO(config, algo=algo, tokenizer=task.tokenizer)
    run.iteration, run.env_steps, run.history = len(history), env_steps, history
    run.policy.load_state_dict(policy_weights(algo))
    return run.save(path)

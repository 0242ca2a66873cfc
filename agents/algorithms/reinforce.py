"""REINFORCE: Monte-Carlo policy gradient, loss = -log pi(a_t | s_t) * (G_t - b).

Baselines `b`:
- ``none``: b = 0.
- ``mean``: a running mean of the returns.
- ``value``: the learned value head, V(s_t) (trained by regression on G_t).
- ``self_critical``: the return of the greedy decode of the same prompt (SCST).
- ``rloo``: k samples per prompt, each baselined by the mean of the other k-1.
The last two are sequence-level: every step of an episode gets R - b.
"""

from __future__ import annotations

import numpy as np
import torch

from agents.algorithms.configs import ReinforceConfig
from agents.algorithms.on_policy import OnPolicyAlgorithm
from agents.algorithms.returns import discounted_returns, masked_mean
from agents.algorithms.rollout import EpisodeBatch, collect_episodes
from textgen_env.vector import TextGenerationVectorEnv


class Reinforce(OnPolicyAlgorithm):
    name = "reinforce"
    config_class = ReinforceConfig

    def __init__(self, config: ReinforceConfig, *, tokenizer=None):
        super().__init__(config, tokenizer=tokenizer)
        self.running_mean = 0.0
        self.greedy_env = None
        if config.baseline == "self_critical":
            self.greedy_env = TextGenerationVectorEnv(self.env.num_envs, self.task)  # the same train task, shared
        if config.baseline == "rloo" and self.env.num_envs % config.rloo_samples:
            raise ValueError(
                f"rloo_samples={config.rloo_samples} must divide each process's episodes ({self.env.num_envs}:"
                f" num_envs={config.num_envs} over {self.ranks.world_size} processes)"
            )

    def sample_indices(self) -> np.ndarray:
        if self.config.baseline != "rloo":
            return super().sample_indices()
        prompts = self.sample_pairs(self.env.num_envs // self.config.rloo_samples)
        return np.repeat(prompts, self.config.rloo_samples)

    def baseline(self, batch: EpisodeBatch, returns: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        kind = self.config.baseline
        if kind == "none":
            return torch.zeros_like(returns)
        if kind == "mean":
            b = torch.full_like(returns, self.running_mean)
            total, steps = self.ranks.sum_floats((returns * batch.mask).sum(), batch.mask.sum())
            self.running_mean = self.config.mean_decay * self.running_mean + (1 - self.config.mean_decay) * total / max(
                steps, 1
            )
            return b
        if kind == "value":
            return values.detach()
        episode_returns = batch.episode_returns
        if kind == "self_critical":
            greedy = collect_episodes(self.policy, self.greedy_env, batch.indices, greedy=True)
            b = greedy.episode_returns
        else:
            groups = episode_returns.view(-1, self.config.rloo_samples)
            b = ((groups.sum(1, keepdim=True) - groups) / (self.config.rloo_samples - 1)).reshape(-1)
        # Sequence-level: replace G_t by the whole return R, so every step sees R - b.
        return (returns - episode_returns[:, None] + b[:, None]) * batch.mask

    def update(self, batch: EpisodeBatch) -> dict:
        log_probs, entropy, values = self.policy.evaluate_actions(
            batch.prompts, batch.inputs, batch.actions, batch.action_masks
        )
        returns = discounted_returns(batch.rewards, batch.mask, self.config.gamma)
        advantages = returns - self.baseline(batch, returns, values)
        policy_loss = -masked_mean(log_probs * advantages, batch.mask)
        loss = policy_loss - self.config.entropy_coef * masked_mean(entropy, batch.mask)
        value_loss = torch.zeros((), device=self.device)
        if self.config.baseline == "value":
            value_loss = masked_mean((values - returns) ** 2, batch.mask)
            loss = loss + self.config.value_coef * value_loss
        grad_norm = self.clip_and_step(loss, batch.mask.sum())
        return {
            "policy_loss": policy_loss.item(),
            "value_loss": value_loss.item(),
            "entropy": masked_mean(entropy, batch.mask).item(),
            "grad_norm": grad_norm,
        }

    def algorithm_state(self) -> dict:
        return {**super().algorithm_state(), "running_mean": self.running_mean}

    def load_algorithm_state(self, state: dict) -> None:
        super().load_algorithm_state(state)
        self.running_mean = float(state["running_mean"])

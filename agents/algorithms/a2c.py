"""A2C: synchronous advantage actor-critic.

One gradient step per batch of episodes: loss = -log pi(a|s) * A + c_v (V - R)^2 - c_e H,
with A from GAE(gamma, lambda) (lambda = 1 is Monte-Carlo, lambda = 0 one-step TD).
"""

from __future__ import annotations

from agents.algorithms.configs import A2CConfig
from agents.algorithms.on_policy import OnPolicyAlgorithm
from agents.algorithms.returns import generalized_advantages, masked_mean
from agents.algorithms.rollout import EpisodeBatch


class A2C(OnPolicyAlgorithm):
    name = "a2c"
    config_class = A2CConfig

    def update(self, batch: EpisodeBatch) -> dict:
        log_probs, entropy, values = self.policy.evaluate_actions(
            batch.prompts, batch.inputs, batch.actions, batch.action_masks
        )
        advantages, returns = generalized_advantages(
            batch.rewards, values.detach(), batch.mask, self.config.gamma, self.config.gae_lambda
        )
        policy_loss = -masked_mean(log_probs * advantages, batch.mask)
        value_loss = masked_mean((values - returns) ** 2, batch.mask)
        mean_entropy = masked_mean(entropy, batch.mask)
        grad_norm = self.clip_and_step(
            policy_loss + self.config.value_coef * value_loss - self.config.entropy_coef * mean_entropy, batch.mask.sum()
        )
        return {
            "policy_loss": policy_loss.item(),
            "value_loss": value_loss.item(),
            "entropy": mean_entropy.item(),
            "grad_norm": grad_norm,
        }

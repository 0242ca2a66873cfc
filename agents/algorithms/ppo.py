"""PPO with the clipped surrogate objective (Schulman et al. 2017), on whole episodes.

Per batch: GAE advantages from the values recorded at collection; then `update_epochs`
passes over shuffled minibatches of episodes, each re-scored in one teacher-forced
pass, minimizing

    -min(ratio * A, clip(ratio, 1 - eps, 1 + eps) * A) + c_v * value_loss - c_e * entropy

with advantage normalization per minibatch, optional value clipping, global
grad-norm clipping, linear learning-rate annealing and an approximate-KL early stop.
With `kl_coef > 0` each reward is charged `kl_coef * (log pi(a|s) - log pi_ref(a|s))`
against a frozen copy of the starting policy, as RLHF does, so fine-tuning a
pre-trained policy does not drift far from it. A pre-trained policy's value head has
never been trained: for its first `value_warmup_steps` env steps only the value head
learns (the rest of the policy frozen), so the first policy updates do not follow the
advantages of a random critic.
"""

from __future__ import annotations

import contextlib
import copy
import functools

import torch

from agents.algorithms.configs import PPOConfig
from agents.algorithms.on_policy import OnPolicyAlgorithm, linear_schedule
from agents.algorithms.returns import generalized_advantages, masked_mean
from agents.algorithms.rollout import EpisodeBatch
from agents.runs.gradients import split_rows


class PPO(OnPolicyAlgorithm):
    name = "ppo"
    config_class = PPOConfig

    def __init__(self, config: PPOConfig, *, tokenizer=None):
        super().__init__(config, tokenizer=tokenizer)
        if config.kl_coef > 0:
            self.reference_policy = copy.deepcopy(self.policy).requires_grad_(False)
        if self.env.num_envs < config.num_minibatches:
            raise ValueError(
                f"num_minibatches={config.num_minibatches} exceeds each process's episodes ({self.env.num_envs}:"
                f" num_envs={config.num_envs} over {self.ranks.world_size} processes)"
            )

    def update(self, batch: EpisodeBatch) -> dict:
        cfg = self.config
        if cfg.anneal_lr:
            for group in self.optimizer.param_groups:
                group["lr"] = linear_schedule(cfg.learning_rate, self.env_steps / cfg.total_env_steps)
        rewards, kl_to_reference = batch.rewards, 0.0
        if self.reference_policy is not None:
            with torch.no_grad():
                reference_log_probs, _, _ = self.reference_policy.evaluate_actions(
                    batch.prompts, batch.inputs, batch.actions, batch.action_masks
                )
            kl = (batch.log_probs - reference_log_probs) * batch.mask
            rewards = rewards - cfg.kl_coef * kl
            kl_to_reference = float(masked_mean(kl, batch.mask))
        advantages, returns = generalized_advantages(rewards, batch.values, batch.mask, cfg.gamma, cfg.gae_lambda)

        warming_up = self.env_steps < cfg.value_warmup_steps
        with only_value_head_learns(self.policy, warming_up):
            stats = self.passes(batch, advantages, returns, policy_learns=not warming_up)
        return {**stats, "kl_to_reference": kl_to_reference}

    def passes(self, batch: EpisodeBatch, advantages, returns, policy_learns: bool = True) -> dict:
        """`update_epochs` passes over shuffled minibatches of `batch` (fewer after the KL early stop): the losses
        of the last minibatch, the KL and clip statistics of the last pass. Without `policy_learns`, the value
        loss alone. Each minibatch's gradient is taken in up to `gradient_parts` parts side by side
        (:mod:`agents.runs.gradients`)."""
        cfg = self.config
        stats = {}
        if cfg.length_groups:  # normalized once over the batch: a minibatch of one band of lengths is not a sample of it
            advantages = self.normalized(advantages, batch.mask) if cfg.normalize_advantages else advantages
        for _ in range(cfg.update_epochs):
            for rows in self.minibatches(batch):
                scale = None  # the minibatch's advantage (mean, std) where it is normalized on its own
                if cfg.normalize_advantages and not cfg.length_groups:
                    scale = self.normalization(advantages[rows], batch.mask[rows])
                real_steps = batch.mask[rows].sum()
                parts = split_rows(rows, int(batch.lengths[rows].max()), cfg.gradient_parts)
                loss_of = functools.partial(self.part_loss, batch, advantages, scale, returns, real_steps, policy_learns)
                grad_norm, sums = self.step_on_parts(parts, loss_of, real_steps)
                last = {name: sum(part[name] for part in sums) for name in sums[0]}
            # on the epoch's last minibatch (all ranks' part of it), as the early stop reads them
            kl, clipped, steps = self.ranks.sum_floats(last["kl"], last["clipped"], last["steps"])
            stats["approx_kl"], stats["clip_fraction"] = kl / max(steps, 1), clipped / max(steps, 1)
            if cfg.target_kl is not None and stats["approx_kl"] > cfg.target_kl:
                break
        return {
            **stats,
            "policy_loss": float(last["policy_loss"]),
            "value_loss": float(last["value_loss"]),
            "entropy": float(last["entropy"]),
            "grad_norm": grad_norm,
        }

    def part_loss(self, batch: EpisodeBatch, advantages, scale, returns, real_steps, policy_learns: bool, rows):
        """The clipped-surrogate loss of `batch`'s episodes `rows` (part of a minibatch of `real_steps` steps, as
        whose share it is weighted), and the sums its statistics are made of. `scale`: the minibatch's advantage
        (mean, std) to normalize with, or None."""
        cfg = self.config
        mb = batch.select(rows)
        steps = mb.mask.shape[1]
        advantages, returns = advantages[rows, :steps], returns[rows, :steps]
        if scale is not None:
            advantages = (advantages - scale[0]) / scale[1]
        weights = mb.mask / real_steps.clamp(min=1)  # the minibatch's masked mean is a weighted sum over its parts
        log_probs, entropy, values = self.policy.evaluate_actions(mb.prompts, mb.inputs, mb.actions, mb.action_masks)
        log_ratio = log_probs - mb.log_probs
        ratio = log_ratio.exp()
        policy_loss = (
            torch.max(-advantages * ratio, -advantages * ratio.clamp(1 - cfg.clip_coef, 1 + cfg.clip_coef)) * weights
        ).sum()
        value_error = (values - returns) ** 2
        if cfg.clip_value:
            clipped = mb.values + (values - mb.values).clamp(-cfg.clip_coef, cfg.clip_coef)
            value_error = torch.max(value_error, (clipped - returns) ** 2)
        value_loss = 0.5 * (value_error * weights).sum()
        mean_entropy = (entropy * weights).sum()
        loss = cfg.value_coef * value_loss
        if policy_learns:
            loss = loss + policy_loss - cfg.entropy_coef * mean_entropy
        with torch.no_grad():
            sums = {
                "policy_loss": policy_loss.detach(),
                "value_loss": value_loss.detach(),
                "entropy": mean_entropy.detach(),
                "kl": (((ratio - 1) - log_ratio) * mb.mask).sum(),
                "clipped": (((ratio - 1).abs() > cfg.clip_coef) * mb.mask).sum(),
                "steps": mb.mask.sum(),
            }
        return loss, sums

    def minibatches(self, batch: EpisodeBatch) -> list[torch.Tensor]:
        """One pass's minibatches of episode rows: shuffled, or (with ``length_groups``) episodes of similar lengths
        together (sorted by length, random among equals), so that a minibatch's padding is short; in random order."""
        cfg, episodes = self.config, batch.prompts.shape[0]
        size = max(1, episodes // cfg.num_minibatches)
        order = torch.randperm(episodes, device=self.device)
        if not cfg.length_groups:
            return list(order.split(size))
        order = order[torch.argsort(batch.lengths[order], stable=True)]
        groups = order.split(size)
        # Across processes every rank takes its groups in rank 0's order: the ranks' k-th minibatches then hold
        # episodes of similar lengths, so none waits at the gradient all-reduce for a rank on longer ones.
        return [groups[i] for i in self.ranks.broadcast_object(torch.randperm(len(groups)).tolist())]

    def normalized(self, advantages: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Advantages scaled to mean 0 and std 1 over the real steps (all ranks' part of them)."""
        mean, std = self.normalization(advantages, mask)
        return (advantages - mean) / std

    def normalization(self, advantages: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The mean and (+1e-8) standard deviation of advantages over the real steps (all ranks' part of them).

        The sums of x and x^2 go in one all-reduce (in float64, where the device has it, against cancellation).
        """
        wide = torch.float32 if advantages.device.type == "mps" else torch.float64
        x, real = advantages.to(wide), mask.to(wide)
        total, squares, steps = self.ranks.sum(torch.stack([(x * real).sum(), (x * x * real).sum(), real.sum()]))
        steps = steps.clamp(min=1)
        mean = total / steps
        std = (squares / steps - mean**2).clamp(min=0).sqrt()
        return mean.to(advantages.dtype), std.to(advantages.dtype) + 1e-8


@contextlib.contextmanager
def only_value_head_learns(policy: torch.nn.Module, active: bool = True):
    """Within the block (if `active`), every parameter but the value head's is frozen: it gets no gradient,
    so the optimizer leaves it as it is."""
    frozen = [p for name, p in policy.named_parameters() if active and p.requires_grad and not name.startswith("value_head.")]
    for parameter in frozen:
        parameter.requires_grad_(False)
    try:
        yield
    finally:
        for parameter in frozen:
            parameter.requires_grad_(True)

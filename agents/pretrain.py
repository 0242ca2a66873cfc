"""Supervised pre-training: teacher-forced cross-entropy on the dataset's targets.

The policy learns to emit each target token, then EOS, given the prompt and the
target so far: the same sequence-mode pass the RL algorithms use, with the same
action masks, so a pre-trained policy is a drop-in start for RL fine-tuning
(``init_checkpoint``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from agents.core import OnPolicyAlgorithm, TrainConfig
from agents.returns import masked_mean
from textgen_env.task import TextTask
from textgen_env.tokenizers import BOS_ID, EOS_ID, PAD_ID


@dataclass
class PretrainConfig(TrainConfig):
    total_env_steps: int = 0  # unused: pre-training runs for `epochs`
    epochs: int = 20
    batch_size: int = 64


def teacher_forced_batch(task: TextTask, indices: np.ndarray) -> dict[str, torch.Tensor]:
    """Prompts, decoder inputs, target actions, step mask and action masks for pairs `indices`."""
    steps = task.max_new_tokens + 1
    n = len(indices)
    inputs = np.full((n, steps), PAD_ID, dtype=np.int64)
    actions = np.full((n, steps), PAD_ID, dtype=np.int64)
    mask = np.zeros((n, steps), dtype=bool)
    for row, index in enumerate(indices):
        target = task.target_ids[index]
        # The episode ends with EOS, or at the token budget without one.
        sequence = target + [EOS_ID] if len(target) < task.max_new_tokens else target
        actions[row, : len(sequence)] = sequence
        inputs[row, 0] = BOS_ID
        inputs[row, 1 : len(sequence)] = sequence[:-1]
        mask[row, : len(sequence)] = True
    action_masks = np.broadcast_to(task.rules.action_masks(np.arange(steps)), (n, steps, task.vocab_size))
    return {
        "prompts": torch.from_numpy(task.prompt_matrix[indices]),
        "inputs": torch.from_numpy(inputs),
        "actions": torch.from_numpy(actions),
        "mask": torch.from_numpy(mask),
        "action_masks": torch.from_numpy(action_masks),
    }


class Pretrain(OnPolicyAlgorithm):
    """Not on-policy, but it shares the set-up, checkpoints and logs of the RL algorithms."""

    name = "pretrain"
    config_class = PretrainConfig

    def episodes_per_batch(self) -> int:
        return 1  # the env is only used for its task; no rollouts

    def progress(self) -> tuple[int, int]:
        return self.config.epochs, self.iteration

    def _loop(self, logger, bar) -> None:
        cfg = self.config
        while self.iteration < cfg.epochs:
            order = self.rng.permutation(len(self.task.dataset))
            losses = []
            for start in range(0, len(order), cfg.batch_size):
                batch = teacher_forced_batch(self.task, order[start : start + cfg.batch_size])
                log_probs, _, _ = self.policy.evaluate(
                    batch["prompts"], batch["inputs"], batch["actions"], batch["action_masks"]
                )
                loss = -masked_mean(log_probs, batch["mask"])
                self.clip_and_step(loss)
                losses.append(loss.item())
                self.env_steps += int(batch["mask"].sum())
            self.iteration += 1
            row = {"iteration": self.iteration, "env_steps": self.env_steps, "loss": float(np.mean(losses))}
            self.finish_iteration(row, logger, bar, loss=f"{row['loss']:.4f}")


def pretrain(config: PretrainConfig, progress: bool = False) -> Pretrain:
    algorithm = Pretrain(config)
    algorithm.learn(progress=progress)
    return algorithm

"""Supervised pre-training: teacher-forced cross-entropy on the dataset's targets.

The policy learns to emit each target token, then EOS, given the prompt and the
target so far: the same sequence-mode pass the RL algorithms use, with the env's
action masks, so a pre-trained policy is a drop-in start for RL fine-tuning
(``init_checkpoint``). It shares the run base (seeding, checkpoints, logs,
Ctrl-C, resume) with them; one iteration is one epoch.
"""

from __future__ import annotations

import numpy as np
import torch

from agents.algorithms.configs import PretrainConfig
from agents.algorithms.returns import masked_mean
from agents.runs.run import Run
from textgen_env.task import TextTask
from textgen_env.tokenizers import BOS_ID, EOS_ID, PAD_ID, UNK_ID


def teacher_forced_batch(task: TextTask, indices: np.ndarray, device="cpu") -> dict[str, torch.Tensor]:
    """Prompts, decoder inputs, target actions, step mask and action masks for pairs `indices`.

    A target token no action can produce is fed as UNK and left out of the loss. The tensors are only as
    wide as the batch's longest prompt and target need: padding past them changes no output, only the cost.
    """
    # The episode ends with EOS, or at the token budget without one.
    sequences = [t + [EOS_ID] if len(t) < task.max_new_tokens else t for t in (task.target_ids[i] for i in indices)]
    steps = max(len(sequence) for sequence in sequences)
    prompts = task.prompt_matrix[indices]
    prompts = prompts[:, : max(1, int((prompts != PAD_ID).sum(axis=1).max()))]
    n = len(indices)
    inputs = np.full((n, steps), PAD_ID, dtype=np.int64)
    actions = np.full((n, steps), PAD_ID, dtype=np.int64)
    mask = np.zeros((n, steps), dtype=bool)
    for row, sequence in enumerate(sequences):
        sequence = np.array(sequence, dtype=np.int64)
        producible = sequence >= 0
        actions[row, : len(sequence)] = np.where(producible, sequence, PAD_ID)
        mask[row, : len(sequence)] = producible
        inputs[row, 0] = BOS_ID
        inputs[row, 1 : len(sequence)] = np.where(producible, sequence, UNK_ID)[:-1]
    action_masks = np.broadcast_to(task.rules.action_masks(np.arange(steps)), (n, steps, task.vocab_size))
    tensors = {
        "prompts": prompts,
        "inputs": inputs,
        "actions": actions,
        "mask": mask,
        "action_masks": action_masks,
    }
    return {k: torch.from_numpy(np.ascontiguousarray(v)).to(device) for k, v in tensors.items()}


class Pretrain(Run):
    name = "pretrain"
    config_class = PretrainConfig

    def finished(self) -> bool:
        return self.iteration >= self.config.epochs

    def progress(self) -> tuple[int, int]:
        return self.config.epochs, self.iteration

    def iterate(self) -> dict:
        cfg = self.config
        order = self.rng.permutation(len(self.task.dataset))
        losses = []
        for start in range(0, len(order), cfg.batch_size):
            batch = teacher_forced_batch(self.task, order[start : start + cfg.batch_size], self.device)
            log_probs, _, _ = self.policy.evaluate(batch["prompts"], batch["inputs"], batch["actions"], batch["action_masks"])
            loss = -masked_mean(log_probs, batch["mask"])
            self.clip_and_step(loss)
            losses.append(loss.item())
            self.env_steps += int(batch["mask"].sum())
        self.iteration += 1
        return {"iteration": self.iteration, "env_steps": self.env_steps, "loss": float(np.mean(losses))}

    def shown(self, row: dict) -> dict:
        return {"loss": f"{row['loss']:.4f}"}

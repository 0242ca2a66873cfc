"""Supervised pre-training: teacher-forced cross-entropy on the dataset's targets.

The policy learns to emit each target token, then EOS, given the prompt and the
target so far: the same sequence-mode pass the RL algorithms use, with the env's
action masks, so a pre-trained policy is a drop-in start for RL fine-tuning
(``init_checkpoint``). It shares the run base (seeding, checkpoints, logs,
Ctrl-C, resume) with them; one iteration is one epoch.
"""

from __future__ import annotations

import copy
import functools

import numpy as np
import torch

from agents.algorithms.configs import PretrainConfig
from agents.runs.gradients import split_rows
from agents.runs.run import Run
from textgen_env.builtin_tasks import new_prompt_options
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


BUCKET_POOL = 50  # batches per pool sorted by length: wide enough to match lengths, narrow enough to keep the mix


def drop_words(inputs: torch.Tensor, rate: float) -> torch.Tensor:
    """Decoder inputs with each ordinary token replaced by UNK at `rate` (word dropout, Bowman et al. 2016)."""
    if not rate:
        return inputs
    dropped = (torch.rand(inputs.shape, device=inputs.device) < rate) & (inputs > UNK_ID)
    return inputs.masked_fill(dropped, UNK_ID)


def teacher_forced_losses(
    policy, batch: dict[str, torch.Tensor], inputs: torch.Tensor, smoothing: float = 0.0, tokens=None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The mean negative log-likelihood per target token, and the objective trained on: with `smoothing`, each
    token's target is mixed with the uniform distribution over the actions valid there (label smoothing,
    Szegedy et al. 2016). Both are sums over `batch`'s target tokens divided by `tokens` (default: their
    count), so that a part of a larger batch gives its share of that batch's means."""
    log_probs, _ = policy.log_policy(batch["prompts"], inputs, batch["action_masks"])
    nll = -log_probs.gather(-1, batch["actions"][..., None])[..., 0]
    objective = nll
    if smoothing:
        valid = batch["action_masks"]
        to_uniform = -(log_probs * valid).sum(-1) / valid.sum(-1)
        objective = (1 - smoothing) * nll + smoothing * to_uniform
    weights = batch["mask"] / (batch["mask"].sum() if tokens is None else tokens).clamp(min=1)
    return (nll * weights).sum(), (objective * weights).sum()


def batch_rows(batch: dict[str, torch.Tensor], inputs: torch.Tensor, rows: torch.Tensor):
    """The pairs `rows` of a teacher-forced batch and their decoder inputs, only as many steps wide as they need."""
    steps = max(1, int((inputs[rows] != PAD_ID).sum(dim=1).max()))
    return {k: v[rows] if k == "prompts" else v[rows, :steps] for k, v in batch.items()}, inputs[rows, :steps]


class Pretrain(Run):
    name = "pretrain"
    config_class = PretrainConfig

    def __init__(self, config: PretrainConfig, *, tokenizer=None):
        if config.new_prompts:
            new_prompt_options(config.env.task, config.env.task_options, 1)  # a task that cannot make them fails here
        super().__init__(config, tokenizer=tokenizer)
        self.averaged_policy = copy.deepcopy(self.policy).requires_grad_(False) if config.average_decay else None
        self.steps = 0  # optimizer steps, which set the average's warm-up

    @property
    def inference_policy(self):
        return self.averaged_policy if self.averaged_policy is not None else self.policy

    def update_average(self) -> None:
        """Move the average towards the weights. The decay warms up as TensorFlow's moving averages do,
        ``min(decay, (1 + steps) / (10 + steps))``, so the first epochs are not an average of the random start."""
        self.steps += 1
        if self.averaged_policy is None:
            return
        decay = min(self.config.average_decay, (1 + self.steps) / (10 + self.steps))
        with torch.no_grad():
            for averaged, trained in zip(self.averaged_policy.parameters(), self.policy.parameters()):
                averaged.lerp_(trained, 1.0 - decay)

    def part_loss(self, batch: dict[str, torch.Tensor], inputs: torch.Tensor, tokens: torch.Tensor, rows: torch.Tensor):
        """The objective of the pairs `rows` as their share of the batch's (of `tokens` target tokens), and their
        share of its mean negative log-likelihood."""
        part, part_inputs = batch_rows(batch, inputs, rows)
        nll, objective = teacher_forced_losses(self.policy, part, part_inputs, self.config.label_smoothing, tokens)
        return objective, nll.detach()

    def algorithm_state(self) -> dict:
        return {"steps": self.steps}

    def load_algorithm_state(self, state: dict) -> None:
        self.steps = int(state.get("steps", 0))

    def epoch_task(self) -> TextTask:
        """This epoch's pairs: the training split, or with ``new_prompts`` (after the first epoch) new prompts for
        its targets, round `iteration` of them."""
        env = self.config.env
        if not self.config.new_prompts or self.iteration == 0:
            return self.task
        options = new_prompt_options(env.task, env.task_options, self.iteration)
        return TextTask(env.task_config("train", self.task.tokenizer), task_options=options)

    def batches(self, task: TextTask) -> list[np.ndarray]:
        """The epoch's batches of pair indices: the pairs shuffled and cut in order, or (with ``length_buckets``)
        cut into pools of :data:`BUCKET_POOL` batches, each pool sorted by target length and cut into batches,
        whose order is shuffled again."""
        size = self.config.batch_size
        order = self.rng.permutation(len(task.dataset))
        if not self.config.length_buckets:
            return [order[start : start + size] for start in range(0, len(order), size)]
        batches = []
        for start in range(0, len(order), size * BUCKET_POOL):
            pool = order[start : start + size * BUCKET_POOL]
            pool = pool[np.argsort(task.target_lengths[pool], kind="stable")]
            batches += [pool[first : first + size] for first in range(0, len(pool), size)]
        return [batches[i] for i in self.rng.permutation(len(batches))]

    def finished(self) -> bool:
        return self.iteration >= self.config.epochs

    def progress(self) -> tuple[int, int]:
        return self.config.epochs, self.iteration

    def iterate(self) -> dict:
        cfg = self.config
        task = self.epoch_task()
        losses = []
        for indices in self.batches(task):
            batch = teacher_forced_batch(task, indices, self.device)
            inputs = drop_words(batch["inputs"], cfg.word_dropout)
            tokens = batch["mask"].sum()
            parts = split_rows(torch.arange(len(indices)), inputs.shape[1], cfg.gradient_parts)
            _, nlls = self.step_on_parts(parts, functools.partial(self.part_loss, batch, inputs, tokens))
            self.update_average()
            losses.append(float(sum(nlls)))
            self.env_steps += int(tokens)
        self.iteration += 1
        return {"iteration": self.iteration, "env_steps": self.env_steps, "loss": float(np.mean(losses))}

    def shown(self, row: dict) -> dict:
        return {"loss": f"{row['loss']:.4f}"}

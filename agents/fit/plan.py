"""What `fit` decides from the data: the policy's size, pre-training's epochs and PPO's budget.

Every rule is here, each with the measurement behind it, and every choice can be
overridden (:class:`agents.fit.config.FitConfig`); :meth:`FitPlan.describe` prints them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from agents.fit.config import FitConfig
from textgen_env.task import TextTask

# The default budget is sized so that a file of 5,000 pairs of 80 characters fits in 15 minutes on 2 cores: with
# one torch thread, pre-training (policy of hidden 192) takes about 9,000 target tokens a second and PPO about 1,200
# env steps a second with its validation evaluations, so 5M tokens and 250K env steps take about 13 minutes.
#
# Teacher-forced target tokens that pre-training may take in all. On a user's 429 sentences with typing noise
# (192K target tokens an epoch), held-out similarity still rose a little up to 21-25 epochs (about 4-5M tokens); on
# reverse_text it is perfect after 4 epochs: validation stops it wherever it has learned what it can
# (benchmarks/results/fit.md).
PRETRAIN_TOKENS = 5_000_000
MAX_PRETRAIN_EPOCHS = 60
# PPO's env steps: twice the tokens of one epoch, within these bounds. From a pre-trained policy on sentences with
# typing noise, 400K env steps moved held-out similarity by -0.001 to +0.002 (benchmarks/results/fit.md): RL's budget
# is capped where the 15 minutes run out.
RL_STEPS_PER_EPOCH_TOKEN = 2
MIN_RL_STEPS, MAX_RL_STEPS = 100_000, 250_000
# Pre-training uses the moving average of its weights, over about this many epochs' steps: on a user's sentences with
# typing noise (97 steps an epoch) a decay of 0.995 (2 epochs) scored 0.926 after 10 epochs, 0.998 (5 epochs) 0.924.
AVERAGE_EPOCHS = 4
# Below both, a task is short and small (reverse, copy of a few letters): the measured default policy fits it.
SMALL_TARGETS, SMALL_VOCABULARY = 16, 40
# Sentences need more: on a user's 429 sentences with typing noise, held-out similarity after 17 epochs was 0.929
# with hidden 128 and 0.936 with 192 (label smoothing on; benchmarks/results/fit.md), at 1.6x the time per epoch.
TEXT_HIDDEN = 192


@dataclass(frozen=True)
class DataSummary:
    """The numbers the plan is made from: the training pairs (validation held out), their widths and vocabulary."""

    training_pairs: int
    validation_pairs: int
    test_pairs: int
    longest_prompt: int
    longest_target: int
    mean_target: float
    vocabulary: int
    new_prompts: bool  # whether the task can make new prompts for its targets

    @property
    def tokens_per_epoch(self) -> int:
        """Target tokens (EOS included) of one pass over the training pairs."""
        return round(self.training_pairs * (self.mean_target + 1))

    @classmethod
    def of(cls, train: TextTask, validation: TextTask, test: TextTask, new_prompts: bool) -> DataSummary:
        return cls(
            training_pairs=len(train.dataset),
            validation_pairs=len(validation.dataset),
            test_pairs=len(test.dataset),
            longest_prompt=train.max_prompt_tokens,
            longest_target=train.max_new_tokens,
            mean_target=float(train.target_lengths.mean()),
            vocabulary=train.vocab_size,
            new_prompts=new_prompts,
        )


@dataclass(frozen=True)
class FitPlan:
    embed_dim: int
    hidden_dim: int
    pretrain_epochs: int
    batch_size: int
    patience: int
    word_dropout: float
    label_smoothing: float
    average_decay: float
    new_prompts: bool
    rl_steps: int
    rl_evaluations: int

    @property
    def value_warmup_steps(self) -> int:
        """PPO trains the value head alone for the first tenth: pre-training leaves the critic untrained."""
        return self.rl_steps // 10

    @classmethod
    def make(cls, data: DataSummary, config: FitConfig) -> FitPlan:
        """The plan for `data`, with the choices `config` makes by hand."""
        small = data.longest_target <= SMALL_TARGETS and data.vocabulary <= SMALL_VOCABULARY
        hidden = config.hidden_dim or (64 if small else TEXT_HIDDEN)
        epochs = min(MAX_PRETRAIN_EPOCHS, max(3, math.ceil(PRETRAIN_TOKENS / data.tokens_per_epoch)))
        rl_steps = min(MAX_RL_STEPS, max(MIN_RL_STEPS, RL_STEPS_PER_EPOCH_TOKEN * data.tokens_per_epoch))
        return cls(
            embed_dim=config.embed_dim or hidden // 2,
            hidden_dim=hidden,
            pretrain_epochs=epochs if config.pretrain_epochs is None else config.pretrain_epochs,
            batch_size=config.batch_size,
            patience=config.patience,
            word_dropout=config.word_dropout,
            label_smoothing=config.label_smoothing,
            average_decay=min(0.999, max(0.9, 1 - 1 / (AVERAGE_EPOCHS * math.ceil(data.training_pairs / config.batch_size)))),
            new_prompts=data.new_prompts,
            rl_steps=rl_steps if config.rl_steps is None else config.rl_steps,
            rl_evaluations=config.rl_evaluations,
        )

    def describe(self, data: DataSummary) -> list[str]:
        """The plan in words, one line per stage, for the console and the report."""
        noise = "; new prompts for the same targets each epoch" if self.new_prompts else ""
        return [
            f"data: {data.training_pairs:,} training pairs, {data.validation_pairs:,} held out to choose on,"
            f" {data.test_pairs:,} to test on; prompts up to {data.longest_prompt} tokens, targets up to"
            f" {data.longest_target} (mean {data.mean_target:.1f}), {data.vocabulary} token types",
            f"policy: embedding {self.embed_dim}, hidden {self.hidden_dim}, encoder reading both ways",
            f"pre-training: up to {self.pretrain_epochs} epochs of {data.tokens_per_epoch:,} target tokens, batch"
            f" {self.batch_size}, word dropout {self.word_dropout}, label smoothing {self.label_smoothing}, weights"
            f" averaged with decay {self.average_decay:.4f}"
            f"{noise}; stops after {self.patience} epochs without a better validation score",
            f"fine-tuning: PPO for {self.rl_steps:,} env steps on the edit-distance reward (value head alone for the"
            f" first {self.value_warmup_steps:,}, KL penalty towards the pre-trained policy), {self.rl_evaluations}"
            " validation evaluations; the best policy is kept, the pre-trained one where RL does not improve on it"
            if self.rl_steps
            else "fine-tuning: none (rl_steps=0)",
        ]

    def to_dict(self) -> dict:
        return asdict(self)

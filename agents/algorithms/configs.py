"""Each algorithm's hyperparameters, with their help and bounds: here, apart from the algorithms, so that the
command line (``textgen-rl train --help``) lists them without importing torch.
"""

from __future__ import annotations

from dataclasses import dataclass

from agents.options import option
from agents.runs.config import RunConfig, TrainConfig
from textgen_env.aliases import renamed_attributes

REINFORCE_BASELINES = ("none", "mean", "value", "self_critical", "rloo")  # what REINFORCE subtracts from the return
__getattr__ = renamed_attributes(__name__, {"BASELINES": "REINFORCE_BASELINES"}, globals())


def gradient_parts_option():
    """PPO's and pre-training's ``gradient_parts`` (agents.runs.gradients; each part at least MIN_PART_CELLS padded
    steps). 2 against 1, PPO's defaults, 300K env steps on 2 cores: env-steps/s 1.28x on reverse 3-64, 1.36x on
    reverse_text, 1.00x on reverse 3-8 (whose minibatches are too small to cut)."""
    return option(
        2,
        "each minibatch's gradient is taken in up to this many parts (interleaved rows), side by side on free"
        " cores and summed in order: the same seed gives the same result however many cores are free",
        minimum=1,
    )


@dataclass
class A2CConfig(TrainConfig):
    gae_lambda: float = option(0.95, "GAE lambda (1: Monte-Carlo, 0: one-step TD)", minimum=0, maximum=1)
    value_coef: float = option(0.5, "weight of the value loss", minimum=0)
    entropy_coef: float = option(0.01, "weight of the entropy bonus", minimum=0)


@dataclass
class PPOConfig(TrainConfig):
    num_envs: int = option(256, "episodes per batch (128 learned reverse clearly worse)", minimum=1)
    # 1e-3: reverse 3-64 (seed 0, 2M env steps) reached 0.991 held-out, where 2e-3 peaked at 0.82 after 1M and
    # fell back to 0.73-0.80 by 5M (benchmarks/results/agent_quality.md)
    learning_rate: float = option(1e-3, "Adam learning rate", flags=("--lr", "--learning-rate"), above=0)
    gae_lambda: float = option(0.95, "GAE lambda", minimum=0, maximum=1)
    clip_coef: float = option(0.2, "clipping range of the probability ratio", above=0)
    clip_value: bool = option(False, "clip the value update to the same range")
    update_epochs: int = option(4, "passes over each batch", minimum=1)
    num_minibatches: int = option(4, "minibatches per pass", minimum=1)
    normalize_advantages: bool = option(True, "normalize advantages (per minibatch; over the batch with length groups)")
    # Reverse 3-64, 2M env steps, seed 0: held-out 0.813 at 1M and 0.959 at 2M with it, 0.746 and 0.964 without; the
    # share of the update's rows that are padding falls from 67% to 28% (benchmarks/results/train_profile.md).
    length_groups: bool = option(
        True,
        "minibatches of episodes of similar lengths, so that little of a pass is padding (advantages normalized over the"
        " batch)",
    )
    gradient_parts: int = gradient_parts_option()
    value_coef: float = option(0.5, "weight of the value loss", minimum=0)
    entropy_coef: float = option(0.01, "weight of the entropy bonus", minimum=0)
    target_kl: float | None = option(0.05, "stop a batch's passes once the approximate KL exceeds this", above=0)
    anneal_lr: bool = option(True, "anneal the learning rate linearly to 0")
    kl_coef: float = option(0.0, "KL penalty towards the frozen starting policy, as RLHF uses", minimum=0)
    value_warmup_steps: int = option(
        0, "env steps at the start in which only the value head learns (a pre-trained policy's critic is untrained)", minimum=0
    )

    def __post_init__(self):
        super().__post_init__()
        if self.num_minibatches > self.num_envs:
            raise ValueError(
                f"num_minibatches={self.num_minibatches} (--num-minibatches) exceeds num_envs={self.num_envs} (--num-envs):"
                " a minibatch needs at least one episode"
            )


@dataclass
class ReinforceConfig(TrainConfig):
    baseline: str = option("rloo", "what is subtracted from the return", choices=list(REINFORCE_BASELINES))
    rloo_samples: int = option(4, "rloo: samples per prompt (k)", minimum=2)
    mean_decay: float = option(0.9, "mean: decay of the running mean of returns", minimum=0, maximum=1)
    value_coef: float = option(0.5, "value: weight of the value loss", minimum=0)
    entropy_coef: float = option(0.0, "weight of the entropy bonus", minimum=0)

    def __post_init__(self):
        super().__post_init__()
        if self.baseline not in REINFORCE_BASELINES:
            raise ValueError(f"baseline={self.baseline!r}: allowed values are {list(REINFORCE_BASELINES)}")
        if self.baseline == "rloo" and (self.rloo_samples < 2 or self.num_envs % self.rloo_samples):
            raise ValueError(f"rloo_samples={self.rloo_samples}: must be >= 2 and divide num_envs={self.num_envs}")


@dataclass
class PretrainConfig(RunConfig):
    epochs: int = option(20, "passes over the training split", minimum=1)
    batch_size: int = option(64, "pairs per gradient step", minimum=1)
    gradient_parts: int = gradient_parts_option()
    # On a user's 429 sentences with typing noise (fresh noise each epoch), held-out similarity peaked at 0.849 after
    # 1 epoch without it and kept rising with 0.3 (0.893 after 10): without it the decoder learns the training
    # sentences by heart and writes them instead of the prompt (benchmarks/results/fit.md).
    word_dropout: float = option(
        0.0,
        "share of the decoder's input tokens (the target so far) replaced by UNK while training, so that the policy"
        " reads the prompt rather than reciting its training targets (Bowman et al. 2016)",
        minimum=0,
        maximum=1,
    )
    new_prompts: bool = option(
        False, "each epoch after the first trains on new prompts for the same targets (a task that can make them: spelling)"
    )
    # On a user's sentences with typing noise (fit's other defaults), held-out similarity after 23-25 epochs: 0.928
    # without it, 0.932 with 0.1 (benchmarks/results/fit.md).
    label_smoothing: float = option(
        0.0, "share of each target token's probability spread over the other valid tokens", minimum=0, maximum=1
    )
    # Batches of random pairs of 30-100 characters are 61% padding; pooled by length, 1.6%.
    length_buckets: bool = option(
        False, "batch pairs of similar target lengths together (from pools of shuffled pairs), so little is padding"
    )
    # On a user's sentences with typing noise the average of the weights scored 0.926 held-out after 10 epochs where the
    # weights themselves peaked at 0.917-0.921 (decay 0.995, about 100 steps an epoch; benchmarks/results/fit.md).
    average_decay: float = option(
        0.0,
        "keep an exponential moving average of the weights with this decay per step (Polyak averaging; 0: none) and"
        " use it as the policy: it evaluates, saves and starts fine-tuning",
        minimum=0,
        maximum=0.9999,
    )

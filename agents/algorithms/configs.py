"""Each algorithm's hyperparameters, with their help and bounds: here, apart from the algorithms, so that the
command line (``textgen-rl train --help``) lists them without importing torch.
"""

from __future__ import annotations

from dataclasses import dataclass

from agents.options import option
from agents.runs.config import RunConfig, TrainConfig

BASELINES = ("none", "mean", "value", "self_critical", "rloo")  # REINFORCE's


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
    normalize_advantages: bool = option(True, "normalize advantages per minibatch")
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
    baseline: str = option("rloo", "what is subtracted from the return", choices=list(BASELINES))
    rloo_samples: int = option(4, "rloo: samples per prompt (k)", minimum=2)
    mean_decay: float = option(0.9, "mean: decay of the running mean of returns", minimum=0, maximum=1)
    value_coef: float = option(0.5, "value: weight of the value loss", minimum=0)
    entropy_coef: float = option(0.0, "weight of the entropy bonus", minimum=0)

    def __post_init__(self):
        super().__post_init__()
        if self.baseline not in BASELINES:
            raise ValueError(f"baseline={self.baseline!r}: allowed values are {list(BASELINES)}")
        if self.baseline == "rloo" and (self.rloo_samples < 2 or self.num_envs % self.rloo_samples):
            raise ValueError(f"rloo_samples={self.rloo_samples}: must be >= 2 and divide num_envs={self.num_envs}")


@dataclass
class PretrainConfig(RunConfig):
    epochs: int = option(20, "passes over the training split", minimum=1)
    batch_size: int = option(64, "pairs per gradient step", minimum=1)

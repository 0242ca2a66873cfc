"""`fit`'s configuration: the data, and the choices a user may make instead of the plan (torch-free, for the CLI)."""

from __future__ import annotations

from dataclasses import dataclass, field

from agents.options import check_fields, option
from agents.runs.config import EnvConfig, _from_dict


@dataclass
class FitConfig:
    """The data to fit (a task or a dataset file, as ``gym.make`` takes it), where to, and any part of the plan
    chosen by hand (a field left at None is chosen from the data: see :mod:`agents.fit.plan`)."""

    env: EnvConfig = field(default_factory=EnvConfig)
    seed: int = option(0, "seed of everything random")
    device: str = option("auto", "where the policy trains: auto (cuda when torch sees one), cpu, cuda, cuda:N or mps")
    run_dir: str | None = option(
        None, "folder of the fit: its stages' runs, report and final checkpoint.pt (default: runs/fit-<data>-<seed>)"
    )
    overwrite: bool = option(False, "replace the fit that --run-dir holds (without it, a fresh fit there is refused)")
    # 0.05: on a user's 429 sentences, held-out similarity 0.932 with 5% held out for validation, 0.930 with 10%
    validation_fraction: float = option(
        0.05, "share of the training targets held out to choose on (when to stop, which policy to keep)", above=0, maximum=0.5
    )
    validation_pairs: int = option(500, "validation pairs scored per evaluation (the first N)", minimum=1)
    embed_dim: int | None = option(None, "token embedding size (default: from the data)", minimum=1)
    hidden_dim: int | None = option(None, "LSTM and attention size, even (default: from the data)", minimum=2)
    pretrain_epochs: int | None = option(
        None,
        "most epochs of pre-training; it stops sooner once validation stops improving (default: from the data)",
        minimum=1,
    )
    patience: int = option(6, "pre-training stops after this many epochs without a better validation score", minimum=1)
    batch_size: int = option(32, "pairs per pre-training step", minimum=1)
    word_dropout: float = option(
        0.3, "share of pre-training's decoder inputs replaced by UNK (the policy must read the prompt)", minimum=0, maximum=1
    )
    label_smoothing: float = option(0.1, "pre-training's label smoothing over the valid tokens", minimum=0, maximum=1)
    rl_steps: int | None = option(None, "env steps of PPO fine-tuning (default: from the data)", minimum=1)
    rl_evaluations: int = option(6, "validation evaluations along the fine-tuning (the best is kept)", minimum=1)

    def __post_init__(self):
        check_fields(self)
        if self.hidden_dim is not None and self.hidden_dim % 2:
            raise ValueError(f"hidden_dim={self.hidden_dim} (--hidden-dim): must be even (the encoder reads both ways)")

    @classmethod
    def from_dict(cls, data) -> FitConfig:
        """Rebuild from ``asdict``'s dict (the env nested); unknown fields are a ValueError naming them."""
        if not isinstance(data, dict) or not isinstance(data.get("env", {}), dict):
            raise ValueError(f"a fit config must be a JSON object with an 'env' object, got {data!r}")
        return _from_dict(cls, {**data, "env": EnvConfig.from_dict(data.get("env", {}))})

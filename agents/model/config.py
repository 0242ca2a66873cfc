"""The model's and decoding's configs: torch-free, so that the command line lists them without importing torch."""

from __future__ import annotations

from dataclasses import dataclass

from agents.options import check_fields, option


@dataclass
class PolicyConfig:
    """The size and heads of the LSTM-attention actor-critic."""

    # Small on purpose: on copy and reverse this size learned better and 2.5x
    # faster than 64/128 (benchmarks/results/agent_quality.md).
    embed_dim: int = option(32, "token embedding size", minimum=1)
    hidden_dim: int = option(64, "LSTM and attention size", minimum=1)
    # On by default: PPO, 1M env steps, held-out similarity with / without it: reverse 1.000 / 0.996,
    # words to upper case 0.926 / 0.850, phrases with their words reversed (1,678 words) 0.999 / 0.191;
    # about 10% more time per update (benchmarks/results/own_data.md).
    copy_head: bool = option(True, "pointer-generator head: the attention over the prompt also proposes its tokens")
    # On by default: PPO defaults, held-out similarity at 1M env steps with / without them, seed 0: reverse 3-64
    # 0.943 / 0.387 (benchmarks/results/agent_quality.md). Without them attention points only by content, and a
    # long prompt repeats its letters, so the decoder must count its way along the prompt.
    position_features: bool = option(
        True,
        "attention also scores places: the decoder step against each prompt position, counted from the prompt's"
        " start and from its end",
    )
    # Off by default (the measured ladder and recipes read prompts one way); `fit` turns it on for text: on spelling
    # of a user's own sentences, pre-trained 10 epochs, held-out similarity 0.918 with it and 0.893 without.
    bidirectional: bool = option(
        False,
        "the encoder also reads each prompt from its end (half the hidden size each way), so every position's state"
        " knows what follows it",
    )

    def __post_init__(self):
        check_fields(self)
        if self.bidirectional and self.hidden_dim % 2:
            raise ValueError(f"hidden_dim={self.hidden_dim} (--hidden-dim): a bidirectional encoder needs an even size")


@dataclass
class DecodingConfig:
    """How a trained policy writes text."""

    sample: bool = option(False, "sample tokens instead of greedy decoding")
    temperature: float = option(1.0, "sampling: divide the logits by this", above=0)
    top_k: int = option(0, "sampling: keep only the k most likely tokens (0: all)")
    top_p: float = option(1.0, "sampling: keep the smallest set of tokens whose probability reaches p", above=0, maximum=1)
    beam: int = option(1, "beam search with this many beams (1: greedy or sampling)", minimum=1)
    length_penalty: float = option(1.0, "beam search: rank finished beams by log-probability / length ** this")
    seed: int = option(0, "seed of sampling")

    def __post_init__(self):
        check_fields(self)
        if self.beam > 1 and self.sample:
            raise ValueError("beam search and sampling exclude each other: give --beam or --sample")

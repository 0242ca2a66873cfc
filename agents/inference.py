"""A trained policy as a text generator: :func:`load` a checkpoint, :func:`generate` text with it."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields

from agents.checkpoint import load_checkpoint, policy_from_checkpoint
from agents.config import DecodingConfig, EnvConfig
from agents.decoding import generate_texts
from agents.device import resolve_device
from agents.policy import ActorCritic
from textgen_env.task import EpisodeRules
from textgen_env.tokenizers import Tokenizer


@dataclass
class LoadedPolicy:
    """A checkpoint's policy with what it needs to write: its tokenizer, env config and episode rules."""

    policy: ActorCritic
    tokenizer: Tokenizer
    env_config: EnvConfig
    rules: EpisodeRules
    limits: dict  # the token limits it trained with
    algorithm: str
    heldout: list | None  # the held-out pairs of a dataset file, stored in the checkpoint

    def generate(self, prompts: list[str], **decoding) -> list[str]:
        return generate_texts(self.policy, self.tokenizer, self.rules, list(prompts), DecodingConfig(**decoding))


def load(checkpoint: str | os.PathLike, device: str = "auto") -> LoadedPolicy:
    """Load a checkpoint for inference, on `device` (any device, whichever it was trained on)."""
    data = load_checkpoint(checkpoint)
    known = {f.name for f in fields(EnvConfig)}
    env_config = EnvConfig(**{k: v for k, v in data["config"].items() if k in known})
    tokenizer = data["tokenizer_object"]
    policy = policy_from_checkpoint(data, checkpoint, resolve_device(device)).eval()
    limits = data["limits"]
    rules = EpisodeRules(tokenizer.vocab_size, limits["min_new_tokens"], limits["max_new_tokens"])
    return LoadedPolicy(policy, tokenizer, env_config, rules, limits, data["algorithm"], data["heldout"])


def generate(checkpoint_or_policy, prompts: list[str], **decoding) -> list[str]:
    """Texts for `prompts` from a checkpoint path or a :class:`LoadedPolicy`.

    `decoding`: ``sample``, ``temperature``, ``top_k``, ``top_p``, ``beam``,
    ``length_penalty``, ``seed`` (see :class:`agents.config.DecodingConfig`); greedy by default.
    """
    loaded = checkpoint_or_policy if isinstance(checkpoint_or_policy, LoadedPolicy) else load(checkpoint_or_policy)
    return loaded.generate(prompts, **decoding)

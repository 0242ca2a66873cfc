"""A trained policy as a text generator: :func:`load` a checkpoint, :func:`generate` text with it."""

from __future__ import annotations

import os
from dataclasses import dataclass

from agents.model.decoding import DecodingConfig, generate_texts
from agents.model.policy import ActorCritic
from agents.runs.checkpoint import Checkpoint, CheckpointError
from agents.runs.config import EnvConfig
from agents.runs.device import resolve_device
from textgen_env.task import EpisodeRules
from textgen_env.tokenizers import Tokenizer


@dataclass
class LoadedPolicy:
    """A checkpoint's policy with what it needs to write: its tokenizer, env config and episode rules
    (the vocabulary, prompt width and token limits it trained with)."""

    policy: ActorCritic
    tokenizer: Tokenizer
    env_config: EnvConfig
    rules: EpisodeRules
    algorithm: str
    heldout: list | None  # the held-out pairs of a dataset file, stored in the checkpoint

    def generate(self, prompts: list[str], **decoding) -> list[str]:
        return generate_texts(self.policy, self.tokenizer, self.rules, list(prompts), DecodingConfig(**decoding))


def load(checkpoint: str | os.PathLike, device: str = "auto") -> LoadedPolicy:
    """Load a checkpoint for inference, on `device` (any device, whichever it was trained on)."""
    data = Checkpoint.load(checkpoint)
    try:
        env_config = EnvConfig.from_dict(data.config.get("env", {}))
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{checkpoint}: its env config does not load ({e})") from None
    policy = data.make_policy(checkpoint, resolve_device(device)).eval()
    return LoadedPolicy(policy, data.tokenizer, env_config, data.rules, data.algorithm, data.heldout)


def generate(checkpoint_or_policy, prompts: list[str], **decoding) -> list[str]:
    """Texts for `prompts` from a checkpoint path or a :class:`LoadedPolicy`.

    `decoding`: ``sample``, ``temperature``, ``top_k``, ``top_p``, ``beam``,
    ``length_penalty``, ``seed`` (see :class:`agents.model.decoding.DecodingConfig`); greedy by default.
    """
    loaded = checkpoint_or_policy if isinstance(checkpoint_or_policy, LoadedPolicy) else load(checkpoint_or_policy)
    return loaded.generate(prompts, **decoding)

"""Our LSTM-attention actor-critic as an RLlib RLModule (new API stack, Torch).

A module of its own because it imports ray at the top: RLlib's workers find the
class by this module's name, and only where the ``rllib`` extra is installed.
How it reads observations, and why it re-scores the generated prefix: :mod:`agents.integrations.rllib`.
"""

from __future__ import annotations

import torch
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.apis.value_function_api import ValueFunctionAPI
from ray.rllib.core.rl_module.torch.torch_rl_module import TorchRLModule

from agents.model.policy import ActorCritic, PolicyConfig, masked
from textgen_env.task import EpisodeRules
from textgen_env.tokenizers import BOS_ID, PAD_ID


class LSTMAttentionModule(TorchRLModule, ValueFunctionAPI):
    """:class:`agents.model.policy.ActorCritic` behind RLlib's RLModule API.

    ``model_config``: ``rules`` (the env's :class:`~textgen_env.task.EpisodeRules` as a dict,
    for the action masks) and ``policy`` (a :class:`~agents.model.config.PolicyConfig` as a dict).
    The policy itself is the attribute ``policy``, so its state dict keys are ours
    under the prefix ``policy.``.
    """

    def setup(self):
        config = self.model_config
        rules = EpisodeRules.from_dict(config["rules"])
        self.policy = ActorCritic(rules.vocab_size, PolicyConfig(**config["policy"]))
        self.register_buffer("mask_table", torch.tensor(rules.action_mask_table), persistent=False)

    def score(self, observations: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """Masked logits (B, V) and values (B,) for the next token of each observation."""
        prompts, generated = observations["prompt"].long(), observations["generated"].long()
        lengths = (generated != PAD_ID).sum(dim=1)  # PAD is never written: invalid actions are UNK
        inputs = torch.cat([torch.full_like(generated[:, :1], BOS_ID), generated], dim=1)
        logits, values = self.policy.sequence(inputs, self.policy.encode(prompts))
        rows = torch.arange(len(lengths), device=lengths.device)
        steps = self.mask_table[lengths.clamp(max=self.mask_table.shape[0] - 1)]
        return masked(logits[rows, lengths], steps), values[rows, lengths]

    def _forward(self, batch, **kwargs):
        logits, values = self.score(batch[Columns.OBS])
        return {Columns.ACTION_DIST_INPUTS: logits, Columns.EMBEDDINGS: values}

    def compute_values(self, batch, embeddings=None):
        return embeddings if embeddings is not None else self.score(batch[Columns.OBS])[1]

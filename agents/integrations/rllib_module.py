"""Our LSTM-attention actor-critic as a stateful RLlib RLModule (new API stack, Torch).

A module of its own because it imports ray at the top: RLlib's workers find the
class by this module's name, and only where the ``rllib`` extra is installed.

The decoder's LSTM state ``{"h", "c"}`` is the module's recurrent state, which RLlib's
connectors carry: while sampling, each call is one step per env (observations
(B, 1, ...)) from the state the previous step returned; in the learner, each row
is one episode (or the part of one that a sample call cut off), up to
``max_seq_len`` steps (at least the longest episode), run from its stored starting
state in one teacher-forced pass. The prompt's encoding is recomputed from the
observation at every call, so the state stays two vectors per env. The decoder's
input at each step (the token generated last, or BOS at the start) is read from the
observation too, and an episode's first step starts from the prompt's encoding, as
:meth:`agents.model.policy.ActorCritic.step` does.
"""

from __future__ import annotations

import numpy as np
import torch
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.apis.value_function_api import ValueFunctionAPI
from ray.rllib.core.rl_module.torch.torch_rl_module import TorchRLModule

from agents.model.policy import ActorCritic, PolicyConfig, masked
from textgen_env.task import EpisodeRules
from textgen_env.tokenizers import BOS_ID, PAD_ID


class LSTMAttentionModule(TorchRLModule, ValueFunctionAPI):
    """:class:`agents.model.policy.ActorCritic` behind RLlib's RLModule API, stateful.

    ``model_config``: ``rules`` (the env's :class:`~textgen_env.task.EpisodeRules` as a dict,
    for the action masks), ``policy`` (a :class:`~agents.model.config.PolicyConfig` as a dict)
    and ``max_seq_len`` (steps per training row; at least ``max_new_tokens + 1``, so one
    stored state per episode). The policy itself is the attribute ``policy``, so its
    state dict keys are ours under the prefix ``policy.``.
    """

    def setup(self):
        config = self.model_config
        rules = EpisodeRules.from_dict(config["rules"])
        self.policy = ActorCritic(rules.vocab_size, PolicyConfig(**config["policy"]))
        self.register_buffer("mask_table", torch.tensor(rules.action_mask_table), persistent=False)

    def get_initial_state(self) -> dict:
        # Zeros stand for "not started": an episode's first step replaces them by the prompt's encoding.
        hidden = self.policy.config.hidden_dim
        return {"h": np.zeros(hidden, np.float32), "c": np.zeros(hidden, np.float32)}

    def score(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor, dict]:
        """Masked logits (B, T, V), values (B, T) and the state after the last step, for rows of steps."""
        observations = batch[Columns.OBS]
        generated = observations["generated"].long()  # (B, T, G)
        lengths = (generated != PAD_ID).sum(dim=-1)  # PAD is never written: invalid actions are UNK
        last = generated.gather(-1, (lengths - 1).clamp(min=0)[..., None])[..., 0]
        inputs = torch.where(lengths == 0, BOS_ID, last)
        memory = self.policy.encode(observations["prompt"][:, 0])  # one prompt per row
        state_in = batch[Columns.STATE_IN]
        starts = (lengths[:, 0] == 0)[None, :, None]
        h, c = (
            torch.where(starts, encoded, given[None].to(encoded.dtype))
            for encoded, given in zip(memory.initial_state, (state_in["h"], state_in["c"]))
        )
        # the decoder steps taken are the tokens generated so far: the observation holds them
        logits, values, (h, c, _) = self.policy.decode(inputs, memory, (h, c, lengths[None, :, 0]))
        steps = self.mask_table[lengths.clamp(max=self.mask_table.shape[0] - 1)]
        return masked(logits, steps), values, {"h": h[0], "c": c[0]}

    def _forward(self, batch, **kwargs):
        logits, values, state_out = self.score(batch)
        return {Columns.ACTION_DIST_INPUTS: logits, Columns.EMBEDDINGS: values, Columns.STATE_OUT: state_out}

    def compute_values(self, batch, embeddings=None):
        return embeddings if embeddings is not None else self.score(batch)[1]

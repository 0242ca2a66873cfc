"""The LSTM-attention actor-critic shared by every agent.

Encoder-decoder: the prompt goes through an embedding and an LSTM encoder; the
generated tokens through the same embedding and an LSTM decoder whose initial
state is the encoder's final state; each decoder output attends over the encoder
states (padding masked, Luong "general" scores) and the mix feeds a policy head
(logits over the vocabulary, invalid actions masked) and a value head.

Two ways to run it, giving the same numbers:
- step mode (:meth:`ActorCritic.step`): one token for a batch of envs, the LSTM
  state carried from step to step, O(1) work per step;
- sequence mode (:meth:`ActorCritic.sequence`): whole episodes re-scored in one
  teacher-forced pass.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from textgen_env.tokenizers import PAD_ID

MASKED_LOGIT = -1e9  # exp() underflows to exactly 0, and 0 * MASKED_LOGIT stays finite in entropies


@dataclass
class PolicyConfig:
    # Small on purpose: on copy and reverse this size learned better and 2.5x
    # faster than 64/128 (benchmarks/results/agent_quality.md).
    embed_dim: int = 32
    hidden_dim: int = 64


class Memory(NamedTuple):
    """The encoded prompts: what the decoder attends over, and its initial state."""

    states: torch.Tensor  # (B, P, H)
    mask: torch.Tensor  # (B, P) True for real tokens
    initial_state: tuple[torch.Tensor, torch.Tensor]  # (1, B, H) each


class ActorCritic(nn.Module):
    def __init__(self, vocab_size: int, config: PolicyConfig | None = None):
        super().__init__()
        self.vocab_size = vocab_size
        self.config = config or PolicyConfig()
        e, h = self.config.embed_dim, self.config.hidden_dim
        self.embed = nn.Embedding(vocab_size, e, padding_idx=PAD_ID)
        self.encoder = nn.LSTM(e, h, batch_first=True)
        self.decoder = nn.LSTM(e, h, batch_first=True)
        self.attention_query = nn.Linear(h, h, bias=False)
        self.combine = nn.Linear(2 * h, h)
        self.policy_head = nn.Linear(h, vocab_size)
        self.value_head = nn.Linear(h, 1)

    def encode(self, prompts: torch.Tensor) -> Memory:
        mask = prompts != PAD_ID
        mask[:, 0] = True  # an empty prompt still has one (padding) position to attend to
        lengths = mask.sum(dim=1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(self.embed(prompts), lengths, batch_first=True, enforce_sorted=False)
        packed_states, (h, c) = self.encoder(packed)
        states, _ = nn.utils.rnn.pad_packed_sequence(packed_states, batch_first=True, total_length=prompts.shape[1])
        return Memory(states, mask, (h, c))

    def _heads(self, decoded: torch.Tensor, memory: Memory) -> tuple[torch.Tensor, torch.Tensor]:
        scores = self.attention_query(decoded) @ memory.states.transpose(1, 2)  # (B, T, P)
        scores = scores.masked_fill(~memory.mask[:, None, :], float("-inf"))
        context = torch.softmax(scores, dim=-1) @ memory.states
        features = torch.tanh(self.combine(torch.cat([decoded, context], dim=-1)))
        return self.policy_head(features), self.value_head(features).squeeze(-1)

    def step(self, tokens: torch.Tensor, state, memory: Memory):
        """One decoder step for a batch: (logits (B, V), values (B,), new state)."""
        decoded, state = self.decoder(self.embed(tokens)[:, None, :], memory.initial_state if state is None else state)
        logits, values = self._heads(decoded, memory)
        return logits[:, 0], values[:, 0], state

    def sequence(self, inputs: torch.Tensor, memory: Memory) -> tuple[torch.Tensor, torch.Tensor]:
        """All steps at once, teacher-forced on `inputs` (B, T): logits (B, T, V), values (B, T)."""
        decoded, _ = self.decoder(self.embed(inputs), memory.initial_state)
        return self._heads(decoded, memory)

    def evaluate(self, prompts, inputs, actions, action_masks):
        """Log-probabilities and entropies of `actions`, and values, for every step of whole episodes."""
        logits, values = self.sequence(inputs, self.encode(prompts))
        log_probs = F.log_softmax(masked(logits, action_masks), dim=-1)
        entropy = -(log_probs.exp() * log_probs).sum(-1)
        return log_probs.gather(-1, actions[..., None])[..., 0], entropy, values

    def describe(self) -> dict:
        return {"vocab_size": self.vocab_size, **asdict(self.config)}


def masked(logits: torch.Tensor, action_masks: torch.Tensor) -> torch.Tensor:
    return logits.masked_fill(~action_masks, MASKED_LOGIT)


def select_actions(logits: torch.Tensor, action_masks: torch.Tensor, greedy: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Valid actions (argmax, or sampled) and the log-probabilities of every action."""
    log_probs = F.log_softmax(masked(logits, action_masks), dim=-1)
    actions = log_probs.argmax(-1) if greedy else torch.multinomial(log_probs.exp(), 1)[:, 0]
    return actions, log_probs

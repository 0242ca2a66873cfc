"""Writing text with a policy: greedy, sampling (temperature, top-k, top-p) and beam search.

Every mode decodes a batch of prompts in step mode, with the env's own rules
(:class:`textgen_env.EpisodeRules`: which actions are valid after ``t`` tokens,
and the token budget), so a policy never writes what the env would refuse.

Beam search keeps ``beam`` hypotheses per prompt, ranks finished ones by
``log-probability / length ** length_penalty`` (EOS counts as a token), and
returns the best of them, or the greedy sequence if that ranks higher: plain beam
search can prune the greedy path, and a wider search should never do worse.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from agents.model.config import DecodingConfig
from agents.model.policy import MASKED_LOGIT, ActorCritic, Memory, masked, sample_rows
from textgen_env.memory import check_allocation
from textgen_env.task import EpisodeRules
from textgen_env.tokenizers import BOS_ID, EOS_ID, PAD_ID, UNK_ID


def policy_device(policy: ActorCritic) -> torch.device:
    return next(policy.parameters()).device


BEAM_CANDIDATES = 1 << 22  # rows x beams x vocab scored at once by beam search: 32 MiB of float64, whatever the batch


@torch.no_grad()
def decode_batches(
    policy: ActorCritic,
    rules: EpisodeRules,
    prompts: list[list[int]],
    decoding: DecodingConfig | None = None,
    batch_size: int = 256,
) -> Iterator[tuple[list[list[int]], list[float]]]:
    """Batch by batch: the token ids each prompt's text is written with (EOS excluded), and each text's total
    log-probability. Memory stays that of one batch however many prompts there are (beam search works in
    chunks of rows, so that its candidates never exceed :data:`BEAM_CANDIDATES`)."""
    decoding = decoding or DecodingConfig()
    device = policy_device(policy)
    generator = torch.Generator(device=device).manual_seed(decoding.seed) if decoding.sample else None
    if decoding.beam > 1:  # a prompt's beams each hold their candidates, the prompt's encoding and its decoder state
        hidden = policy.config.hidden_dim
        check_allocation(
            decoding.beam * (2 * policy.vocab_size + (rules.max_prompt_tokens + 4) * hidden + rules.max_new_tokens) * 8,
            "beam search's hypotheses for one prompt",
            f"beam={decoding.beam} ({policy.vocab_size} tokens, hidden_dim={hidden})",
        )
    for start in range(0, len(prompts), batch_size):
        batch = prompts[start : start + batch_size]
        memory = policy.encode(pad_rows(batch, device))
        ids, log_probs = step_decode(policy, rules, memory, decoding, generator)
        if decoding.beam > 1:
            rows = max(1, BEAM_CANDIDATES // (decoding.beam * policy.vocab_size))
            for first in range(0, len(batch), rows):
                chunk = memory.rows(slice(first, first + rows))  # the batch's encoding, not a second one
                beam_ids, beam_log_probs = beam_search(policy, rules, chunk, decoding.beam, decoding.length_penalty)
                for k, (candidate, score) in enumerate(zip(beam_ids, beam_log_probs), start=first):
                    budget = rules.max_new_tokens
                    if rank(score, candidate, decoding.length_penalty, budget) >= rank(
                        log_probs[k], ids[k], decoding.length_penalty, budget
                    ):
                        ids[k], log_probs[k] = candidate, score
        yield ids, log_probs


def decode_ids(
    policy: ActorCritic,
    rules: EpisodeRules,
    prompts: list[list[int]],
    decoding: DecodingConfig | None = None,
    batch_size: int = 256,
) -> tuple[list[list[int]], list[float]]:
    """:func:`decode_batches`, all at once."""
    texts, scores = [], []
    for ids, log_probs in decode_batches(policy, rules, prompts, decoding, batch_size):
        texts += ids
        scores += log_probs
    return texts, scores


def pad_rows(rows: list[list[int]], device) -> torch.Tensor:
    """PAD-padded (len(rows), longest) tensor of token ids."""
    width = max(1, max((len(r) for r in rows), default=1))
    matrix = np.full((len(rows), width), PAD_ID, dtype=np.int64)
    for i, row in enumerate(rows):
        matrix[i, : len(row)] = row
    return torch.from_numpy(matrix).to(device)


def rank(log_prob: float, ids: list[int], length_penalty: float, budget: int) -> float:
    """What beam search ranks finished texts by: the length counts the steps taken, the EOS step
    included (a text of `budget` tokens ended at the budget, without one)."""
    steps = len(ids) + (len(ids) < budget)
    return log_prob / max(1, steps) ** length_penalty


def mask_table(rules: EpisodeRules, device) -> torch.Tensor:
    """The rules' action-mask table (max_new_tokens + 1, vocab) as a tensor on `device`."""
    return torch.tensor(rules.action_mask_table, device=device)


def filter_logits(logits: torch.Tensor, temperature: float, top_k: int, top_p: float) -> torch.Tensor:
    """Masked logits divided by `temperature`, keeping only the `top_k` tokens and the `top_p` nucleus."""
    logits = logits / temperature
    if 0 < top_k < logits.shape[-1]:
        kth = logits.topk(top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, MASKED_LOGIT)
    if top_p < 1.0:
        ordered, order = logits.sort(dim=-1, descending=True)
        before = F.softmax(ordered, dim=-1).cumsum(dim=-1) - F.softmax(ordered, dim=-1)  # mass of the tokens ranked above
        drop = torch.zeros_like(logits, dtype=torch.bool).scatter(-1, order, before >= top_p)
        logits = logits.masked_fill(drop, MASKED_LOGIT)
    return logits


def step_decode(
    policy, rules: EpisodeRules, memory: Memory, decoding: DecodingConfig, generator
) -> tuple[list[list[int]], list[float]]:
    """Greedy or sampled decoding of a batch; total log-probabilities under the (unfiltered) policy."""
    rows = memory.states.shape[0]
    device = memory.states.device
    tokens = torch.full((rows,), BOS_ID, dtype=torch.long, device=device)
    state, steps = None, []
    writing = torch.ones(rows, dtype=torch.bool, device=device)
    total = torch.zeros(rows, dtype=torch.float64, device=device)
    masks = mask_table(rules, device)
    for step in range(rules.max_new_tokens):
        logits, _, state = policy.step(tokens, state, memory)
        logits = masked(logits, masks[step].expand(rows, -1))
        log_probs = F.log_softmax(logits, dim=-1)
        if decoding.sample:
            filtered = filter_logits(logits, decoding.temperature, decoding.top_k, decoding.top_p)
            tokens = sample_rows(F.softmax(filtered, dim=-1), generator)
        else:
            tokens = log_probs.argmax(-1)
        total += torch.where(writing, log_probs.gather(1, tokens[:, None])[:, 0].double(), 0.0)
        steps.append(torch.where(writing, tokens, EOS_ID))
        writing &= tokens != EOS_ID
        if not writing.any():
            break
    generated = torch.stack(steps, dim=1).tolist()
    return [_until_eos(row) for row in generated], total.tolist()


def _until_eos(row: list[int]) -> list[int]:
    return row[: row.index(EOS_ID)] if EOS_ID in row else row


def beam_search(
    policy, rules: EpisodeRules, memory: Memory, beams: int, length_penalty: float
) -> tuple[list[list[int]], list[float]]:
    """Plain beam search: each prompt's best finished hypothesis and its total log-probability."""
    rows, device, vocab = memory.states.shape[0], memory.states.device, policy.vocab_size
    memory = memory.rows(torch.arange(rows, device=device).repeat_interleave(beams))
    scores = torch.full((rows, beams), float("-inf"), dtype=torch.float64, device=device)
    scores[:, 0] = 0.0  # one live hypothesis per prompt at the start
    tokens = torch.full((rows * beams,), BOS_ID, dtype=torch.long, device=device)
    history = torch.zeros((rows * beams, 0), dtype=torch.long, device=device)
    finished = torch.zeros(rows * beams, dtype=torch.bool, device=device)
    stay_finished = torch.full((vocab,), float("-inf"), dtype=torch.float64, device=device)
    stay_finished[PAD_ID] = 0.0  # a finished hypothesis carries on with PAD at no cost
    offsets = (torch.arange(rows, device=device) * beams)[:, None]
    state = None
    masks = mask_table(rules, device)
    for step in range(rules.max_new_tokens):
        logits, _, state = policy.step(tokens, state, memory)
        log_probs = F.log_softmax(masked(logits, masks[step].expand(rows * beams, -1)), dim=-1).double()
        log_probs = torch.where(finished[:, None], stay_finished, log_probs)
        candidates = (scores.reshape(-1, 1) + log_probs).reshape(rows, beams * vocab)
        scores, chosen = candidates.topk(beams, dim=1)
        origin = (offsets + torch.div(chosen, vocab, rounding_mode="floor")).reshape(-1)
        tokens = (chosen % vocab).reshape(-1)
        state = tuple(s[:, origin] for s in state)
        history = torch.cat([history[origin], tokens[:, None]], dim=1)
        finished = finished[origin] | (tokens == EOS_ID)
        if finished.all():
            break
    hypotheses = [_until_eos(row) for row in history.tolist()]
    totals = scores.reshape(-1).tolist()
    best_ids, best_scores = [], []
    for r in range(rows):
        options = [
            (rank(totals[r * beams + b], hypotheses[r * beams + b], length_penalty, rules.max_new_tokens), b)
            for b in range(beams)
        ]
        _, b = max(options)
        best_ids.append(hypotheses[r * beams + b])
        best_scores.append(totals[r * beams + b])
    return best_ids, best_scores


def encode_prompts(tokenizer, rules: EpisodeRules, prompts: list[str], warn: bool = True) -> list[list[int]]:
    """The prompts' ids, each cut to the ``max_prompt_tokens`` the policy trained with; with `warn`, one warning
    that counts the prompts cut and the unknown tokens (read as UNK), if any."""
    encoded = [tokenizer.encode(p) for p in prompts]
    width = rules.max_prompt_tokens
    cut = sum(len(ids) > width for ids in encoded)
    unknown = sum(ids.count(UNK_ID) for ids in encoded)
    if warn and (cut or unknown):
        said = []
        if cut:
            said.append(f"{cut} of {len(prompts)} prompts are longer than the {width} tokens the policy trained with: cut")
        if unknown:
            said.append(f"{unknown} prompt tokens are unknown to its tokenizer: read as {tokenizer.decode([UNK_ID]) or 'UNK'}")
        warnings.warn("; ".join(said), stacklevel=2)
    return [ids[:width] for ids in encoded]


def generate_texts(
    policy: ActorCritic, tokenizer, rules: EpisodeRules, prompts: list[str], decoding: DecodingConfig | None = None
) -> list[str]:
    """The policy's texts for `prompts` (any prompts: no target needed)."""
    ids, _ = decode_ids(policy, rules, encode_prompts(tokenizer, rules, prompts), decoding)
    return [tokenizer.decode(row) for row in ids]

"""Evaluate a policy on a split: mean normalized similarity, exact-match rate, mean distance."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from agents.policy import ActorCritic, masked
from agents.rollout import collect_episodes
from textgen_env.task import TextTask
from textgen_env.tokenizers import BOS_ID, EOS_ID
from textgen_env.vector import TextGenerationVectorEnv


def evaluate_policy(policy: ActorCritic, config, split: str = "test", greedy: bool = True, episodes: int | None = None, batch_size: int = 256, seed: int = 0) -> dict:
    """Run the policy on the split's pairs (all of them, or the first `episodes`)."""
    probe = TextGenerationVectorEnv(num_envs=1, split=split, **config.env_kwargs())
    count = len(probe.task.dataset) if episodes is None else min(episodes, len(probe.task.dataset))
    indices = np.arange(count)
    env = TextGenerationVectorEnv(num_envs=min(batch_size, count), split=split, **config.env_kwargs())
    similarity, exact, distance, texts = [], [], [], []
    state = torch.get_rng_state()
    torch.manual_seed(seed)  # sampled evaluation is repeatable and leaves training's RNG untouched
    try:
        for start in range(0, count, env.num_envs):
            chunk = indices[start : start + env.num_envs]
            padded = np.resize(chunk, env.num_envs)  # the last chunk repeats pairs to fill the batch
            batch = collect_episodes(policy, env, padded, greedy=greedy)
            similarity.append(batch.similarity[: len(chunk)])
            exact.append(batch.exact[: len(chunk)])
            distance.append(batch.distance[: len(chunk)])
            texts += batch.texts[: len(chunk)]
    finally:
        torch.set_rng_state(state)
    return {
        "split": split,
        "greedy": greedy,
        "episodes": count,
        "mean_similarity": float(np.concatenate(similarity).mean()),
        "exact_rate": float(np.concatenate(exact).mean()),
        "mean_distance": float(np.concatenate(distance).mean()),
        "texts": texts,
    }


@torch.no_grad()
def generate_text(policy: ActorCritic, task: TextTask, prompt: str, greedy: bool = True) -> str:
    """The policy's text for any prompt (no target needed), decoded in step mode."""
    prompt_ids = task.tokenizer.encode(prompt)
    if len(prompt_ids) > task.max_prompt_tokens:
        raise ValueError(f"prompt has {len(prompt_ids)} tokens, more than this policy's max_prompt_tokens={task.max_prompt_tokens}")
    memory = policy.encode(torch.from_numpy(task.pad_prompts([prompt_ids])))
    token, state, generated = torch.tensor([BOS_ID]), None, []
    for step in range(task.max_new_tokens):
        action_mask = torch.from_numpy(task.valid_actions.copy())
        action_mask[EOS_ID] = step >= task.min_new_tokens
        logits, _, state = policy.step(token, state, memory)
        log_probs = F.log_softmax(masked(logits, action_mask[None]), dim=-1)
        token = log_probs.argmax(-1) if greedy else torch.multinomial(log_probs.exp(), 1)[:, 0]
        if int(token) == EOS_ID:
            break
        generated.append(int(token))
    return task.tokenizer.decode(generated)

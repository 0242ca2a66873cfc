"""Evaluate a policy on a split: mean normalized similarity, exact-match rate, mean distance."""

from __future__ import annotations

import numpy as np
import torch

from agents.policy import ActorCritic, select_actions
from agents.rollout import collect_episodes
from textgen_env.task import TextTask
from textgen_env.tokenizers import BOS_ID, EOS_ID
from textgen_env.vector import TextGenerationVectorEnv


def evaluate_policy(
    policy: ActorCritic,
    config,
    split: str = "test",
    greedy: bool = True,
    episodes: int | None = None,
    batch_size: int = 256,
    seed: int = 0,
) -> dict:
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
def generate_texts(policy: ActorCritic, task: TextTask, prompts: list[str], greedy: bool = True) -> list[str]:
    """The policy's texts for any prompts (no target needed), decoded together in step mode."""
    encoded = [task.tokenizer.encode(p) for p in prompts]
    for prompt, ids in zip(prompts, encoded):
        if len(ids) > task.max_prompt_tokens:
            raise ValueError(
                f"prompt {prompt!r} has {len(ids)} tokens, more than this policy's max_prompt_tokens={task.max_prompt_tokens}"
            )
    memory = policy.encode(torch.from_numpy(task.pad_prompts(encoded)))
    tokens = torch.full((len(prompts),), BOS_ID, dtype=torch.long)
    state, steps = None, []
    writing = torch.ones(len(prompts), dtype=torch.bool)
    for step in range(task.max_new_tokens):
        action_masks = torch.from_numpy(task.rules.action_mask_table[step]).expand(len(prompts), -1)
        logits, _, state = policy.step(tokens, state, memory)
        tokens, _ = select_actions(logits, action_masks, greedy)
        steps.append(torch.where(writing, tokens, EOS_ID))
        writing &= tokens != EOS_ID
        if not writing.any():
            break
    generated = torch.stack(steps, dim=1).tolist() if steps else [[] for _ in prompts]
    return [task.tokenizer.decode(ids) for ids in generated]  # decode stops at the first EOS


def generate_text(policy: ActorCritic, task: TextTask, prompt: str, greedy: bool = True) -> str:
    """The policy's text for one prompt."""
    return generate_texts(policy, task, [prompt], greedy)[0]

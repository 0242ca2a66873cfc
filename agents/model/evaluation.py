"""Score a policy (or copying the prompt) on a task's pairs: mean normalized similarity, exact-match rate, mean distance,
difflib ratio."""

from __future__ import annotations

import numpy as np

from agents.model.decoding import DecodingConfig, decode_ids
from agents.model.policy import ActorCritic
from textgen_env.rewards import similarity
from textgen_env.task import UNMATCHABLE, TextTask
from textgen_env.tokenizers import UNK_ID
from textgen_env.trl import difflib_ratio


def copy_baseline(task: TextTask) -> float:
    """Mean similarity of writing each prompt back unchanged: the bar where prompt and target are alike."""
    return copy_scores(task)["mean_similarity"]


def copy_scores(task: TextTask, episodes: int | None = None) -> dict:
    """What writing each prompt back unchanged scores (the same figures as :func:`evaluate_policy`)."""
    count = len(task.dataset) if episodes is None else min(episodes, len(task.dataset))
    return score_generations(task, task.prompt_ids[:count])


def evaluate_policy(
    policy: ActorCritic, task: TextTask, decoding: DecodingConfig | None = None, episodes: int | None = None
) -> dict:
    """Decode the first `episodes` pairs of `task` (all by default) and score them against their targets.

    Similarity is normalized Levenshtein similarity over tokens, as the env's
    ``info["similarity"]``; distance is the task's metric; a target token that no
    action can produce counts as an error. ``unknown_tokens`` counts the prompt
    tokens the tokenizer did not know and the unproducible target tokens.
    """
    decoding = decoding or DecodingConfig()
    count = len(task.dataset) if episodes is None else min(episodes, len(task.dataset))
    generated, _ = decode_ids(policy, task.rules, task.prompt_ids[:count], decoding)
    return {**score_generations(task, generated), "greedy": not decoding.sample and decoding.beam == 1}


def score_generations(task: TextTask, generated: list[list[int]]) -> dict:
    """Score token ids written for the first ``len(generated)`` pairs of `task` against their targets."""
    count = len(generated)
    targets = task.target_ids[:count]
    similarities = [similarity(g, t) for g, t in zip(generated, targets)]
    unknown = sum(p.count(UNK_ID) for p in task.prompt_ids[:count]) + sum(t.count(UNMATCHABLE) for t in targets)
    texts = [task.tokenizer.decode(g) for g in generated]
    return {
        "episodes": count,
        "mean_similarity": float(np.mean(similarities)),
        "exact_rate": float(np.mean([g == t for g, t in zip(generated, targets)])),
        "mean_distance": float(np.mean([task.metric.measure(g, t) for g, t in zip(generated, targets)])),
        # the texts' difflib SequenceMatcher ratio, the figure LLM RL tool kits report, whatever the metric
        "mean_difflib_ratio": float(np.mean([difflib_ratio(g, t) for g, t in zip(texts, task.target_texts[:count])])),
        "unknown_tokens": unknown,
        "texts": texts,
        "similarities": similarities,  # each pair's, for paired comparisons
    }

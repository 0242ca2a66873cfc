"""The dense/sparse contract and distances against rapidfuzz, on random episodes."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from textgen_env import EOS_ID, METRICS, TextGenerationEnv

ALPHABET = "abcd"


def tiny_distance(generated, target):
    return abs(len(generated) - len(target)) + sum(a != b for a, b in zip(generated, target))


ALL_METRICS = sorted(METRICS) + [tiny_distance]

episodes = st.tuples(
    st.text(alphabet=ALPHABET, min_size=1, max_size=12),  # target
    st.lists(st.integers(min_value=4, max_value=4 + len(ALPHABET) - 1), max_size=16),  # tokens
    st.booleans(),  # stop with EOS after the tokens
)


def run_episode(env, target, tokens, stop):
    env.reset(options={"prompt": "x", "target": target})
    rewards, distances, info, done = [], [], {}, False
    for token in list(tokens) + [EOS_ID] * (stop or len(tokens) < env.task.max_new_tokens):
        _, reward, done, _, info = env.step(token)
        rewards.append(reward)
        distances.append((env.generated_ids(), info["distance"]))
        if done:
            break
    assert done
    return rewards, distances, info


def make_env(metric, reward):
    return TextGenerationEnv(
        dataset=[("x", ALPHABET)], split="all", metric=metric, reward=reward, max_new_tokens=16, min_new_tokens=0
    )


@pytest.mark.parametrize("metric", ALL_METRICS, ids=lambda m: getattr(m, "__name__", m))
@settings(max_examples=60, deadline=None)
@given(episode=episodes)
def test_dense_rewards_sum_to_the_sparse_reward(metric, episode):
    target, tokens, stop = episode
    dense = run_episode(make_env(metric, "dense"), target, tokens, stop)[0]
    sparse = run_episode(make_env(metric, "sparse"), target, tokens, stop)[0]
    assert all(r == 0.0 for r in sparse[:-1])
    assert sum(dense) == pytest.approx(sparse[-1], abs=1e-9)


@pytest.mark.parametrize("metric", sorted(METRICS))
@settings(max_examples=40, deadline=None)
@given(episode=episodes)
def test_info_distance_equals_rapidfuzz_every_step(metric, episode):
    target, tokens, stop = episode
    env = make_env(metric, "dense")
    _, distances, _ = run_episode(env, target, tokens, stop)
    target_ids = env.tokenizer.encode(target)
    for generated, distance in distances:
        assert distance == pytest.approx(METRICS[metric].distance(generated, target_ids))


@settings(max_examples=80, deadline=None)
@given(episode=episodes, metric=st.sampled_from(["levenshtein", "indel"]))
def test_incremental_dense_reward_is_the_change_in_best_reachable_distance(episode, metric):
    target, tokens, stop = episode
    env = make_env(metric, "dense")
    rewards, distances, _ = run_episode(env, target, tokens, stop)
    t = env.tokenizer.encode(target)
    best_before = 0
    for (generated, _), reward in zip(distances[:-1], rewards[:-1]):
        best = min(METRICS[metric].distance(generated, t[:j]) for j in range(len(t) + 1))
        assert reward == pytest.approx(-(best - best_before) / len(t))
        if metric == "levenshtein":
            assert reward in (0.0, pytest.approx(-1 / len(t)))
        best_before = best


@settings(max_examples=40, deadline=None)
@given(episode=episodes)
def test_inverse_and_exact_modes(episode):
    target, tokens, stop = episode
    env = make_env("levenshtein", "inverse")
    inverse, distances, info = run_episode(env, target, tokens, stop)
    assert inverse[:-1] == [0.0] * (len(inverse) - 1)
    assert inverse[-1] == pytest.approx(1 / (1 + info["distance"]))
    exact = run_episode(make_env("levenshtein", "exact"), target, tokens, stop)[0]
    assert exact[-1] == float(env.generated_text() == target)


def test_reward_range_of_a_worst_case_episode():
    env = make_env("levenshtein", "dense")
    rewards, _, _ = run_episode(env, "a", [5] * 16, False)
    assert sum(rewards) == pytest.approx(-16 / 1) and min(rewards[:-1]) >= -1.0
    assert np.isfinite(rewards).all()

"""The episode core's contracts: one record of the rules, the reward table, observation dtypes, zero-copy buffers."""

import pickle

import gymnasium as gym
import numpy as np
import pytest

from textgen_env import EpisodeRules, TextGenerationEnv, TextGenerationVectorEnv
from textgen_env.core import make_core, numba_core
from textgen_env.rewards import REWARD_MODES
from textgen_env.task import TextTask, token_dtype

BACKENDS = ["numpy"] + (["numba"] if numba_core.AVAILABLE else [])


def test_token_dtype_is_the_smallest_that_holds_the_vocabulary_and_its_count():
    assert token_dtype(5) == np.uint8 and token_dtype(255) == np.uint8
    assert token_dtype(256) == np.uint16 and token_dtype(65_535) == np.uint16  # MultiDiscrete keeps nvec in the dtype
    assert token_dtype(65_536) == np.int32


@pytest.mark.parametrize("letters, dtype", [("abc", np.uint8), ("".join(chr(0x4E00 + i) for i in range(300)), np.uint16)])
def test_observations_and_spaces_use_the_small_dtype_and_int64_counts(letters, dtype):
    env = TextGenerationEnv(dataset=[("p", letters)], split="all")
    obs, _ = env.reset(seed=0)
    assert obs["prompt"].dtype == dtype and obs["generated"].dtype == dtype
    assert env.observation_space["prompt"].dtype == dtype and env.observation_space["prompt"].nvec.dtype == np.int64
    assert sum(env.observation_space["generated"].nvec) == env.task.vocab_size * env.task.max_new_tokens  # no wrap-around
    assert env.observation_space.contains(obs)


def test_episode_rules_round_trip_and_name_bad_fields():
    rules = TextTask(task="reverse").rules
    assert EpisodeRules.from_dict(rules.to_dict()) == rules
    assert set(rules.to_dict()) == {"vocab_size", "max_prompt_tokens", "min_new_tokens", "max_new_tokens"}
    with pytest.raises(ValueError, match=r"missing \['max_prompt_tokens'\]"):
        EpisodeRules.from_dict({k: v for k, v in rules.to_dict().items() if k != "max_prompt_tokens"})
    with pytest.raises(ValueError, match=r"unknown \['colour'\]"):
        EpisodeRules.from_dict({**rules.to_dict(), "colour": 1})
    with pytest.raises(ValueError, match="min_new_tokens=-1: must be an integer >= 0"):
        EpisodeRules.from_dict({**rules.to_dict(), "min_new_tokens": -1})


@pytest.mark.parametrize("mode", sorted(REWARD_MODES))
def test_each_reward_mode_is_its_row_of_terminal_weights(mode):
    row = REWARD_MODES[mode]
    score, distance, exact, before = -0.25, 3, 1.0, -0.1
    expected = {"dense": score - before, "sparse": score, "inverse": 1 / (1 + distance), "exact": exact}[mode]
    assert float(row.terminal(score, distance, exact, before)) == pytest.approx(expected)
    assert row.dense == (mode == "dense")


@pytest.mark.parametrize("backend", BACKENDS)
def test_vector_env_copy_false_returns_its_own_buffers_written_in_place(backend):
    env = TextGenerationVectorEnv(4, task="reverse", copy=False, backend=backend)
    copied = TextGenerationVectorEnv(4, task="reverse", backend=backend)
    obs, _ = env.reset(seed=3)
    expected, _ = copied.reset(seed=3)
    first_generated = obs["generated"]
    actions = np.array([5, 6, 7, 8])
    for _ in range(3):
        obs, *_ = env.step(actions)
        expected, *_ = copied.step(actions)
        assert obs["generated"] is first_generated  # the same buffer, written in place
        np.testing.assert_array_equal(obs["generated"], expected["generated"])
        np.testing.assert_array_equal(obs["prompt"], expected["prompt"])
    kept = expected["generated"].copy()
    copied.step(actions)
    np.testing.assert_array_equal(expected["generated"], kept)  # copy=True: what a step returned stays as it was
    with pytest.raises(ValueError, match="copy='yes': must be True or False"):
        TextGenerationVectorEnv(2, copy="yes")


def test_gym_make_vec_passes_copy_through():
    env = gym.make_vec("TextGeneration-v0", num_envs=2, vectorization_mode="vector_entry_point", copy=False)
    obs, _ = env.reset(seed=0)
    assert env.step(np.array([5, 6]))[0]["generated"] is obs["generated"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_single_env_is_the_core_with_one_episode(backend):
    single = TextGenerationEnv(task="reverse", backend=backend)
    core = make_core(single.task, 1, backend)
    single.reset(seed=0, options={"index": 7})
    core.start(np.array([0]), np.array([7]))
    rng = np.random.default_rng(0)
    done = False
    while not done:
        action = int(rng.integers(2, single.task.vocab_size))
        _, reward, done, _, info = single.step(action)
        out = core.step(np.array([action]), np.zeros(1, dtype=bool))
        assert reward == out.rewards[0] and done == out.terminated[0] and info["distance"] == out.distances[0]
    np.testing.assert_array_equal(single.core.state.generated, core.state.generated)


@pytest.mark.parametrize("backend", BACKENDS)
def test_both_envs_pickle_mid_episode_and_continue_identically(backend):
    for env in (TextGenerationEnv(task="copy", backend=backend), TextGenerationVectorEnv(3, task="copy", backend=backend)):
        env.reset(seed=1)
        actions = 5 if isinstance(env, TextGenerationEnv) else np.array([5, 6, 7])
        env.step(actions)
        twin = pickle.loads(pickle.dumps(env))
        a, b = env.step(actions), twin.step(actions)
        assert a[1] == pytest.approx(b[1]) and np.all(a[2] == b[2])


def test_sizes_that_would_not_fit_in_memory_are_refused_before_allocating():
    with pytest.raises(ValueError, match=r"max_new_tokens=100000000, .*GiB, more than a quarter of this machine's"):
        TextGenerationEnv(task="copy", max_new_tokens=100_000_000)
    with pytest.raises(ValueError, match=r"num_envs=10000000, max_new_tokens=1000 .*more than a quarter of this machine's"):
        TextGenerationVectorEnv(10_000_000, task="copy", max_new_tokens=1000)

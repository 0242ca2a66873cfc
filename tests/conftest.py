import gymnasium as gym
import numpy as np
import pytest

import textgen_env

BUILTIN_TASKS = tuple(textgen_env.TASKS)


def assert_same(a, b, path="value"):
    """Deep equality of observations / infos, dtypes included."""
    if isinstance(a, dict):
        assert set(a) == set(b), f"{path}: keys {sorted(a)} != {sorted(b)}"
        for key in a:
            assert_same(a[key], b[key], f"{path}/{key}")
    elif isinstance(a, (tuple, list)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{path}[{i}]")
    elif isinstance(a, np.ndarray) and a.dtype == object:
        assert isinstance(b, np.ndarray) and b.shape == a.shape, path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{path}[{i}]")
    elif isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray), f"{path}: {type(b)}"
        assert a.dtype == b.dtype, f"{path}: dtype {a.dtype} != {b.dtype}"
        np.testing.assert_array_equal(a, b, err_msg=path)
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


@pytest.fixture
def copy_env():
    env = gym.make("TextGeneration-v0", task="copy")
    yield env
    env.close()


def play(env, tokens):
    """Step `tokens` (stopping early if the episode ends); returns rewards and the last info."""
    rewards, info, done = [], {}, False
    for token in tokens:
        _, reward, done, _, info = env.step(token)
        rewards.append(reward)
        if done:
            break
    return rewards, info, done

"""The native vector env against Gymnasium's SyncVectorEnv over single envs."""

import re

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from textgen_env import EOS_ID, REWARD_MODES
from textgen_env.core import numba_core
from textgen_env.vector import TextGenerationVectorEnv

from conftest import BUILTIN_TASKS, assert_same

MODES = [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP]
NEEDS_NUMBA = pytest.mark.skipif(
    not numba_core.AVAILABLE, reason="numba is not installed (the 'fast' extra): only the numpy backend is tested"
)
BACKENDS = ["numpy", pytest.param("numba", marks=NEEDS_NUMBA)]


def make_pair(num_envs, mode, backend="auto", **kwargs):
    sync = gym.make_vec(
        "TextGeneration-v0", num_envs=num_envs, vectorization_mode="sync", vector_kwargs={"autoreset_mode": mode}, **kwargs
    )
    native = gym.make_vec("TextGeneration-v0", num_envs=num_envs, autoreset_mode=mode, backend=backend, **kwargs)
    return sync, native


def compare_runs(sync, native, steps, seed, eos_rate=0.15):
    assert isinstance(native.unwrapped, TextGenerationVectorEnv) and isinstance(sync, SyncVectorEnv)
    rng = np.random.default_rng(seed)
    for label, (a, b) in {"reset": (sync.reset(seed=seed), native.reset(seed=seed))}.items():
        assert_same(a[0], b[0], f"{label}/obs")
        assert_same(a[1], b[1], f"{label}/info")
    vocab = native.single_action_space.n
    episodes = 0
    for t in range(steps):
        actions = rng.integers(0, vocab, size=native.num_envs)
        actions[rng.random(native.num_envs) < eos_rate] = EOS_ID
        expected, got = sync.step(actions), native.step(actions)
        for name, a, b in zip(["obs", "reward", "terminated", "truncated", "info"], expected, got):
            assert_same(a, b, f"step {t}/{name}")
        episodes += int(expected[2].sum())
    return episodes


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.value)
@pytest.mark.parametrize("task", BUILTIN_TASKS)
def test_native_equals_sync_for_every_task(mode, task, backend):
    sync, native = make_pair(5, mode, backend, task=task)
    assert native.unwrapped.backend == backend
    assert compare_runs(sync, native, steps=150, seed=11) > 20  # many resets happened along the way


# Every reward mode, on a task of short targets and one of long targets of several lengths (28-74 characters;
# reverse_text builds in a tenth of spelling's time, and SyncVectorEnv builds the task once per env).
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.value)
@pytest.mark.parametrize("task", ["addition", "reverse_text"])
@pytest.mark.parametrize("reward", REWARD_MODES)
def test_native_equals_sync_for_every_reward(mode, task, reward, backend):
    sync, native = make_pair(5, mode, backend, task=task, reward=reward)
    assert compare_runs(sync, native, steps=150, seed=11) > 20


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.value)
@pytest.mark.parametrize(
    "kwargs",
    [
        {"metric": "osa"},
        {"metric": "jaro_winkler", "reward": "inverse"},
        {"max_episode_steps": 6},
        {"flat_observation": True},
        {"task": "copy", "min_new_tokens": 3},
    ],
)
def test_native_equals_sync_for_other_metrics_and_options(mode, kwargs):
    sync, native = make_pair(4, mode, **kwargs)
    assert compare_runs(sync, native, steps=120, seed=3) > 10


@pytest.mark.parametrize("backend", BACKENDS)
def test_long_run_with_many_resets_and_reseeding(backend):
    sync, native = make_pair(16, AutoresetMode.NEXT_STEP, backend, task="reverse")
    assert compare_runs(sync, native, steps=600, seed=0, eos_rate=0.05) > 400
    compare_runs(sync, native, steps=50, seed=99)  # a reset with a new seed re-aligns both


@pytest.mark.parametrize("backend", BACKENDS)
def test_reset_options_match_sync(backend):
    sync, native = make_pair(3, AutoresetMode.NEXT_STEP, backend, task="copy")
    for options in [{"index": 4}, {"prompt": "abc", "target": "abc"}]:
        assert_same(sync.reset(seed=1, options=options), native.reset(seed=1, options=options))
        actions = np.array([5, 6, EOS_ID])
        for _ in range(4):
            assert_same(sync.step(actions), native.step(actions))


def test_vector_conventions():
    env = gym.make_vec("TextGeneration-v0", num_envs=8, task="copy")
    assert env.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    single = gym.make("TextGeneration-v0", task="copy")
    assert env.single_observation_space == single.observation_space
    assert env.single_action_space == single.action_space
    assert env.observation_space == gym.vector.utils.batch_space(single.observation_space, 8)
    obs, _ = env.reset(seed=0)
    assert obs in env.observation_space
    masks = env.unwrapped.action_masks()
    assert masks.shape == (8, env.single_action_space.n) and not masks[:, EOS_ID].any()
    env.step(np.full(8, 5))
    assert env.unwrapped.action_masks()[:, EOS_ID].all()
    env.close()
    assert env.unwrapped.closed
    env.close()  # closing twice is allowed, as Gymnasium's envs allow it
    assert env.unwrapped.closed


def test_render_chosen_envs():
    env = TextGenerationVectorEnv(num_envs=4, task="copy", render_mode="ansi", render_indices=[1, 3])
    env.reset(seed=0)
    frames = env.render()
    assert len(frames) == 2 and frames[0].startswith("env 1:") and "target" in frames[1]
    assert env.get_target_texts()[env.core.state.pair[3]] in frames[1]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("metric", ["levenshtein", "indel"])
def test_backends_at_target_lengths_1_64_65_and_past_the_prefix(backend, metric):
    # Targets longer than any prefix the policy writes, and episodes that write past the target.
    dataset = [("p", t) for t in ["a", "ab" * 32, "ab" * 32 + "c", "abc"]]
    sync, native = make_pair(
        6, AutoresetMode.NEXT_STEP, backend, dataset=dataset, split="all", metric=metric, max_new_tokens=70
    )
    assert compare_runs(sync, native, steps=300, seed=5, eos_rate=0.02) > 10


@NEEDS_NUMBA
def test_match_masks_and_the_scanning_fallback(monkeypatch):
    dataset = [("p", "ab" * 40 + "c"), ("q", "ba"), ("r", "c" * 64)]  # 2 words, 1 word, exactly 1 word
    task = TextGenerationVectorEnv(4, dataset=dataset, split="all", max_new_tokens=81).task
    masks = numba_core.match_masks(task.target_matrix, task.target_lengths, task.vocab_size)
    assert masks.shape == (3, task.vocab_size, 2)
    for pair in range(3):
        for token in range(task.vocab_size):
            expected = sum(1 << j for j, t in enumerate(task.target_ids[pair]) if t == token)
            assert int(masks[pair, token, 0]) | int(masks[pair, token, 1]) << 64 == expected
    assert numba_core.match_masks(task.target_matrix, task.target_lengths, task.vocab_size, max_entries=10).size == 0
    # Without a table the kernel scans each target: still identical to SyncVectorEnv.
    monkeypatch.setattr(numba_core, "match_masks", lambda *args: np.zeros((0, 0, 0), dtype=np.uint64))
    sync, native = make_pair(4, AutoresetMode.NEXT_STEP, "numba", task="reverse")
    assert compare_runs(sync, native, steps=150, seed=2) > 10


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("metric", ["levenshtein", "indel"])
def test_backends_on_targets_of_several_words(backend, metric):
    # 130 and 200 tokens: three and four 64-bit words, with carries between them.
    rng = np.random.default_rng(1)
    dataset = [("p", "".join(rng.choice(list("abc"), size=n))) for n in (130, 200, 7)]
    sync, native = make_pair(
        4, AutoresetMode.NEXT_STEP, backend, dataset=dataset, split="all", metric=metric, max_new_tokens=200
    )
    assert compare_runs(sync, native, steps=500, seed=6, eos_rate=0.01) >= 4


def test_backend_choice():
    assert TextGenerationVectorEnv(2, backend="numpy").backend == "numpy"
    assert TextGenerationVectorEnv(2, metric="osa").backend == "numpy"  # no compiled kernel for osa
    assert TextGenerationVectorEnv(2).backend == ("numba" if numba_core.AVAILABLE else "numpy")
    with pytest.raises(ValueError, match="backend='cuda': allowed values are"):
        TextGenerationVectorEnv(2, backend="cuda")
    with pytest.raises(ValueError, match="backend='numba'"):
        TextGenerationVectorEnv(2, backend="numba", metric="osa")


def test_bad_num_envs_actions_and_modes():
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="num_envs="):
            TextGenerationVectorEnv(num_envs=bad)
    with pytest.raises(ValueError, match="autoreset_mode"):
        TextGenerationVectorEnv(num_envs=2, autoreset_mode="Sometimes")
    env = TextGenerationVectorEnv(num_envs=3, task="copy")
    with pytest.raises(RuntimeError, match="before reset"):
        env.step(np.array([5, 5, 5]))
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"actions \[9999\] \(envs \[1\]\) are outside"):
        env.step(np.array([5, 9999, 5]))
    with pytest.raises(ValueError, match="expected \\(3,\\)"):
        env.step(np.array([5, 5]))
    with pytest.raises(ValueError, match="must be integers"):
        env.step(np.array([5.0, 5.0, 5.0]))


def test_reset_with_one_index_per_env():
    env = TextGenerationVectorEnv(num_envs=3, task="copy")
    obs, info = env.reset(options={"index": np.array([4, 0, 4])})
    assert info["index"].tolist() == [4, 0, 4]
    assert (obs["prompt"][0] == obs["prompt"][2]).all() and not (obs["prompt"][0] == obs["prompt"][1]).all()
    with pytest.raises(ValueError, match="options\\['index'\\]=-1"):
        env.reset(options={"index": np.array([1, -1, 2])})


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("seed", [None, 21])
def test_reset_mask_resets_only_the_masked_envs_as_sync_does(backend, seed):
    sync, native = make_pair(4, AutoresetMode.NEXT_STEP, backend, task="reverse")
    compare_runs(sync, native, steps=5, seed=3, eos_rate=0.0)
    mask = np.array([True, False, True, False])
    expected, got = (
        sync.reset(seed=seed, options={"reset_mask": mask.copy()}),
        native.reset(seed=seed, options={"reset_mask": mask}),
    )
    assert_same(expected[0], got[0], "obs")
    assert_same(expected[1], got[1], "info")
    assert list(got[1]["_index"]) == [True, False, True, False]
    assert (got[0]["generated"][~mask] != 0).any() and (got[0]["generated"][mask] == 0).all()  # the others go on
    rng = np.random.default_rng(0)
    for t in range(30):
        actions = rng.integers(4, native.single_action_space.n, size=4)
        for name, a, b in zip(["obs", "reward", "terminated", "truncated", "info"], sync.step(actions), native.step(actions)):
            assert_same(a, b, f"step {t}/{name}")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("task", ["copy", "reverse_text"])
def test_disabled_autoreset_equals_sync_when_the_caller_resets(backend, task):
    sync, native = make_pair(5, AutoresetMode.DISABLED, backend, task=task)
    assert native.metadata["autoreset_mode"] == AutoresetMode.DISABLED
    for name, a, b in zip(["obs", "info"], sync.reset(seed=4), native.reset(seed=4)):
        assert_same(a, b, f"reset/{name}")
    rng, vocab, resets = np.random.default_rng(4), native.single_action_space.n, 0
    for t in range(120):
        actions = rng.integers(4, vocab, size=5)
        actions[rng.random(5) < 0.15] = EOS_ID
        expected, got = sync.step(actions), native.step(actions)
        for name, a, b in zip(["obs", "reward", "terminated", "truncated", "info"], expected, got):
            assert_same(a, b, f"step {t}/{name}")
        done = expected[2] | expected[3]
        if done.any():  # the caller resets the finished envs, some steps with a seed
            seed = int(rng.integers(100)) if t % 3 == 0 else None
            for name, a, b in zip(
                ["obs", "info"],
                sync.reset(seed=seed, options={"reset_mask": done.copy()}),
                native.reset(seed=seed, options={"reset_mask": done.copy()}),
            ):
                assert_same(a, b, f"reset after step {t}/{name}")
            resets += 1
    assert resets > 10


def test_disabled_autoreset_refuses_to_step_a_finished_env():
    env = TextGenerationVectorEnv(num_envs=3, task="copy", autoreset_mode="Disabled")
    env.reset(seed=0)
    env.step(np.array([5, 5, 5]))
    _, _, terminated, _, _ = env.step(np.array([EOS_ID, 5, 5]))  # env 0 ends
    assert terminated.tolist() == [True, False, False]
    with pytest.raises(RuntimeError, match=re.escape("envs [0] finished and were not reset")):
        env.step(np.array([5, 5, 5]))
    env.reset(options={"reset_mask": terminated.copy()})
    env.step(np.array([5, 5, 5]))  # stepping goes on once they are reset


def test_reset_mask_refusals_name_the_mask():
    env = TextGenerationVectorEnv(3, task="copy")
    with pytest.raises(ValueError, match="needs every env reset once first"):
        env.reset(options={"reset_mask": np.array([True, False, True])})
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"must be a numpy bool array of shape \(3,\)"):
        env.reset(options={"reset_mask": [True, False, True]})
    with pytest.raises(ValueError, match="resets no env"):
        env.reset(options={"reset_mask": np.zeros(3, dtype=bool)})


def test_renamed_methods_keep_their_old_names_warning_once():
    import warnings

    env = TextGenerationVectorEnv(3, task="reverse")
    env.reset(seed=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert env.target_texts() == env.current_target_texts() == [env.core.target_text(i) for i in range(3)]
        env.target_texts()
    assert [str(w.message) for w in caught] == [
        "TextGenerationVectorEnv.target_texts() is renamed current_target_texts(); the old name will go"
    ]
    assert env.current_target_texts()[0] in env.get_target_texts()  # an episode's target, among the split's


def test_renamed_module_names_keep_working_with_a_warning(recwarn):
    import importlib
    import sys
    import warnings

    import agents.algorithms.configs as configs
    import agents.bench as bench
    import textgen_env.builtin_tasks as builtin_tasks
    import textgen_env.core as core

    warnings.simplefilter("always")
    sys.modules.pop("textgen_env.tasks", None)
    assert importlib.import_module("textgen_env.tasks") is builtin_tasks
    assert core.Rules is core.StepRules
    assert configs.BASELINES is configs.REINFORCE_BASELINES and bench.BASELINES is bench.BASELINE_AGENTS
    renamed = sorted(str(w.message).split(" is renamed")[0] for w in recwarn if w.category is DeprecationWarning)
    assert renamed == ["agents.algorithms.configs.BASELINES", "agents.bench.BASELINES", "textgen_env.core.Rules",
                       "textgen_env.tasks"]  # fmt: skip
    with pytest.raises(AttributeError, match="no attribute 'Rulez'"):
        core.Rulez  # noqa: B018

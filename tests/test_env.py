import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env

import textgen_env
from textgen_env import BOS_ID, EOS_ID, PAD_ID, UNK_ID, TextGenerationEnv

from conftest import BUILTIN_TASKS, play


@pytest.mark.parametrize("task", BUILTIN_TASKS)
@pytest.mark.parametrize("flat", [False, True])
def test_gymnasium_env_checker_passes(task, flat):
    # Made by gym.make, so that the checker also renders in every mode the metadata lists.
    gym_check_env(gym.make("TextGeneration-v0", task=task, flat_observation=flat, render_mode="rgb_array").unwrapped)


@pytest.mark.parametrize("task", BUILTIN_TASKS)
@pytest.mark.parametrize("flat", [False, True])
def test_sb3_env_checker_passes(task, flat):
    sb3_check_env = pytest.importorskip("stable_baselines3.common.env_checker", reason="install the 'sb3' extra").check_env
    sb3_check_env(TextGenerationEnv(task=task, flat_observation=flat), warn=False)


def test_default_env_is_char_level_dense_levenshtein_copy():
    env = gym.make("TextGeneration-v0").unwrapped
    assert env.task.dataset.name == "copy[train]"
    assert isinstance(env.tokenizer, textgen_env.CharTokenizer)
    assert env.task.reward.name == "dense" and env.metric.name == "levenshtein"
    assert env.task.max_new_tokens == max(len(t) for t in textgen_env.make_task("copy").targets)


def test_every_entry_point_builds_the_same_default_task():
    from agents.algorithms.ppo import PPOConfig
    from agents.cli import train_parser
    from agents.integrations.rllib import resolve_env_config
    from agents.options import given
    from agents.runs.config import build_config

    single = gym.make("TextGeneration-v0").unwrapped.task
    vector = gym.make_vec("TextGeneration-v0", num_envs=2).unwrapped.task
    cli = build_config(PPOConfig, given(train_parser("ppo").parse_args([]), PPOConfig)).env
    cli_task = textgen_env.TextTask(cli.task_config())
    _, rllib_task = resolve_env_config({})
    for task in (vector, cli_task, rllib_task):
        assert task.dataset.name == single.dataset.name == "copy[train]"
        assert task.target_texts == single.target_texts and task.vocab_size == single.vocab_size


def test_the_env_arguments_are_listed_once_in_task_config():
    import dataclasses
    import inspect

    from agents.cli import train_parser
    from agents.runs.config import EnvConfig
    from textgen_env.task import TaskConfig

    names = [f.name for f in dataclasses.fields(TaskConfig)]
    assert [f.name for f in dataclasses.fields(EnvConfig)] == names
    for env_class in (TextGenerationEnv, textgen_env.TextGenerationVectorEnv):
        parameters = inspect.signature(env_class).parameters
        assert all(parameters[name].default == f.default for name, f in zip(names, dataclasses.fields(TaskConfig)))
    # a field's default and help reach the command line from TaskConfig alone
    help_text = train_parser("ppo").format_help()
    assert "--min-new-tokens" in help_text and "tokens before EOS becomes valid" in help_text
    assert "--render-mode" not in help_text  # marked cli=False: the agents choose it
    # a config and keyword arguments build the same task; an unknown argument is named
    config = TaskConfig(task="reverse", task_options={"max_length": 6}, split="test")
    by_config, by_keywords = TextGenerationEnv(config), TextGenerationEnv(**config.arguments())
    assert by_config.task.target_texts == by_keywords.task.target_texts
    # Python's own words, which TorchRL's GymEnv reads to drop an argument it added and retry
    with pytest.raises(TypeError, match="unexpected keyword argument 'tsk'"):
        TextGenerationEnv(tsk="reverse")


def test_make_with_module_prefix_needs_no_import():
    code = "import gymnasium as gym; e = gym.make('textgen_env:TextGeneration-v0'); print(type(e.unwrapped).__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "TextGenerationEnv"


def test_same_seed_same_episodes_and_different_seed_differs():
    def prompts(seed):
        env = gym.make("TextGeneration-v0", task="copy")
        out = [env.reset(seed=seed)[1]["index"]]
        out += [env.reset()[1]["index"] for _ in range(20)]
        return out

    assert prompts(7) == prompts(7)
    assert prompts(7) != prompts(8)


def test_perfect_generation_scores_zero_and_ends_on_eos(copy_env):
    obs, info = copy_env.reset(seed=1)
    target = copy_env.unwrapped.target_ids()
    assert info["distance"] == len(target)
    rewards, info, done = play(copy_env, target + [EOS_ID])
    assert done and rewards == [0.0] * (len(target) + 1)
    assert info["distance"] == 0 and info["similarity"] == 1.0
    assert (
        copy_env.unwrapped.generated_text() == copy_env.unwrapped.target_text() == copy_env.unwrapped.tokenizer.decode(target)
    )


def test_wrong_token_is_charged_at_once_and_early_stop_for_what_is_missing(copy_env):
    copy_env.reset(options={"prompt": "abcd", "target": "abcd"})
    tok = copy_env.unwrapped.tokenizer.encode
    rewards, info, done = play(copy_env, tok("ax") + [EOS_ID])
    assert done
    assert rewards[0] == 0.0
    assert rewards[1] == pytest.approx(-1 / 4)  # 'x' can never be matched
    assert rewards[2] == pytest.approx(-2 / 4)  # 'cd' missing at the stop ('x' is a substitution for 'b')
    assert sum(rewards) == pytest.approx(-info["distance"] / 4)


def test_budget_end_is_a_termination_with_terminal_reward():
    env = gym.make("TextGeneration-v0", dataset=[("p", "abc")], max_new_tokens=5, split="all")
    env.reset(seed=0)
    a = env.unwrapped.tokenizer.encode("a")[0]
    rewards, info, done = play(env, [a] * 5)
    assert done and len(rewards) == 5
    assert info["similarity"] == pytest.approx(1 - 4 / 5)  # 'aaaaa' against 'abc': 4 edits, 5 tokens
    assert sum(rewards) == pytest.approx(-info["distance"] / 3)


def test_action_masks_and_invalid_actions_become_unk():
    env = TextGenerationEnv(task="copy", min_new_tokens=2)
    env.reset(seed=0)
    mask = env.action_masks()
    assert mask.shape == (env.action_space.n,) and mask.dtype == bool
    assert not mask[[PAD_ID, BOS_ID, UNK_ID, EOS_ID]].any() and mask[4:].all()
    _, _, done, _, info = env.step(EOS_ID)  # too early: written as UNK
    assert not done and info["invalid_action"] and env.generated_ids() == [UNK_ID]
    env.step(5)
    assert env.action_masks()[EOS_ID]
    _, _, done, _, _ = env.step(EOS_ID)
    assert done


def test_reset_options_pick_and_set_pairs():
    env = TextGenerationEnv(task="reverse")
    obs, info = env.reset(options={"index": 3})
    assert info["index"] == 3
    assert env.tokenizer.decode(obs["prompt"]) == env.get_text_data()[3]
    assert env.tokenizer.decode(env.target_ids()) == env.get_target_texts()[3]
    obs, info = env.reset(options={"prompt": "abc", "target": "cba"})
    assert env.tokenizer.decode(obs["prompt"]) == "abc" and info["distance"] == 3


def test_flat_observation_is_prompt_then_generated():
    env = TextGenerationEnv(task="copy", flat_observation=True)
    obs, _ = env.reset(seed=0)
    env.step(5)
    obs, *_ = env.step(6)
    p = env.task.max_prompt_tokens
    assert obs.shape == (p + env.task.max_new_tokens,)
    assert list(obs[p : p + 3]) == [5, 6, PAD_ID]


def test_render_ansi_marks_differences_and_human_prints(capsys):
    env = TextGenerationEnv(task="copy", render_mode="ansi")
    env.reset(options={"prompt": "abc", "target": "abc"})
    for ch in "axc":
        env.step(env.tokenizer.encode(ch)[0])
    text = env.render()
    assert "'abc'" in text and "'axc'" in text and "distance  : 1" in text and "[x->b]" in text
    human = TextGenerationEnv(task="copy", render_mode="human")
    human.reset(seed=0)
    assert human.render() is None and "target" in capsys.readouterr().out


def test_seed_api_returns_the_split_texts():
    train = TextGenerationEnv(task="continue", split="train")
    test = TextGenerationEnv(task="continue", split="test")
    assert len(train.get_text_data()) == len(train.get_target_texts()) > len(test.get_text_data()) > 0
    assert not set(zip(train.get_text_data(), train.get_target_texts())) & set(
        zip(test.get_text_data(), test.get_target_texts())
    )
    assert train.observation_space == test.observation_space


def test_word_tokenizer_env_counts_words():
    env = TextGenerationEnv(task="continue", tokenizer="word")
    _, info = env.reset(seed=0)
    assert info["distance"] == len(env.get_target_texts()[info["index"]].replace(".", " .").split())


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"task": "poetry"}, "task='poetry'"),
        ({"metric": "cosine"}, "metric='cosine'"),
        ({"reward": "shaped"}, "reward='shaped'"),
        ({"split": "validation"}, "split='validation'"),
        ({"render_mode": "video"}, "render_mode='video'"),
        ({"flat_observation": "false"}, "flat_observation='false'"),
        ({"task": "copy", "task_options": {"colour": 1}}, "task 'copy' does not take options ['colour']"),
        ({"task": "continue", "task_options": {"prompt_fraction": 1.5}}, "prompt_fraction=1.5"),
        (
            {"dataset": [("a", "b")], "task_options": {"min_length": 2}},
            "task_options ['min_length'] do not apply to a dataset",
        ),
        ({"tokenizer": "bpe"}, "tokenizer='bpe'"),
        ({"max_new_tokens": 0}, "max_new_tokens=0"),
        ({"min_new_tokens": 500}, "min_new_tokens=500"),
        ({"task": "copy", "max_new_tokens": 4}, "more than max_new_tokens=4"),
        ({"task": "copy", "max_prompt_tokens": 2}, "more than max_prompt_tokens=2"),
        ({"dataset": []}, "empty"),
        ({"task": "copy", "task_options": {"min_length": 0}}, "min_length=0"),
    ],
)
def test_bad_arguments_name_the_value(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("[", r"\[")):
        TextGenerationEnv(**kwargs)


def test_bad_actions_and_stepping_a_finished_episode(copy_env):
    copy_env.reset(seed=0)
    core = copy_env.unwrapped
    with pytest.raises(ValueError, match="outside the action space"):
        core.step(core.action_space.n)
    with pytest.raises(ValueError, match="outside the action space"):
        core.step(-1)
    with pytest.raises(ValueError, match="not an integer"):
        core.step(1.5)
    core.step(5)
    core.step(EOS_ID)
    with pytest.raises(RuntimeError, match="finished episode"):
        core.step(5)


def test_bad_reset_options(copy_env):
    with pytest.raises(ValueError, match="options\\['index'\\]=99999"):
        copy_env.reset(options={"index": 99999})
    with pytest.raises(ValueError, match="unknown reset options \\['colour'\\]"):
        copy_env.reset(options={"colour": 1})
    with pytest.raises(ValueError, match="more than max_new_tokens"):
        copy_env.reset(options={"prompt": "a", "target": "a" * 100})


def test_unsupported_render_mode_is_a_type_and_value_error():
    from textgen_env.task import UnsupportedRenderMode

    with pytest.raises(TypeError, match="render_mode='video'"):
        TextGenerationEnv(render_mode="video")
    assert issubclass(UnsupportedRenderMode, ValueError)


def test_rgb_array_frame_colours_the_alignment():
    from textgen_env.rendering import CELL

    env = TextGenerationEnv(task="copy", render_mode="rgb_array")
    env.reset(options={"prompt": "abc", "target": "abc"})
    for ch in "axc":
        env.step(env.tokenizer.encode(ch)[0])
    frame = env.render()
    width = max(env.task.max_prompt_tokens, env.task.max_new_tokens)
    assert frame.shape == (3 * CELL, width * CELL, 3) and frame.dtype == np.uint8
    middle = [tuple(frame[CELL, k * CELL]) for k in range(4)]  # a cell's corner: never ink
    assert middle == [(60, 180, 75), (220, 50, 47), (60, 180, 75), (45, 45, 45)]  # match, wrong, match, not written


def test_rgb_array_frames_show_the_characters():
    from textgen_env.font import HEIGHT, WIDTH, glyph
    from textgen_env.rendering import _GLYPH_AT, _INK, CELL

    env = TextGenerationEnv(dataset=[("Hi, 5?", "Hé!")], split="all", render_mode="rgb_array")
    env.reset(options={"index": 0})
    for ch in "Hi":
        env.step(env.tokenizer.encode(ch)[0])
    frame = env.render()

    def ink(row: int, column: int) -> np.ndarray:
        top, left = row * CELL + _GLYPH_AT[0], column * CELL + _GLYPH_AT[1]
        return np.all(frame[top : top + HEIGHT, left : left + WIDTH] == _INK, axis=-1)

    for column, ch in enumerate("Hi, 5?"):
        assert np.array_equal(ink(0, column), glyph(ch)), ch
    assert np.array_equal(ink(1, 0), glyph("H")) and np.array_equal(ink(1, 1), glyph("i"))
    assert np.array_equal(ink(2, 1), glyph("é")) and glyph("é").sum() == glyph("\u25a1").sum()  # outside ASCII: a box
    assert not ink(1, 2).any()  # not written yet

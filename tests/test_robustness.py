"""Odd input: rewards that never lie, tokenizers that are checked, files read exactly,
arguments checked where they enter, envs that pickle, and infos with fixed keys."""

import math
import pickle

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

from textgen_env import (
    EOS_ID,
    PAD_ID,
    UNK_ID,
    UNMATCHABLE,
    CharTokenizer,
    TextGenerationEnv,
    TextGenerationVectorEnv,
    load_pairs,
    load_tokenizer,
)
from textgen_env.core import numba_core

from conftest import play

BACKENDS = [
    "numpy",
    pytest.param(
        "numba", marks=pytest.mark.skipif(not numba_core.AVAILABLE, reason="numba is not installed (the 'fast' extra)")
    ),
]

# -- rewards never lie ----------------------------------------------------------------


@pytest.mark.parametrize("reward", ["dense", "sparse", "exact", "inverse"])
def test_an_unknown_target_token_is_never_matched_by_invalid_actions(reward):
    env = TextGenerationEnv(task="copy", reward=reward)
    with pytest.warns(UserWarning, match="2 of its tokens cannot be produced"):
        env.reset(options={"prompt": "ab", "target": "€€"})
    rewards, info, done = play(env, [PAD_ID, PAD_ID, EOS_ID])  # invalid, invalid (written as UNK), stop
    assert done and info["distance"] == 2 and info["similarity"] == 0.0
    expected_total = {"dense": -1.0, "sparse": -1.0, "exact": 0.0, "inverse": 1 / 3}[reward]
    assert sum(rewards) == pytest.approx(expected_total)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_vocabulary_that_misses_target_characters_warns_and_never_matches(tmp_path, backend):
    CharTokenizer.from_texts(["abc"]).save(tmp_path / "vocab.json")
    dataset = [("ab", "aXb"), ("ba", "bb")]
    with pytest.warns(UserWarning, match="1 target tokens cannot be produced by any action"):
        env = TextGenerationVectorEnv(
            2, dataset=dataset, split="all", tokenizer=str(tmp_path / "vocab.json"), backend=backend, min_new_tokens=0
        )
    assert env.task.unmatchable_target_tokens == 1 and env.task.target_ids[0][1] == UNMATCHABLE
    a, b = env.tokenizer.encode("ab")
    env.reset(options={"index": np.array([0, 1])})
    for actions in ([a, b], [UNK_ID, b], [b, EOS_ID]):  # UNK: an invalid action, written as UNK
        _, _, terminated, _, info = env.step(np.array(actions))
    assert terminated.all()
    assert info["distance"].tolist() == [1, 0]  # 'a' UNK 'b' against 'a' ? 'b': the unknown one is an error
    assert info["similarity"][0] == pytest.approx(2 / 3)


def test_a_custom_tokenizer_with_other_special_ids_is_refused():
    class NineIsEos:
        vocab_size, pad_id, bos_id, eos_id, unk_id = 12, 0, 1, 9, 3

        def encode(self, text):
            return [4 + ord(c) % 8 for c in text]

        def decode(self, ids):
            return "".join(chr(97 + i - 4) for i in ids)

    with pytest.raises(ValueError, match="tokenizer eos_id=9: .* eos_id must be 2"):
        TextGenerationEnv(dataset=[("a", "b")], tokenizer=NineIsEos())


@pytest.mark.parametrize("size, message", [(3, "vocab_size=3"), (0, "vocab_size=0"), ("30", "vocab_size='30'")])
def test_a_custom_tokenizer_vocab_size_is_checked(size, message):
    class Sized:
        vocab_size = size

        def encode(self, text):
            return [4]

        def decode(self, ids):
            return "x"

    with pytest.raises(ValueError, match=message):
        TextGenerationEnv(dataset=[("a", "b")], tokenizer=Sized())


@pytest.mark.parametrize("bad_id", [-1, 40, 2.5])
def test_every_encoded_id_is_checked_once_at_construction(bad_id):
    class Leaky:
        vocab_size = 40

        def encode(self, text):
            return [4, bad_id] if text == "bad" else [5]

        def decode(self, ids):
            return "x"

    with pytest.raises(
        ValueError, match=f"target 1: the tokenizer encoded 'bad' to id {bad_id!r}, outside its vocabulary \\[0, 40\\)"
    ):
        TextGenerationEnv(dataset=[("a", "ok"), ("b", "bad")], split="all", tokenizer=Leaky())


@pytest.mark.parametrize("value, shown", [(float("nan"), "nan"), ("3", "'3'"), (None, "None"), (-1, "-1")])
def test_a_callable_metric_returning_a_bad_value_is_named(value, shown):
    def my_distance(generated, target):
        return value

    env = TextGenerationEnv(task="copy", metric=my_distance)
    with pytest.raises(
        ValueError, match=f"metric 'my_distance' returned {shown} for generated=.*; a distance must be a finite number >= 0"
    ):
        env.reset(seed=0)
        env.step(5)


# -- data files are read exactly ----------------------------------------------------------


def test_txt_and_jsonl_split_lines_on_newlines_only_and_keep_whitespace(tmp_path):
    (tmp_path / "odd.txt").write_text("one\u2028two  three\x0cfour\r\nfive six\n", encoding="utf-8", newline="")
    pairs = load_pairs(tmp_path / "odd.txt").pairs
    assert len(pairs) == 2
    assert pairs[0].prompt + pairs[0].target == "one\u2028two  three\x0cfour"
    assert pairs[0].target == "three\x0cfour"  # words split on any whitespace; the whitespace itself is kept
    assert (pairs[1].prompt, pairs[1].target) == ("five ", "six")
    (tmp_path / "odd.jsonl").write_text('{"prompt": "a\u2028b", "target": "c\u0085d"}\n', encoding="utf-8")
    assert load_pairs(tmp_path / "odd.jsonl").pairs[0].target == "c\u0085d"


def test_csv_follows_the_csv_rules_and_tsv_keeps_quotes(tmp_path):
    (tmp_path / "d.csv").write_text('prompt,target\n"two\nlines","say ""hi"", then"\nplain,row\n', encoding="utf-8")
    pairs = load_pairs(tmp_path / "d.csv").pairs
    assert (pairs[0].prompt, pairs[0].target) == ("two\nlines", 'say "hi", then') and pairs[1].prompt == "plain"
    (tmp_path / "d.tsv").write_text('prompt\ttarget\n"quoted" word\tx\nunbalanced "quote\ty\nlast\tz\n', encoding="utf-8")
    pairs = load_pairs(tmp_path / "d.tsv").pairs
    assert [p.prompt for p in pairs] == ['"quoted" word', 'unbalanced "quote', "last"]
    (tmp_path / "bad.tsv").write_text("prompt\ttarget\na\tb\nc\td\te\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad.tsv:3: expected 2 tab-separated columns, got 3"):
        load_pairs(tmp_path / "bad.tsv")
    (tmp_path / "bad.csv").write_text('prompt,target\na,b\n"multi\nline",c,extra\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad.csv:3: expected 2 columns, got 3"):  # the line the record starts on
        load_pairs(tmp_path / "bad.csv")


@pytest.mark.parametrize(
    "name, content",
    [
        ("b.txt", "alpha beta\n"),
        ("b.jsonl", '{"prompt": "alpha ", "target": "beta"}\n'),
        ("b.csv", "prompt,target\nalpha ,beta\n"),
        ("b.tsv", "prompt\ttarget\nalpha \tbeta\n"),
    ],
)
def test_a_byte_order_mark_is_skipped(tmp_path, name, content):
    (tmp_path / name).write_bytes(b"\xef\xbb\xbf" + content.encode("utf-8"))
    pair = load_pairs(tmp_path / name).pairs[0]
    assert (pair.prompt, pair.target) == ("alpha ", "beta")


def test_duplicate_columns_and_bad_tokenizer_files_are_errors(tmp_path):
    (tmp_path / "dup.csv").write_text("prompt,target,prompt\na,b,c\n")
    with pytest.raises(ValueError, match=r"dup.csv:1: duplicate column names \['prompt'\]"):
        load_pairs(tmp_path / "dup.csv")
    (tmp_path / "nospecials.json").write_text('{"format_version": 1, "kind": "char", "tokens": ["a", "b"]}')
    with pytest.raises(ValueError, match=r"nospecials.json: a char vocabulary must start with the special tokens"):
        load_tokenizer(tmp_path / "nospecials.json")
    (tmp_path / "order.json").write_text(
        '{"format_version": 1, "kind": "char", "tokens": ["<bos>", "<pad>", "<eos>", "<unk>", "a"]}'
    )
    with pytest.raises(ValueError, match=r"order.json: a char vocabulary must start"):
        load_tokenizer(tmp_path / "order.json")
    with pytest.raises(ValueError, match=r"is a directory"):
        TextGenerationEnv(task="copy", tokenizer=str(tmp_path))


# -- every argument is checked where it enters ----------------------------------------------


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"render_indices": [0, 9]}, r"render_indices=\[0, 9\]: 9 is not an env index in \[0, 3\)"),
        ({"render_indices": ["a"]}, r"render_indices=\['a'\]: 'a' is not an env index"),
        ({"render_indices": 1}, r"render_indices=1: must be a list"),
        ({"max_episode_steps": True}, "max_episode_steps=True"),
        ({"max_episode_steps": 0}, "max_episode_steps=0"),
    ],
)
def test_vector_arguments_are_checked(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TextGenerationVectorEnv(3, task="copy", **kwargs)


@pytest.mark.parametrize(
    "make", [lambda: TextGenerationEnv(task="copy"), lambda: TextGenerationVectorEnv(3, task="copy")], ids=["single", "vector"]
)
@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"seed": 1.5}, "seed=1.5"),
        ({"seed": -1}, "seed=-1"),
        ({"options": 5}, "options=5: must be a dict"),
        ({"options": {"index": 1, "prompt": "a", "target": "a"}}, "give 'index', or 'prompt' with 'target', not both"),
        ({"options": {"prompt": "abc"}}, "options 'prompt' and 'target' must both be strings"),
    ],
)
def test_reset_arguments_are_checked(make, kwargs, message):
    with pytest.raises(ValueError, match=message):
        make().reset(**kwargs)


def test_two_dimensional_index_arrays_and_bool_actions_are_refused():
    env = TextGenerationVectorEnv(3, task="copy")
    with pytest.raises(
        ValueError, match=r"options\['index'\] has shape \(3, 1\); give one index, or one per env: shape \(3,\)"
    ):
        env.reset(options={"index": np.zeros((3, 1), dtype=int)})
    single = TextGenerationEnv(task="copy")
    single.reset(seed=0)
    for action in (True, np.bool_(False), np.array(True)):
        with pytest.raises(ValueError, match="is a bool"):
            single.step(action)


def test_hugging_face_tokenizer_of_a_missing_file_is_named():
    pytest.importorskip("tokenizers", reason="install the 'tokenizers' extra")
    from textgen_env import HuggingFaceTokenizer

    with pytest.raises(ValueError, match=r"HuggingFaceTokenizer\('x'\): no such tokenizer JSON file"):
        HuggingFaceTokenizer("x")


# -- every client: pickling and fixed info keys ----------------------------------------------


def _steps(env, actions):
    return [env.step(a) for a in actions]


@pytest.mark.parametrize("metric", ["levenshtein", "indel", "osa", "hamming", "jaro_winkler", "lcs", "damerau_levenshtein"])
def test_single_env_pickles_and_continues_identically(metric):
    env = TextGenerationEnv(task="reverse", metric=metric)
    env.reset(seed=3)
    env.step(5)
    clone = pickle.loads(pickle.dumps(env))
    actions = [6, 7, 8, 9, EOS_ID]
    a, b = _steps(env, actions), _steps(clone, actions)
    for x, y in zip(a, b):
        assert x[1:4] == y[1:4] and x[4] == y[4] and (x[0]["generated"] == y[0]["generated"]).all()
    assert env.reset()[1] == clone.reset()[1]  # the generator state travelled too


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("metric", ["levenshtein", "indel", "osa"])
def test_vector_env_pickles_and_continues_identically(backend, metric):
    if metric == "osa" and backend == "numba":
        pytest.skip("osa has no compiled kernel")
    env = TextGenerationVectorEnv(4, task="reverse", metric=metric, backend=backend)
    env.reset(seed=1)
    rng = np.random.default_rng(0)
    for _ in range(5):
        env.step(rng.integers(2, env.task.vocab_size, size=4))
    clone = pickle.loads(pickle.dumps(env))
    for _ in range(40):  # past several autoresets
        actions = rng.integers(2, env.task.vocab_size, size=4)
        for x, y in zip(env.step(actions), clone.step(actions)):
            if isinstance(x, dict):
                assert x.keys() == y.keys() and all(np.array_equal(x[k], y[k]) for k in x)
            else:
                np.testing.assert_array_equal(x, y)


def test_single_env_info_has_the_same_keys_and_types_on_every_reset_and_step():
    env = TextGenerationEnv(task="copy", min_new_tokens=2)
    seen = []
    _, info = env.reset(seed=0, options={"prompt": "ab", "target": "ab"})
    seen.append(info)
    a, b = env.tokenizer.encode("ab")
    for action in (EOS_ID, a, b, EOS_ID):  # an invalid action, then an episode end
        seen.append(env.step(action)[4])
    seen.append(env.reset()[1])
    for info in seen:
        assert {k: type(v) for k, v in info.items()} == {
            "distance": int,
            "index": int,
            "invalid_action": bool,
            "similarity": float,
        }
    assert seen[1]["invalid_action"] and seen[4]["similarity"] == pytest.approx(2 / 3)  # UNK a b against a b
    assert [i["similarity"] for i in seen[:4]] == [0.0] * 4 and all(math.isfinite(i["similarity"]) for i in seen)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP], ids=lambda m: m.value)
def test_vector_infos_have_every_key_for_every_env_on_every_step(backend, mode):
    env = gym.make_vec("TextGeneration-v0", num_envs=5, task="copy", autoreset_mode=mode, backend=backend)
    _, info = env.reset(seed=0)
    keys = {"distance", "index", "invalid_action", "similarity"}
    rng = np.random.default_rng(0)
    ended = 0
    for _ in range(60):
        _, _, terminated, _, info = env.step(rng.integers(0, env.single_action_space.n, size=5))
        ended += int(terminated.sum())
        assert keys <= set(info) and all(info[f"_{k}"].all() for k in keys)
        assert info["distance"].dtype == np.int64 and info["index"].dtype == np.int64
        assert info["invalid_action"].dtype == bool and info["similarity"].dtype == np.float64
        extra = set(info) - keys - {f"_{k}" for k in keys}
        assert extra == (
            set()
            if mode == AutoresetMode.NEXT_STEP or not terminated.any()
            else {"final_obs", "_final_obs", "final_info", "_final_info"}
        )
    assert ended > 5

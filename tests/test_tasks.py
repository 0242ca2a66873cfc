"""The built-in task suite: each generator's semantics, its options, and its deterministic split."""

import numpy as np
import pytest
from rapidfuzz.distance import OSA

from textgen_env import TASKS, TextGenerationEnv, TextTask, corpus_sentences, make_task
from textgen_env.builtin_tasks import KEYBOARD_NEIGHBOURS, add_typos


def test_the_ladder_holds_every_task_of_the_suite():
    assert list(TASKS) == [
        "copy",
        "reverse",
        "repeat",
        "duplicate",
        "sort",
        "addition",
        "spelling",
        "reverse_words",
        "reverse_text",
        "continue",
    ]
    for name, spec in TASKS.items():
        assert spec.summary  # each task's docstring says what it tests
        env = TextGenerationEnv(task=name)
        assert env.task.vocab_size > 4 and len(env.get_text_data()) > 10


@pytest.mark.parametrize(
    "name, rule",
    [
        ("copy", lambda p: p),
        ("reverse", lambda p: p[::-1]),
        ("repeat", lambda p: p + p),
        ("duplicate", lambda p: "".join(c * 2 for c in p)),
        ("sort", lambda p: "".join(sorted(p))),
    ],
)
def test_string_tasks_follow_their_rule_and_lengths(name, rule):
    data = make_task(name, num_examples=300, min_length=5, max_length=40, alphabet="xyz", seed=3)
    assert all(t == rule(p) for p, t in zip(data.prompts, data.targets))
    assert {len(p) for p in data.prompts} <= set(range(5, 41)) and len({len(p) for p in data.prompts}) > 20
    assert set("".join(data.prompts)) == set("xyz")
    if name in ("repeat", "duplicate"):
        assert all(len(t) == 2 * len(p) for p, t in zip(data.prompts, data.targets))
    if name == "sort":
        assert all(list(t) == sorted(t) and sorted(p) == sorted(t) for p, t in zip(data.prompts, data.targets))


def test_string_prompts_are_distinct_and_a_too_small_space_is_refused():
    data = make_task("copy", num_examples=12, min_length=1, max_length=3, alphabet="ab")
    assert len(set(data.prompts)) == len(data.prompts) == 12
    with pytest.raises(ValueError, match="num_examples=20: there are only 14 distinct strings of 1 to 3 letters"):
        make_task("copy", num_examples=20, min_length=1, max_length=3, alphabet="ab")
    small = make_task("reverse", num_examples=14, min_length=1, max_length=3, alphabet="ab")
    assert sorted(small.prompts) == sorted(
        {"a", "b", "aa", "ab", "ba", "bb"} | {x + y + z for x in "ab" for y in "ab" for z in "ab"}
    )


def test_lengths_reach_64_tokens_and_beyond():
    env = TextGenerationEnv(task="reverse", task_options={"min_length": 60, "max_length": 70, "num_examples": 50})
    assert env.task.max_new_tokens == 70 and max(env.task.target_lengths) >= 64


def test_addition_adds_with_distinct_pairs():
    data = make_task("addition", num_examples=2000, min_digits=1, max_digits=3, seed=1)
    assert len(set(data.prompts)) == 2000
    for prompt, target in zip(data.prompts, data.targets):
        a, b = prompt.split("+")
        assert int(a) + int(b) == int(target) and 1 <= len(a) <= 3 and 1 <= len(b) <= 3
    two_digit = make_task("addition", num_examples=100, min_digits=2, max_digits=2)
    assert all(len(x) == 2 for p in two_digit.prompts for x in p.split("+"))
    with pytest.raises(ValueError, match="num_examples=101: there are only 100 distinct pairs of 1- to 1-digit numbers"):
        make_task("addition", num_examples=101, max_digits=1)


def test_spelling_prompts_differ_from_the_clean_sentence_by_the_noise_only():
    sentences = corpus_sentences()
    data = make_task("spelling", noise=0.1, variants=3, seed=0)
    assert data.targets == [s for s in sentences for _ in range(3)]
    rng = np.random.default_rng(0)
    total_typos = total_characters = 0
    for prompt, target in zip(data.prompts, data.targets):
        noisy, typos = add_typos(target, rng, 0.1)  # the same draws the task made
        assert noisy == prompt and OSA.distance(prompt, target) <= typos
        total_typos += typos
        total_characters += len(target)
    assert 0.08 < total_typos / total_characters < 0.12
    assert make_task("spelling", noise=0.0, variants=1).prompts == sentences
    assert all(v and letter not in v for letter, v in KEYBOARD_NEIGHBOURS.items()) and len(KEYBOARD_NEIGHBOURS) == 26


def test_noisy_versions_of_a_sentence_stay_in_one_split():
    train, test = TextTask(task="spelling", split="train"), TextTask(task="spelling", split="test")
    assert len(train.dataset) + len(test.dataset) == 8 * len(corpus_sentences())
    assert not set(train.dataset.targets) & set(test.dataset.targets)
    assert len(set(test.dataset.targets)) == round(0.2 * len(corpus_sentences()))


def test_other_noise_keeps_the_same_sentences_held_out():
    """The spelling recipe fine-tunes on other noisy versions (noise seed, variants): the split is by sentence,
    so the held-out sentences stay the same and stay out of training, whatever the noise."""
    split = {name: TextTask(task="spelling", split=name) for name in ("train", "test")}
    other = {name: TextTask(task="spelling", split=name, task_options={"seed": 1, "variants": 32}) for name in split}
    for name in split:
        assert set(other[name].dataset.targets) == set(split[name].dataset.targets)
    assert not set(other["train"].dataset.targets) & set(split["test"].dataset.targets)
    assert set(other["train"].dataset.prompts) != set(split["train"].dataset.prompts)
    assert len(other["train"].dataset) == 4 * len(split["train"].dataset)


def test_reverse_words_uses_the_word_tokenizer():
    env = TextGenerationEnv(task="reverse_words", split="all")
    assert env.tokenizer.kind == "word"
    prompt, target = env.get_text_data()[0], env.get_target_texts()[0]
    assert target.split() == prompt.split()[::-1]
    assert env.task.target_ids[0] == env.tokenizer.encode(prompt)[::-1]
    short = make_task("reverse_words", max_length=6)
    assert all(len(p.split()) <= 6 for p in short.prompts) and len(short) < len(make_task("reverse_words"))


@pytest.mark.parametrize(
    "name, options, message",
    [
        (
            "copy",
            {"min_digits": 2},
            r"task 'copy' does not take options \['min_digits'\];"
            r" it takes \['alphabet', 'max_length', 'min_length', 'num_examples', 'seed'\]",
        ),
        ("addition", {"alphabet": "ab"}, r"task 'addition' does not take options \['alphabet'\]"),
        ("continue", {"seed": 1}, r"task 'continue' does not take options \['seed'\]"),
        ("sort", {"min_length": 5, "max_length": 3}, "min_length=5 > max_length=3"),
        ("repeat", {"alphabet": "aa"}, "alphabet='aa'"),
        ("addition", {"max_digits": 0}, "max_digits=0"),
        ("spelling", {"noise": 1.5}, "noise=1.5"),
        ("reverse_words", {"min_length": 40}, "no corpus sentence has that many words"),
        ("duplicate", {"num_examples": True}, "num_examples=True"),
    ],
)
def test_options_are_validated_by_name(name, options, message):
    with pytest.raises(ValueError, match=message):
        make_task(name, **options)


@pytest.mark.parametrize("name", list(TASKS))
def test_every_task_and_its_split_are_deterministic(name):
    a, b = TextTask(task=name, split="test"), TextTask(task=name, split="test")
    assert a.dataset.prompts == b.dataset.prompts and a.dataset.targets == b.dataset.targets
    train = TextTask(task=name, split="train")
    assert not set(train.dataset.pairs) & set(a.dataset.pairs)  # no pair in both splits
    if "seed" in TASKS[name].options:
        other = make_task(name, seed=1)
        assert other.prompts != make_task(name).prompts


def test_spelling_takes_your_own_sentences_and_keeps_each_ones_variants_in_one_split(tmp_path):
    lines = [f"Sentence number {k} of a file." for k in range(30)]
    (tmp_path / "mine.txt").write_text("\n".join(lines + lines[:3] + [""]) + "\n")  # repeats and a blank line
    data = make_task("spelling", source=str(tmp_path / "mine.txt"), variants=4, noise=0.2)
    assert data.targets == [line for line in lines for _ in range(4)]
    assert sum(p != t for p, t in zip(data.prompts, data.targets)) > len(data) / 2
    test = TextTask(task="spelling", split="test", task_options={"source": str(tmp_path / "mine.txt"), "variants": 4})
    train = TextTask(task="spelling", split="train", task_options={"source": str(tmp_path / "mine.txt"), "variants": 4})
    assert test.target_texts and not set(test.target_texts) & set(train.target_texts)
    (tmp_path / "pairs.jsonl").write_text('{"prompt": "x", "target": "Fix me."}\n')
    assert make_task("spelling", source=str(tmp_path / "pairs.jsonl"), variants=1, noise=0.0).pairs[0].prompt == "Fix me."


def test_reverse_text_reverses_sentences_of_the_corpus_or_of_a_file(tmp_path):
    corpus = make_task("reverse_text")
    assert [p.target for p in corpus.pairs] == [p.prompt[::-1] for p in corpus.pairs]
    assert [p.prompt for p in corpus.pairs] == list(dict.fromkeys(corpus_sentences()))
    short = make_task("reverse_text", max_length=40)
    assert short.pairs and all(len(p.prompt) <= 40 for p in short.pairs) and len(short) < len(corpus)
    (tmp_path / "lines.txt").write_text("Hello there.\n\nHello there.\nGood night!\n")
    assert [(p.prompt, p.target) for p in make_task("reverse_text", source=str(tmp_path / "lines.txt")).pairs] == [
        ("Hello there.", ".ereht olleH"),
        ("Good night!", "!thgin dooG"),
    ]
    (tmp_path / "pairs.jsonl").write_text('{"prompt": "q", "target": "abc"}\n')
    assert make_task("reverse_text", source=str(tmp_path / "pairs.jsonl")).pairs[0].target == "cba"
    with pytest.raises(ValueError, match="min_length=500, max_length=600: no text of the corpus"):
        make_task("reverse_text", min_length=500, max_length=600)


def test_a_long_max_length_builds_quickly_or_is_refused_by_its_size():
    """The count of possible strings stops at num_examples (an exact sum of 26**n up to 30,000 took 49 s),
    and a length whose strings would not fit in memory is refused before any is drawn."""
    pairs = make_task("copy", max_length=30_000, num_examples=20).pairs
    assert len(pairs) == 20 and max(len(p.prompt) for p in pairs) > 10_000
    with pytest.raises(ValueError, match=r"min_length=3, max_length=1000000000: the task's strings would take .* GiB"):
        make_task("copy", max_length=1_000_000_000)


def test_every_character_of_the_alphabet_is_honoured_control_characters_included():
    pairs = make_task("reverse", alphabet="a\x00\x01", min_length=3, max_length=4, num_examples=60).pairs
    assert all(3 <= len(p.prompt) <= 4 and p.target == p.prompt[::-1] for p in pairs)  # a NUL is not dropped
    assert {c for p in pairs for c in p.prompt} == {"a", "\x00", "\x01"}
    options = {"alphabet": "\x00b", "min_length": 2, "max_length": 2, "num_examples": 4}  # every string there is
    texts = [TextTask(task="copy", split=split, task_options=options).target_texts for split in ("train", "test")]
    assert sorted(texts[0] + texts[1]) == ["\x00\x00", "\x00b", "b\x00", "bb"]


def test_addition_takes_numbers_of_any_size_up_to_what_python_writes_as_text():
    for pair in make_task("addition", min_digits=12, max_digits=30, num_examples=50).pairs:
        a, b = pair.prompt.split("+")
        assert int(a) + int(b) == int(pair.target) and 12 <= len(a) <= 30
    with pytest.raises(ValueError, match="max_digits=5000: must be at most 4000"):
        make_task("addition", max_digits=5000)


def test_a_count_of_variants_beyond_memory_is_refused_before_any_is_made():
    with pytest.raises(ValueError, match=r"variants=1000000000 of 400 sentences: the noisy sentences would take"):
        make_task("spelling", variants=10**9)

import json

import numpy as np
import pytest

from textgen_env import (
    CharTokenizer,
    HuggingFaceTokenizer,
    TextDataset,
    TextGenerationEnv,
    WordTokenizer,
    load_pairs,
    load_tokenizer,
    make_task,
)
from textgen_env.builtin_tasks import corpus_sentences
from textgen_env.tokenizers import BOS_ID, EOS_ID, PAD_ID, UNK_ID, Tokenizer


def test_char_tokenizer_round_trip_and_specials():
    tok = CharTokenizer.from_texts(["hello world"])
    ids = tok.encode("hello")
    assert min(ids) >= 4 and tok.decode(ids) == "hello"
    assert tok.decode(ids + [EOS_ID] + ids) == "hello"  # EOS ends the text
    assert tok.decode([PAD_ID] + ids) == "hello"
    assert tok.encode("z") == [UNK_ID]
    assert isinstance(tok, Tokenizer)


def test_word_tokenizer_splits_punctuation():
    tok = WordTokenizer.from_texts(["The cat sleeps."])
    assert len(tok.encode("The cat sleeps.")) == 4
    assert tok.decode(tok.encode("The cat sleeps.")) == "The cat sleeps ."


@pytest.mark.parametrize("cls", [CharTokenizer, WordTokenizer])
def test_decode_padded_equals_decode_of_each_row(cls):
    tok = cls.from_texts(["the cat sleeps . a dog runs"])
    rng = np.random.default_rng(0)
    ids = rng.integers(4, tok.vocab_size, size=(8, 9))
    ids[np.arange(9) >= np.array([0, 1, 3, 9, 5, 2, 6, 7])[:, None]] = (
        PAD_ID  # padded past each length, as the vector env keeps rows
    )
    ids[3, 4] = ids[4, 0] = UNK_ID  # written for invalid actions: decodes as "<unk>"
    assert "<unk>" in tok.decode_padded(ids)[3]
    specials = ids.copy()
    specials[5, 0], specials[6, 2], specials[7, 1] = EOS_ID, PAD_ID, BOS_ID  # EOS ends a text; PAD and BOS inside are skipped
    out_of_range = ids.copy()
    out_of_range[2, 1] = tok.vocab_size + 7
    negative = ids.copy()
    negative[1, 0] = -1
    for matrix in (ids, specials, out_of_range, negative, ids[:0], ids.astype(np.int32), ids.astype(np.uint64)):
        assert tok.decode_padded(matrix) == [tok.decode(row) for row in matrix]
    assert tok.decode(list(ids[3])) == tok.decode(ids[3].tolist())  # numpy ints decode as ints do


def test_decode_padded_with_multi_character_tokens():
    tok = CharTokenizer(["<pad>", "<bos>", "<eos>", "<unk>", "ab", "c"])  # a loaded vocabulary need not hold single characters
    assert tok.decode_padded(np.array([[4, 5, 4], [5, PAD_ID, PAD_ID]])) == ["abcab", "c"]


@pytest.mark.parametrize("cls", [CharTokenizer, WordTokenizer])
def test_tokenizer_save_load(tmp_path, cls):
    tok = cls.from_texts(corpus_sentences())
    tok.save(tmp_path / "vocab.json")
    assert load_tokenizer(tmp_path / "vocab.json") == tok
    env = TextGenerationEnv(tokenizer=str(tmp_path / "vocab.json"))
    assert env.tokenizer == tok


def test_load_tokenizer_rejects_bad_files(tmp_path):
    (tmp_path / "bad.json").write_text("{\n  nope")
    with pytest.raises(ValueError, match="bad.json: line 2"):
        load_tokenizer(tmp_path / "bad.json")
    (tmp_path / "kind.json").write_text(json.dumps({"format_version": 1, "kind": "bpe", "tokens": []}))
    with pytest.raises(ValueError, match="kind 'bpe'"):
        load_tokenizer(tmp_path / "kind.json")


def test_hugging_face_adapter_with_a_locally_trained_tokenizer():
    tokenizers = pytest.importorskip("tokenizers", reason="install the 'tokenizers' extra")
    hf = tokenizers.Tokenizer(tokenizers.models.WordLevel(unk_token="<unk>"))
    hf.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    trainer = tokenizers.trainers.WordLevelTrainer(special_tokens=["<pad>", "<bos>", "<eos>", "<unk>"])
    hf.train_from_iterator(corpus_sentences(), trainer)
    tok = HuggingFaceTokenizer(hf)
    assert tok.decode(tok.encode("the old cat")) == "the old cat"
    env = TextGenerationEnv(tokenizer=tok)
    obs, info = env.reset(seed=0)
    assert env.action_space.n == hf.get_vocab_size() and info["distance"] > 0


def test_builtin_tasks_are_deterministic_and_well_formed():
    copy, reverse = make_task("copy"), make_task("reverse")
    assert copy.prompts == make_task("copy").prompts
    assert all(p == t for p, t in zip(copy.prompts, copy.targets))
    assert all(t == p[::-1] for p, t in zip(reverse.prompts, reverse.targets))
    assert all(3 <= len(p) <= 8 for p in copy.prompts)
    short = make_task("copy", num_examples=4, min_length=2, max_length=2, alphabet="xy", seed=5)
    assert len(short) == 4 and set("".join(short.prompts)) <= {"x", "y"}
    sentences = corpus_sentences()
    assert len(sentences) >= 300 and len(set(sentences)) == len(sentences)
    cont = make_task("continue")
    assert all((p + t) in sentences for p, t in zip(cont.prompts, cont.targets))
    assert make_task("continue", prompt_fraction=0.8).prompts != cont.prompts


def test_split_is_deterministic_disjoint_and_complete():
    data = make_task("copy", num_examples=50)
    train, test = data.split("train"), data.split("test")
    assert [p.prompt for p in data.split("test").pairs] == [p.prompt for p in test.pairs]
    assert len(train) + len(test) == 50 and len(test) == 10
    assert not {id(p) for p in train.pairs} & {id(p) for p in test.pairs}


def test_user_files(tmp_path):
    (tmp_path / "d.txt").write_text("the cat sat on the mat\nthe dog ran away fast\n")
    (tmp_path / "d.jsonl").write_text('{"prompt": "ab", "target": "ba"}\n\n{"prompt": "cd", "target": "dc"}\n')
    (tmp_path / "d.csv").write_text('prompt,target\nab,ba\n"c,d",dc\n')
    (tmp_path / "d.tsv").write_text("target\tprompt\nba\tab\n")
    assert load_pairs(tmp_path / "d.txt")[0].prompt == "the cat sat "
    assert load_pairs(tmp_path / "d.txt")[0].target == "on the mat"
    assert [p.target for p in load_pairs(tmp_path / "d.jsonl").pairs] == ["ba", "dc"]
    assert load_pairs(tmp_path / "d.csv")[1].prompt == "c,d"
    assert load_pairs(tmp_path / "d.tsv")[0].prompt == "ab"
    env = TextGenerationEnv(dataset=str(tmp_path / "d.jsonl"), split="all")
    assert env.get_target_texts() == ["ba", "dc"]


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("bad.jsonl", '{"prompt": "a", "target": "b"}\n{"prompt": "a"\n', r"bad.jsonl:2: not valid JSON"),
        ("fields.jsonl", '{"prompt": "a", "target": 3}\n', r"fields.jsonl:1: expected string fields"),
        ("cols.csv", "prompt,target\na,b\na,b,c\n", r"cols.csv:3: expected 2 columns"),
        ("head.csv", "question,answer\na,b\n", r"head.csv:1: header must name"),
        ("short.txt", "solo\nalone\n", "short.txt: no line has two words or more"),
        ("empty.txt", "\n\n", r"empty.txt: the dataset file holds no"),
        ("data.xml", "<a/>", r"unsupported file type '.xml'"),
    ],
)
def test_malformed_files_name_file_and_line(tmp_path, name, content, message):
    (tmp_path / name).write_text(content)
    with pytest.raises(ValueError, match=message):
        load_pairs(tmp_path / name)


def test_unreadable_and_missing_files(tmp_path):
    with pytest.raises(ValueError, match="cannot read dataset file"):
        load_pairs(tmp_path / "missing.jsonl")
    (tmp_path / "latin.txt").write_bytes(b"a fine line\ncaf\xe9 au lait\n")
    with pytest.raises(ValueError, match=r"latin.txt:2: not valid UTF-8 \(byte 0xe9 at column 4\)"):
        load_pairs(tmp_path / "latin.txt")
    with pytest.raises(ValueError, match="item 1 is"):
        TextGenerationEnv(dataset=[("a", "b"), ("only one",)])


def test_groups_keep_pairs_together_in_a_split():
    from textgen_env.datasets import TextDataset

    pairs = [(f"p{i}", f"t{i // 3}") for i in range(30)]
    data = TextDataset(pairs, groups=[i // 3 for i in range(30)])
    train, test = data.split("train"), data.split("test")
    assert len(train) + len(test) == 30 and len(test) == 6  # 2 of the 10 groups
    assert not {p.target for p in train.pairs} & {p.target for p in test.pairs}
    assert [p.prompt for p in data.split("test").pairs] == [p.prompt for p in test.pairs]
    with pytest.raises(ValueError, match="3 groups for 30 pairs"):
        TextDataset(pairs, groups=[0, 1, 2])


def test_one_word_txt_lines_are_skipped_with_one_warning(tmp_path):
    path = tmp_path / "licence.txt"
    path.write_text("MIT\nPermission is hereby granted\nLicense\n\nfree of charge to any person\n")
    with pytest.warns(UserWarning, match=r"licence.txt: skipped 2 lines of one word \(lines 1, 3\)"):
        dataset = load_pairs(path)
    assert [p.prompt + p.target for p in dataset.pairs] == ["Permission is hereby granted", "free of charge to any person"]


def test_a_lone_carriage_return_stays_inside_its_csv_field(tmp_path):
    path = tmp_path / "cr.csv"
    path.write_bytes(b'prompt,target\r\nab\rc,xy\n"q,1","two\r\nlines"\r\n')
    assert [(p.prompt, p.target) for p in load_pairs(path).pairs] == [("ab\rc", "xy"), ("q,1", "two\r\nlines")]


def test_identical_pairs_never_straddle_the_split(tmp_path):
    pairs = [(f"p{i}", f"t{i}") for i in range(20)] * 3  # every pair three times
    path = tmp_path / "repeated.jsonl"
    path.write_text("".join(json.dumps({"prompt": p, "target": t}) + "\n" for p, t in pairs))
    with pytest.warns(UserWarning, match="40 of its 60 pairs repeat an earlier one"):
        dataset = load_pairs(path)
    assert dataset.duplicates == 40
    train, test = set(dataset.split("train").pairs), set(dataset.split("test").pairs)
    assert train and test and not train & test and len(dataset.split("test")) % 3 == 0
    unique = TextDataset(pairs[:20])  # without repeats, the split is what it was by position
    assert unique.split_indices("test") == TextDataset(pairs[:20], groups=list(range(20))).split_indices("test")

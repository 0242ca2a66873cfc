"""Hugging Face tokenizers whose special tokens have other names and ids, mapped into the env's ids."""

import json

import numpy as np
import pytest

from textgen_env import (
    BOS_ID,
    EOS_ID,
    PAD_ID,
    UNK_ID,
    CharTokenizer,
    HuggingFaceTokenizer,
    TextGenerationEnv,
    TextGenerationVectorEnv,
    load_tokenizer,
    tokenizer_from_dict,
)
from textgen_env.builtin_tasks import corpus_sentences

tokenizers = pytest.importorskip("tokenizers", reason="install the 'tokenizers' extra")

TEXTS = corpus_sentences()[:200]


def bert_like():
    """WordPiece with [PAD]=0, [UNK]=1, [CLS]=2, [SEP]=3, [MASK]=4: the old adapter read [CLS] as EOS."""
    hf = tokenizers.Tokenizer(tokenizers.models.WordPiece(unk_token="[UNK]"))
    hf.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    hf.decoder = tokenizers.decoders.WordPiece()
    hf.train_from_iterator(
        TEXTS,
        tokenizers.trainers.WordPieceTrainer(vocab_size=300, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]),
    )
    return hf


def gpt2_like():
    """Byte-level BPE whose only special token, <|endoftext|>, is id 0."""
    hf = tokenizers.Tokenizer(tokenizers.models.BPE())
    hf.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    hf.decoder = tokenizers.decoders.ByteLevel()
    trainer = tokenizers.trainers.BpeTrainer(
        vocab_size=400, special_tokens=["<|endoftext|>"], initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet()
    )
    hf.train_from_iterator(TEXTS, trainer)
    return hf


def word_level_with_eos_at_7():
    """A WordLevel vocabulary whose <eos> is id 7, after ordinary words."""
    words = ["the", "cat", "sat", "on", "mat", "a", "dog", "<eos>", "ran", "<pad>", "<unk>", "<bos>", "far"]
    hf = tokenizers.Tokenizer(tokenizers.models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    hf.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    return hf


@pytest.mark.parametrize(
    "make, roles",
    [
        (bert_like, {"pad": "[PAD]", "bos": "[CLS]", "eos": "[SEP]", "unk": "[UNK]"}),
        (gpt2_like, {"eos": "<|endoftext|>"}),
        (word_level_with_eos_at_7, {"pad": "<pad>", "bos": "<bos>", "eos": "<eos>", "unk": "<unk>"}),
    ],
    ids=["wordpiece", "bpe", "wordlevel"],
)
def test_special_tokens_are_found_by_name_and_mapped_to_ids_0_to_3(make, roles):
    hf = make()
    tok = HuggingFaceTokenizer(hf)
    assert tok.special_tokens == roles
    role_ids = {"pad": PAD_ID, "bos": BOS_ID, "eos": EOS_ID, "unk": UNK_ID}
    for role, token in roles.items():
        assert tok.from_hf[hf.token_to_id(token)] == role_ids[role] and tok.to_hf[role_ids[role]] == hf.token_to_id(token)
    for text in TEXTS[:50] + ["the cat sat on the mat", "zebra quartz"]:
        ids = tok.encode(text)
        assert all(0 <= i < tok.vocab_size for i in ids) and EOS_ID not in ids and PAD_ID not in ids
        assert tok.decode(ids) == hf.decode(
            hf.encode(text, add_special_tokens=False).ids, skip_special_tokens=False
        )  # round-trips


def test_other_special_tokens_are_not_actions():
    hf = bert_like()
    tok = HuggingFaceTokenizer(hf)
    assert tok.vocab_size == hf.get_vocab_size() - 1  # [MASK] is left out; the four roles keep ids 0-3
    assert tok.encode("[MASK]") == [UNK_ID]


@pytest.mark.parametrize("make", [bert_like, gpt2_like, word_level_with_eos_at_7], ids=["wordpiece", "bpe", "wordlevel"])
def test_episodes_end_only_on_the_real_eos(make):
    hf = make()
    tok = HuggingFaceTokenizer(hf)
    dataset = [("the cat", "the cat sat on the mat"), ("a dog", "a dog ran far")]
    env = TextGenerationEnv(dataset=dataset, split="all", tokenizer=tok, reward="sparse", max_new_tokens=20)
    env.reset(options={"index": 0})
    ordinary = tok.encode("the cat sat on the mat")
    for token in ordinary[:-1]:  # every ordinary token, the one at the tokenizer's own EOS id included, writes
        _, _, done, _, info = env.step(token)
        assert not done and not info["invalid_action"]
    assert env.action_masks()[EOS_ID] and not env.action_masks()[[PAD_ID, BOS_ID, UNK_ID]].any()
    _, reward, done, _, info = env.step(ordinary[-1])
    _, reward, done, _, info = env.step(EOS_ID)
    assert done and info["distance"] == 0 and reward == 0.0 and env.generated_text() == env.target_text()


def test_the_old_failure_an_ordinary_word_at_id_2_no_longer_ends_the_episode():
    hf = word_level_with_eos_at_7()
    assert hf.id_to_token(2) == "sat" and hf.id_to_token(7) == "<eos>"
    tok = HuggingFaceTokenizer(hf)
    sat = tok.encode("sat")[0]
    env = TextGenerationEnv(dataset=[("x", "the cat sat")], split="all", tokenizer=tok)
    env.reset(seed=0)
    for word in ("the", "cat", "sat"):
        _, _, done, _, info = env.step(tok.encode(word)[0])
    assert sat != EOS_ID and done and info["distance"] == 0  # ended at the budget, all three written


def test_saved_and_loaded_as_a_file_a_dict_or_a_pickle(tmp_path):
    import pickle

    hf = bert_like()
    hf.save(str(tmp_path / "tokenizer.json"))
    from_file = load_tokenizer(tmp_path / "tokenizer.json")
    assert isinstance(from_file, HuggingFaceTokenizer) and from_file == HuggingFaceTokenizer(hf)
    assert tokenizer_from_dict(json.loads(json.dumps(from_file.to_dict()))) == from_file
    assert pickle.loads(pickle.dumps(from_file)) == from_file
    env = TextGenerationVectorEnv(
        2, dataset=[("the cat", "sat on the mat")] * 3, split="all", tokenizer=str(tmp_path / "tokenizer.json")
    )
    obs, _ = env.reset(seed=0)
    assert env.task.vocab_size == from_file.vocab_size and (obs["prompt"][:, :2] >= 4).all()
    env.step(np.array(from_file.encode("sat")[:1] * 2))


def test_roles_can_be_named_and_bad_names_are_refused():
    hf = word_level_with_eos_at_7()
    tok = HuggingFaceTokenizer(hf, eos_token="far", bos_token="")
    assert tok.special_tokens["eos"] == "far" and "bos" not in tok.special_tokens
    assert tok.encode("<eos>") != [EOS_ID]  # now an ordinary word
    with pytest.raises(ValueError, match="eos_token='nope' is not in the Hugging Face tokenizer's vocabulary"):
        HuggingFaceTokenizer(hf, eos_token="nope")


@pytest.mark.parametrize("bos, eos", [("[BOS]", "[EOS]"), ("<s>", "</s>")])
def test_bos_and_eos_under_their_other_common_names_are_recognised(bos, eos):
    words = ["<pad>", bos, eos, "<unk>", "hello", "world"]
    hf = tokenizers.Tokenizer(tokenizers.models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    hf.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    hf.add_special_tokens([bos, eos])  # as real tokenizers register them: matched whole, before pre-tokenizing
    tok = HuggingFaceTokenizer(hf)
    assert tok.special_tokens == {"pad": "<pad>", "bos": bos, "eos": eos, "unk": "<unk>"}
    assert tok.encode(f"hello {eos} world") == [4, EOS_ID, 5]


def test_a_tokenizer_without_an_eos_says_so():
    words = ["<pad>", "<unk>", "hello", "world"]
    hf = tokenizers.Tokenizer(tokenizers.models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    with pytest.warns(UserWarning, match="no token recognised as the end of a text .*eos_token="):
        HuggingFaceTokenizer(hf)


def test_ids_with_gaps_encode_and_decode():
    vocab = {"<pad>": 0, "<eos>": 1, "<unk>": 2, "hello": 5, "world": 9, "again": 40}  # ids 3-4, 6-8, 10-39 unused
    hf = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="<unk>"))
    hf.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    tok = HuggingFaceTokenizer(hf)
    ids = tok.encode("hello world again")
    assert ids == [4, 5, 6] and tok.vocab_size == 7
    assert tok.decode(ids) == hf.decode(hf.encode("hello world again").ids)


def test_a_vocabulary_with_a_lone_surrogate_saves_and_loads(tmp_path):
    tok = CharTokenizer.from_texts(["ab\ud800c"])
    path = tmp_path / "vocab.json"
    tok.save(path)
    assert load_tokenizer(str(path)) == tok and [p.name for p in tmp_path.iterdir()] == ["vocab.json"]

"""Tokenizers: text <-> token ids, with the special tokens every env relies on.

Ids 0-3 are reserved: PAD=0 (padding, never generated), BOS=1 (the decoder's
start token), EOS=2 (ends an episode), UNK=3 (anything outside the vocabulary).
Ordinary tokens start at 4. Any object that follows :class:`Tokenizer` can be
plugged into the env.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Sequence
from operator import itemgetter
from typing import Protocol, runtime_checkable

import numpy as np

PAD_ID, BOS_ID, EOS_ID, UNK_ID = 0, 1, 2, 3
SPECIAL_TOKENS = ("<pad>", "<bos>", "<eos>", "<unk>")
FORMAT_VERSION = 1


@runtime_checkable
class Tokenizer(Protocol):
    """What the env needs from a tokenizer (PAD must be id 0)."""

    pad_id: int
    bos_id: int
    eos_id: int
    unk_id: int

    @property
    def vocab_size(self) -> int: ...

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: Iterable[int]) -> str: ...


class _VocabularyTokenizer:
    """Shared base of the char and word tokenizers: a list of token strings."""

    kind = ""
    pad_id, bos_id, eos_id, unk_id = PAD_ID, BOS_ID, EOS_ID, UNK_ID

    def __init__(self, tokens: Sequence[str]):
        tokens = list(tokens)
        if tuple(tokens[: len(SPECIAL_TOKENS)]) != SPECIAL_TOKENS:
            tokens = list(SPECIAL_TOKENS) + [t for t in tokens if t not in SPECIAL_TOKENS]
        if len(set(tokens)) != len(tokens):
            raise ValueError("tokenizer vocabulary has duplicate tokens")
        self.tokens = tokens
        self.token_to_id = {token: i for i, token in enumerate(tokens)}
        self._characters = None  # CharTokenizer.decode_padded's table

    @property
    def vocab_size(self) -> int:
        return len(self.tokens)

    @classmethod
    def from_texts(cls, texts: Iterable[str]):
        """Build a vocabulary from every token in `texts`, in sorted order."""
        pieces = set()
        for text in texts:
            pieces.update(cls.split(text))
        return cls(sorted(pieces))

    @staticmethod
    def split(text: str) -> list[str]:
        raise NotImplementedError

    @staticmethod
    def join(pieces: list[str]) -> str:
        raise NotImplementedError

    def encode(self, text: str) -> list[int]:
        return [self.token_to_id.get(piece, UNK_ID) for piece in self.split(text)]

    def decode(self, ids: Iterable[int]) -> str:
        """The text of `ids` up to the first EOS, skipping PAD and BOS."""
        ids = ids.tolist() if hasattr(ids, "tolist") else list(ids)
        if EOS_ID in ids:
            ids = ids[: ids.index(EOS_ID)]
        tokens, size = self.tokens, len(self.tokens)
        if not ids:
            return ""
        if min(ids) <= BOS_ID or max(ids) >= size:
            return self.join([tokens[i] if i < size else "<unk>" for i in ids if i > BOS_ID])
        # The common case, in-vocabulary ids only: one C-level lookup (envs decode at every episode end).
        pieces = itemgetter(*ids)(tokens)
        return self.join(pieces if len(ids) > 1 else (pieces,))

    def decode_padded(self, ids: np.ndarray) -> list[str]:
        """``decode`` of each row of a PAD-padded id matrix: the vector env decodes every finished episode at once."""
        return [self.decode(row) for row in ids.tolist()]

    def to_dict(self) -> dict:
        return {"format_version": FORMAT_VERSION, "kind": self.kind, "tokens": self.tokens}

    def save(self, path: str | os.PathLike) -> None:
        """Write the vocabulary as JSON (atomically: temp file, then rename)."""
        tmp = f"{path}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(self.to_dict(), f, ensure_ascii=False)
        os.replace(tmp, path)

    def __eq__(self, other) -> bool:
        return type(self) is type(other) and self.tokens == other.tokens

    def __repr__(self) -> str:
        return f"{type(self).__name__}(vocab_size={self.vocab_size})"


class CharTokenizer(_VocabularyTokenizer):
    """One token per character; decoding is exact for in-vocabulary text."""

    kind = "char"

    @staticmethod
    def split(text: str) -> list[str]:
        return list(text)

    @staticmethod
    def join(pieces: list[str]) -> str:
        return "".join(pieces)

    def decode_padded(self, ids: np.ndarray) -> list[str]:
        """As the base class's, with numpy doing the joining: each row of 1-character tokens
        viewed as one fixed-width string (PAD is NUL, and trailing NULs drop off)."""
        if self._characters is None:
            self._characters = self._character_table()
        table, unk_char, eos_char = self._characters
        if table is None or ids.size == 0 or (ids.dtype.kind != "u" and ids.min() < 0):  # unsigned ids need no check
            return super().decode_padded(ids)
        try:
            texts = table[ids].view(f"<U{ids.shape[1]}").ravel().tolist()
        except IndexError:  # an id past the vocabulary
            return super().decode_padded(ids)
        unk = SPECIAL_TOKENS[UNK_ID]
        for k, text in enumerate(texts):
            if "\0" in text or eos_char in text:  # PAD or BOS inside a row, or an EOS: decode()'s rules
                texts[k] = self.decode(ids[k])
            elif unk_char in text:
                texts[k] = text.replace(unk_char, unk)
        return texts

    def _character_table(self) -> tuple[np.ndarray | None, str, str]:
        """Each id's text as one character, if every token is one: PAD and BOS are NUL, EOS and UNK
        characters absent from the vocabulary (then handled apart). With those two characters."""
        ordinary = self.tokens[len(SPECIAL_TOKENS) :]
        if any(len(token) != 1 or token == "\0" for token in ordinary):
            return None, "", ""
        free = (chr(c) for c in range(0xE000, 0x110000) if chr(c) not in self.token_to_id)  # private use first
        unk_char, eos_char = next(free), next(free)
        return np.array(["", "", eos_char, unk_char, *ordinary], dtype="<U1"), unk_char, eos_char


_WORD_PATTERN = re.compile(r"\w+|[^\w\s]")


class WordTokenizer(_VocabularyTokenizer):
    """One token per word or punctuation mark; decoding joins them with single spaces."""

    kind = "word"

    @staticmethod
    def split(text: str) -> list[str]:
        return _WORD_PATTERN.findall(text)

    @staticmethod
    def join(pieces: list[str]) -> str:
        return " ".join(pieces)


TOKENIZER_KINDS = {"char": CharTokenizer, "word": WordTokenizer}


def tokenizer_from_dict(data: dict) -> _VocabularyTokenizer:
    """Rebuild a char/word tokenizer from :meth:`to_dict` output, validating it."""
    if not isinstance(data, dict) or data.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"not a textgen-env tokenizer (format_version {FORMAT_VERSION} expected): {str(data)[:80]!r}")
    kind = data.get("kind")
    if kind not in TOKENIZER_KINDS:
        raise ValueError(f"unknown tokenizer kind {kind!r}; allowed: {sorted(TOKENIZER_KINDS)}")
    tokens = data.get("tokens")
    if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
        raise ValueError("tokenizer 'tokens' must be a list of strings")
    return TOKENIZER_KINDS[kind](tokens)


def load_tokenizer(path: str | os.PathLike) -> _VocabularyTokenizer:
    """Load a tokenizer saved with :meth:`save`."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: line {e.lineno}: not valid JSON ({e.msg})") from None
    try:
        return tokenizer_from_dict(data)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None


class HuggingFaceTokenizer:
    """Adapter for a `tokenizers.Tokenizer` (the optional `tokenizers` extra).

    The wrapped tokenizer must hold the tokens "<pad>", "<bos>", "<eos>" and
    "<unk>", with "<pad>" at id 0 (pass them as `special_tokens` when training it,
    in that order).
    """

    def __init__(self, hf_tokenizer):
        self.hf = hf_tokenizer
        ids = [hf_tokenizer.token_to_id(t) for t in SPECIAL_TOKENS]
        missing = [t for t, i in zip(SPECIAL_TOKENS, ids) if i is None]
        if missing:
            raise ValueError(f"Hugging Face tokenizer lacks special tokens {missing}; it needs all of {list(SPECIAL_TOKENS)}")
        if ids[0] != PAD_ID:
            raise ValueError(f"Hugging Face tokenizer has '<pad>' at id {ids[0]}; it must be id 0")
        self.pad_id, self.bos_id, self.eos_id, self.unk_id = ids

    @property
    def vocab_size(self) -> int:
        return self.hf.get_vocab_size()

    def encode(self, text: str) -> list[int]:
        return list(self.hf.encode(text, add_special_tokens=False).ids)

    def decode(self, ids: Iterable[int]) -> str:
        kept = []
        for i in ids:
            if int(i) == self.eos_id:
                break
            kept.append(int(i))
        return self.hf.decode(kept, skip_special_tokens=True)


def build_tokenizer(tokenizer, texts: Iterable[str]) -> Tokenizer:
    """Resolve the env's `tokenizer` argument: "char", "word", a saved JSON path, or an object."""
    if isinstance(tokenizer, str) and tokenizer in TOKENIZER_KINDS:
        return TOKENIZER_KINDS[tokenizer].from_texts(texts)
    if isinstance(tokenizer, (str, os.PathLike)):
        if not os.path.exists(tokenizer):
            raise ValueError(f"tokenizer={tokenizer!r}: allowed are 'char', 'word', a saved tokenizer JSON file, or a Tokenizer object")
        return load_tokenizer(tokenizer)
    if isinstance(tokenizer, Tokenizer):
        if tokenizer.pad_id != PAD_ID:
            raise ValueError(f"tokenizer pad_id is {tokenizer.pad_id}; it must be {PAD_ID}")
        return tokenizer
    raise TypeError(f"tokenizer={tokenizer!r}: allowed are 'char', 'word', a saved tokenizer JSON file, or a Tokenizer object")

"""Tokenizers: text <-> token ids, with the special tokens every env relies on.

Ids 0-3 are reserved: PAD=0 (padding, never generated), BOS=1 (the decoder's
start token), EOS=2 (ends an episode), UNK=3 (anything outside the vocabulary).
Ordinary tokens start at 4.

- :class:`CharTokenizer` and :class:`WordTokenizer` hold a list of token strings,
  built from a dataset or loaded from a saved JSON file.
- :class:`HuggingFaceTokenizer` wraps any ``tokenizers.Tokenizer`` (BPE,
  WordPiece, WordLevel, ...) and maps its ids into ours, so that its own padding,
  start, end and unknown tokens (``[PAD]``, ``[CLS]``, ``[SEP]``, ``<|endoftext|>``,
  at whatever ids it keeps them) become ids 0-3.
- Any other object with ``encode``, ``decode`` and ``vocab_size`` works too, if its
  ids follow the layout above; :func:`build_tokenizer` checks that.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from collections.abc import Iterable, Sequence
from operator import itemgetter
from typing import Protocol, runtime_checkable

import numpy as np

from textgen_env.files import write_text_atomically

PAD_ID, BOS_ID, EOS_ID, UNK_ID = 0, 1, 2, 3
SPECIAL_TOKENS = ("<pad>", "<bos>", "<eos>", "<unk>")
FIRST_ORDINARY_ID = len(SPECIAL_TOKENS)
FORMAT_VERSION = 1


@runtime_checkable
class Tokenizer(Protocol):
    """What the env needs from a tokenizer: ids 0-3 are PAD, BOS, EOS and UNK."""

    @property
    def vocab_size(self) -> int: ...

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: Iterable[int]) -> str: ...


class _VocabularyTokenizer:
    """Shared base of the char and word tokenizers: a list of token strings, the four specials first."""

    kind = ""

    def __init__(self, tokens: Sequence[str]):
        tokens = list(tokens)
        if tuple(tokens[:FIRST_ORDINARY_ID]) != SPECIAL_TOKENS:
            raise ValueError(
                f"a {self.kind} vocabulary must start with the special tokens {list(SPECIAL_TOKENS)} in that order,"
                f" got {tokens[:FIRST_ORDINARY_ID]}"
            )
        duplicates = sorted({t for t in tokens if tokens.count(t) > 1}) if len(set(tokens)) != len(tokens) else []
        if duplicates:
            raise ValueError(f"tokenizer vocabulary has duplicate tokens {duplicates[:10]}")
        if len(tokens) <= FIRST_ORDINARY_ID:
            raise ValueError("tokenizer vocabulary has no ordinary token: an env needs at least one token to write")
        self.tokens = tokens
        self.token_to_id = {token: i for i, token in enumerate(tokens)}
        self._characters = None  # CharTokenizer.decode_padded's table, made on first use

    @property
    def vocab_size(self) -> int:
        return len(self.tokens)

    @classmethod
    def from_texts(cls, texts: Iterable[str]):
        """A vocabulary of every token in `texts`, in sorted order after the specials."""
        pieces = set()
        for text in texts:
            pieces.update(cls.split(text))
        return cls([*SPECIAL_TOKENS, *sorted(pieces - set(SPECIAL_TOKENS))])

    @staticmethod
    def split(text: str) -> list[str]:
        raise NotImplementedError

    @staticmethod
    def join(pieces: list[str]) -> str:
        raise NotImplementedError

    def encode(self, text: str) -> list[int]:
        return [self.token_to_id.get(piece, UNK_ID) for piece in self.split(text)]

    def decode(self, ids: Iterable[int]) -> str:
        """The text of `ids` up to the first EOS, skipping PAD and BOS; UNK reads ``<unk>``."""
        ids = ids.tolist() if hasattr(ids, "tolist") else [int(i) for i in ids]
        if EOS_ID in ids:
            ids = ids[: ids.index(EOS_ID)]
        if not ids:
            return ""
        tokens, size = self.tokens, len(self.tokens)
        if min(ids) <= BOS_ID or max(ids) >= size:
            return self.join([tokens[i] if i < size else SPECIAL_TOKENS[UNK_ID] for i in ids if i > BOS_ID])
        # The common case, in-vocabulary ids only: one C-level lookup.
        pieces = itemgetter(*ids)(tokens)
        return self.join(pieces if len(ids) > 1 else (pieces,))

    def decode_padded(self, ids: np.ndarray) -> list[str]:
        """``decode`` of each row of a PAD-padded id matrix."""
        return [self.decode(row) for row in ids.tolist()]

    def to_dict(self) -> dict:
        return {"format_version": FORMAT_VERSION, "kind": self.kind, "tokens": self.tokens}

    def save(self, path: str | os.PathLike) -> None:
        """Write the vocabulary as JSON (atomically: temp file, then rename)."""
        _write_json_atomically(path, self.to_dict())

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
        ordinary = self.tokens[FIRST_ORDINARY_ID:]
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

# Names Hugging Face tokenizers give their special tokens, by the role they play here.
HF_SPECIAL_NAMES = {
    "pad": ("<pad>", "[PAD]", "<|pad|>", "<|padding|>"),
    "bos": ("<bos>", "[BOS]", "<s>", "[CLS]", "<|startoftext|>", "<|begin_of_text|>"),
    "eos": ("<eos>", "[EOS]", "</s>", "[SEP]", "<|endoftext|>", "<|end_of_text|>", "<|eot_id|>"),
    "unk": ("<unk>", "[UNK]", "<|unk|>"),
}
_ROLE_IDS = {"pad": PAD_ID, "bos": BOS_ID, "eos": EOS_ID, "unk": UNK_ID}


class HuggingFaceTokenizer:
    """A ``tokenizers.Tokenizer`` (the optional ``tokenizers`` extra) with its ids mapped into ours.

    Its padding, start, end and unknown tokens are found by name (``[PAD]``/``<pad>``,
    ``[CLS]``/``<s>``/``<bos>``, ``[SEP]``/``</s>``/``<eos>``/``<|endoftext|>``,
    ``[UNK]``/``<unk>``, and the model's own unknown token), or named with the
    ``*_token`` arguments, and take ids 0-3; a role the tokenizer lacks keeps its id
    here and is never produced by ``encode``. Its other special tokens (``[MASK]``,
    say) are not part of this vocabulary: ``encode`` maps them to UNK. Every other
    token keeps its order, from id 4 on. ``decode(encode(text))`` gives what the
    wrapped tokenizer's own ``decode(encode(text))`` gives.

    Arguments: ``tokenizer``: a ``tokenizers.Tokenizer`` or the path of its JSON file;
    ``pad_token``, ``bos_token``, ``eos_token``, ``unk_token``: a token's text to use
    for that role, or ``""`` for none.
    """

    kind = "huggingface"

    def __init__(
        self,
        tokenizer,
        *,
        pad_token: str | None = None,
        bos_token: str | None = None,
        eos_token: str | None = None,
        unk_token: str | None = None,
    ):
        self.hf = _as_hf_tokenizer(tokenizer)
        chosen = {"pad": pad_token, "bos": bos_token, "eos": eos_token, "unk": unk_token}
        self.special_tokens = self._find_specials(chosen)
        present = sorted(set(self.hf.get_vocab(with_added_tokens=True).values()))  # ids may have gaps
        special_ids = {self.hf.token_to_id(t) for t in self.special_tokens.values()}
        other_specials = {t["id"] for t in json.loads(self.hf.to_str()).get("added_tokens", []) if t.get("special")}
        ordinary = [i for i in present if i not in special_ids and i not in other_specials]
        hf_size = present[-1] + 1 if present else 0
        # ours -> theirs, and theirs -> ours (UNK for their tokens we do not use)
        self.to_hf = np.array([-1] * FIRST_ORDINARY_ID + ordinary, dtype=np.int64)
        for role, token in self.special_tokens.items():
            self.to_hf[_ROLE_IDS[role]] = self.hf.token_to_id(token)
        self.from_hf = np.full(hf_size, UNK_ID, dtype=np.int64)
        self.from_hf[ordinary] = np.arange(FIRST_ORDINARY_ID, FIRST_ORDINARY_ID + len(ordinary))
        for role, token in self.special_tokens.items():
            self.from_hf[self.hf.token_to_id(token)] = _ROLE_IDS[role]
        if len(ordinary) == 0:
            raise ValueError("Hugging Face tokenizer has no ordinary token: an env needs at least one token to write")
        if "eos" not in self.special_tokens:
            warnings.warn(
                f"the Hugging Face tokenizer has no token recognised as the end of a text (looked for"
                f" {list(HF_SPECIAL_NAMES['eos'])}): episodes end only at max_new_tokens; name it with eos_token=...",
                stacklevel=2,
            )

    def _find_specials(self, chosen: dict) -> dict[str, str]:
        vocabulary = self.hf.get_vocab(with_added_tokens=True)
        found = {}
        for role, token in chosen.items():
            if token is not None:
                if token and token not in vocabulary:
                    raise ValueError(f"{role}_token={token!r} is not in the Hugging Face tokenizer's vocabulary")
                if token:
                    found[role] = token
                continue
            candidates = HF_SPECIAL_NAMES[role]
            if role == "unk":
                model_unk = getattr(self.hf.model, "unk_token", None)
                candidates = ((model_unk,) if model_unk else ()) + candidates
            token = next((t for t in candidates if t in vocabulary and t not in found.values()), None)
            if token is not None:
                found[role] = token
        return found

    @property
    def vocab_size(self) -> int:
        return len(self.to_hf)

    def encode(self, text: str) -> list[int]:
        ids = self.hf.encode(text, add_special_tokens=False).ids
        return self.from_hf[ids].tolist() if ids else []

    def decode(self, ids: Iterable[int]) -> str:
        """The text of `ids` up to the first EOS, skipping PAD and BOS."""
        ids = ids.tolist() if hasattr(ids, "tolist") else [int(i) for i in ids]
        if EOS_ID in ids:
            ids = ids[: ids.index(EOS_ID)]
        kept = [i for i in ids if i > BOS_ID]
        theirs = [int(self.to_hf[i]) if 0 <= i < len(self.to_hf) else -1 for i in kept]
        unk = self.special_tokens.get("unk")
        pieces = [t for t in theirs if t >= 0] if unk is None else [t if t >= 0 else self.hf.token_to_id(unk) for t in theirs]
        return self.hf.decode(pieces, skip_special_tokens=False)

    def to_dict(self) -> dict:
        return {
            "format_version": FORMAT_VERSION,
            "kind": self.kind,
            "tokenizer": self.hf.to_str(),
            "special_tokens": self.special_tokens,
        }

    def save(self, path: str | os.PathLike) -> None:
        """Write the wrapped tokenizer and its special-token roles as JSON."""
        _write_json_atomically(path, self.to_dict())

    def __eq__(self, other) -> bool:
        return type(self) is type(other) and self.to_dict() == other.to_dict()

    def __getstate__(self):
        return self.to_dict()

    def __setstate__(self, state):
        self.__init__(_hf_from_string(state["tokenizer"]), **_role_arguments(state["special_tokens"]))

    def __repr__(self) -> str:
        return f"HuggingFaceTokenizer(vocab_size={self.vocab_size}, special_tokens={self.special_tokens})"


def _role_arguments(special_tokens: dict) -> dict:
    return {f"{role}_token": special_tokens.get(role, "") for role in _ROLE_IDS}


def _import_tokenizers():
    try:
        import tokenizers
    except ImportError:
        raise ImportError(
            "Hugging Face tokenizers need the 'tokenizers' extra: pip install 'textgen-env[tokenizers]'"
        ) from None
    return tokenizers


def _hf_from_string(text: str):
    return _import_tokenizers().Tokenizer.from_str(text)


def _as_hf_tokenizer(tokenizer):
    tokenizers = _import_tokenizers()
    if isinstance(tokenizer, tokenizers.Tokenizer):
        return tokenizer
    if isinstance(tokenizer, (str, os.PathLike)):
        if not os.path.isfile(tokenizer):
            raise ValueError(f"HuggingFaceTokenizer({str(tokenizer)!r}): no such tokenizer JSON file")
        try:
            return tokenizers.Tokenizer.from_file(os.fspath(tokenizer))
        except Exception as e:  # tokenizers raises its own exception types for malformed files
            raise ValueError(f"{tokenizer}: not a Hugging Face tokenizer JSON file ({e})") from None
    raise TypeError(f"HuggingFaceTokenizer({tokenizer!r}): expected a tokenizers.Tokenizer or the path of its JSON file")


def _write_json_atomically(path, data: dict) -> None:
    """JSON with non-ASCII characters escaped (so that any str, a lone surrogate too, round-trips), written whole."""
    write_text_atomically(path, json.dumps(data))


def tokenizer_from_dict(data: dict) -> Tokenizer:
    """Rebuild a tokenizer from its ``to_dict()`` output, validating it."""
    if not isinstance(data, dict) or data.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"not a textgen-env tokenizer (format_version {FORMAT_VERSION} expected): {str(data)[:80]!r}")
    kind = data.get("kind")
    if kind == HuggingFaceTokenizer.kind:
        if not isinstance(data.get("tokenizer"), str) or not isinstance(data.get("special_tokens"), dict):
            raise ValueError("a huggingface tokenizer entry needs 'tokenizer' (its JSON text) and 'special_tokens'")
        try:
            hf = _hf_from_string(data["tokenizer"])
        except ImportError:
            raise
        except Exception as e:
            raise ValueError(f"the stored Hugging Face tokenizer does not load ({e})") from None
        return HuggingFaceTokenizer(hf, **_role_arguments(data["special_tokens"]))
    if kind not in TOKENIZER_KINDS:
        raise ValueError(f"unknown tokenizer kind {kind!r}; allowed: {sorted(TOKENIZER_KINDS) + [HuggingFaceTokenizer.kind]}")
    tokens = data.get("tokens")
    if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
        raise ValueError("tokenizer 'tokens' must be a list of strings")
    return TOKENIZER_KINDS[kind](tokens)


def load_tokenizer(path: str | os.PathLike) -> Tokenizer:
    """Load a tokenizer JSON file: one saved by this package, or a Hugging Face ``tokenizer.json``."""
    if os.path.isdir(path):
        raise ValueError(f"tokenizer={os.fspath(path)!r} is a directory; give the tokenizer JSON file inside it")
    try:
        with open(path, encoding="utf-8-sig") as f:
            data = json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: line {e.lineno}: not valid JSON ({e.msg})") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: cannot read tokenizer file ({e})") from None
    if isinstance(data, dict) and "model" in data and "format_version" not in data:
        return HuggingFaceTokenizer(path)
    try:
        return tokenizer_from_dict(data)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None


def check_tokenizer(tokenizer) -> Tokenizer:
    """A tokenizer object given by the user, checked: a usable vocab_size, and specials at ids 0-3."""
    if not isinstance(tokenizer, Tokenizer):
        raise TypeError(
            f"tokenizer={tokenizer!r}: allowed are 'char', 'word', a tokenizer JSON file,"
            " or an object with encode, decode and vocab_size"
        )
    size = tokenizer.vocab_size
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size <= FIRST_ORDINARY_ID:
        raise ValueError(
            f"tokenizer vocab_size={size!r}: must be an integer > {FIRST_ORDINARY_ID}"
            " (ids 0-3 are PAD, BOS, EOS, UNK; ordinary tokens follow)"
        )
    for name, expected in (("pad_id", PAD_ID), ("bos_id", BOS_ID), ("eos_id", EOS_ID), ("unk_id", UNK_ID)):
        value = getattr(tokenizer, name, expected)
        if value != expected:
            raise ValueError(
                f"tokenizer {name}={value!r}: this env reserves ids 0-3 for PAD, BOS, EOS, UNK, so {name} must be {expected}"
                " (wrap a Hugging Face tokenizer in textgen_env.HuggingFaceTokenizer, which maps its ids)"
            )
    return tokenizer


def build_tokenizer(tokenizer, texts: Iterable[str]) -> Tokenizer:
    """Resolve the env's `tokenizer` argument: "char", "word", a tokenizer JSON path, or an object."""
    if isinstance(tokenizer, str) and tokenizer in TOKENIZER_KINDS:
        return TOKENIZER_KINDS[tokenizer].from_texts(texts)
    if isinstance(tokenizer, (str, os.PathLike)):
        if not os.path.exists(tokenizer):
            raise ValueError(
                f"tokenizer={os.fspath(tokenizer)!r}: allowed are 'char', 'word',"
                " a tokenizer JSON file (saved vocabulary or Hugging Face), or a Tokenizer object"
            )
        return load_tokenizer(tokenizer)
    if isinstance(tokenizer, dict):
        return tokenizer_from_dict(tokenizer)
    return check_tokenizer(tokenizer)

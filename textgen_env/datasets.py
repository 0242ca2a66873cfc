"""Prompt/target pairs: user files and lists, and the deterministic train/test split.

User data is a list of ``(prompt, target)`` pairs, or a UTF-8 file (a byte-order
mark at its start is skipped; lines end at ``\\n`` or ``\\r\\n`` and nowhere else):

- ``.txt``: one text per line, split into prompt and continuation at a word
  boundary (``prompt_fraction`` of the words go to the prompt); whitespace is kept
  as written. Blank lines are skipped.
- ``.jsonl``: ``{"prompt": ..., "target": ...}`` per line. Blank lines are skipped.
- ``.csv``: a header naming the columns ``prompt`` and ``target`` (others are
  ignored), then one row per pair, read with the ``csv`` module's rules: a quoted
  field may hold commas, quotes (doubled) and newlines.
- ``.tsv``: a header naming the columns ``prompt`` and ``target`` (required, as in
  ``.csv``), then the columns separated by tabs, with no quoting at all: every
  character between two tabs belongs to the field, quotes included.
- ``.parquet``, or a folder written by Hugging Face's ``Dataset.save_to_disk``: string
  columns ``prompt`` and ``target`` (the ``llm`` extra).

A malformed line raises a ``ValueError`` naming the file and the line.
The built-in tasks live in :mod:`textgen_env.builtin_tasks`; :func:`textgen_env.task.resolve_dataset`
turns the env's arguments into one dataset.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

SPLITS = ("train", "validation", "test", "all")
FILE_SUFFIXES = (".txt", ".jsonl", ".csv", ".tsv", ".parquet")
HF_FOLDER_FILES = ("dataset_info.json", "dataset_dict.json")  # what save_to_disk writes
TEST_FRACTION = 0.2


@dataclass(frozen=True)
class TextPair:
    prompt: str
    target: str


class TextDataset:
    """An ordered, non-empty list of :class:`TextPair` with a name for messages.

    `groups` (optional, one hashable per pair) keeps pairs together in the split:
    pairs of one group land in the same split (say, noisy versions of one sentence).
    Without groups, identical pairs form a group: a pair repeated in a file is never
    both trained on and held out (:attr:`duplicates` counts the repeats).
    """

    def __init__(self, pairs, name: str = "dataset", groups: list | None = None):
        self.name = name
        self.pairs = [p if isinstance(p, TextPair) else _as_pair(p, name, i) for i, p in enumerate(pairs)]
        if not self.pairs:
            raise ValueError(f"{name}: the dataset is empty; at least one (prompt, target) pair is needed")
        if groups is not None and len(groups) != len(self.pairs):
            raise ValueError(f"{name}: {len(groups)} groups for {len(self.pairs)} pairs; give one group per pair")
        self.groups = groups

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> TextPair:
        return self.pairs[index]

    @property
    def prompts(self) -> list[str]:
        return [p.prompt for p in self.pairs]

    @property
    def targets(self) -> list[str]:
        return [p.target for p in self.pairs]

    @property
    def duplicates(self) -> int:
        """How many pairs repeat an earlier one."""
        return len(self.pairs) - len(set(self.pairs))

    def split(
        self, split: str, test_fraction: float = TEST_FRACTION, seed: int = 0, validation_fraction: float = 0.0
    ) -> TextDataset:
        """A deterministic train/test split: the same pairs land in the same split every time."""
        if split == "all" and test_fraction == TEST_FRACTION and seed == 0:
            return self
        chosen = self.split_indices(split, test_fraction, seed, validation_fraction)
        groups = None if self.groups is None else [self.groups[i] for i in chosen]
        return TextDataset([self.pairs[i] for i in chosen], name=f"{self.name}[{split}]", groups=groups)

    def split_indices(
        self, split: str, test_fraction: float = TEST_FRACTION, seed: int = 0, validation_fraction: float = 0.0
    ) -> list[int]:
        """The positions of `split`'s pairs in this dataset, in order.

        With `validation_fraction`, that fraction of the training split is held out as ``"validation"``, by
        target (or by group): no target is both trained on and validated on, so choices made on the
        validation split (when to stop, which weights to keep) are made on text the policy has not learned.
        ``"train"`` is then the rest; the test split does not change.
        """
        if split not in SPLITS:
            raise ValueError(f"split={split!r}: allowed values are {list(SPLITS)}")
        if not 0.0 < test_fraction < 1.0:
            raise ValueError(f"test_fraction={test_fraction!r}: must be between 0 and 1")
        check_validation_fraction(validation_fraction)
        if split == "validation" and not validation_fraction:
            raise ValueError("split='validation' needs a validation_fraction above 0 (the share of the training split)")
        if split == "all":
            return list(range(len(self.pairs)))
        groups = self.pairs if self.groups is None else self.groups  # by content: identical pairs stay together
        names = list(dict.fromkeys(groups))  # in order of first appearance
        order = np.random.default_rng(seed).permutation(len(names))
        n_test = max(1, int(round(test_fraction * len(names)))) if len(names) > 1 else 0
        test = {names[k] for k in order[:n_test].tolist()}
        chosen = [i for i, g in enumerate(groups) if (g in test) == (split == "test")]
        if split != "test" and validation_fraction:
            chosen = self._carve_validation(chosen, split, validation_fraction, seed)
        if not chosen:
            raise ValueError(f"{self.name}: split {split!r} is empty ({len(self.pairs)} pairs in all)")
        return chosen

    def _carve_validation(self, training: list[int], split: str, fraction: float, seed: int) -> list[int]:
        """`training`'s pairs of the validation split (or of the rest): a `fraction` of its targets (or groups)."""
        keys = [self.pairs[i].target if self.groups is None else self.groups[i] for i in training]
        names = list(dict.fromkeys(keys))
        if len(names) < 2:
            raise ValueError(
                f"{self.name}: its training split has {len(names)} distinct target(s); holding some out for"
                " validation needs at least 2"
            )
        order = np.random.default_rng(seed + 1).permutation(len(names))
        held = {names[k] for k in order[: min(len(names) - 1, max(1, int(round(fraction * len(names)))))].tolist()}
        return [i for i, key in zip(training, keys) if (key in held) == (split == "validation")]


def _as_pair(item, source: str, position: int) -> TextPair:
    if isinstance(item, dict):
        item = (item.get("prompt"), item.get("target"))
    if not (isinstance(item, (tuple, list)) and len(item) == 2 and all(isinstance(x, str) for x in item)):
        raise ValueError(f"{source}: item {position} is {item!r}; each item must be a (prompt, target) pair of strings")
    return TextPair(item[0], item[1])


def check_prompt_fraction(prompt_fraction) -> float:
    if isinstance(prompt_fraction, bool) or not isinstance(prompt_fraction, (int, float)) or not 0.0 < prompt_fraction < 1.0:
        raise ValueError(f"prompt_fraction={prompt_fraction!r}: must be a number strictly between 0 and 1")
    return float(prompt_fraction)


def check_validation_fraction(fraction) -> float:
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0.0 <= fraction < 1.0:
        raise ValueError(f"validation_fraction={fraction!r}: must be a number from 0 (none) up to, not including, 1")
    return float(fraction)


_WORD = re.compile(r"\S+")


def split_text(text: str, prompt_fraction: float = 0.5) -> TextPair:
    """Split one text at a word boundary, keeping its whitespace: the first words (and the
    whitespace after them) are the prompt, the rest the target."""
    words = [m.start() for m in _WORD.finditer(text)]
    if len(words) < 2:
        raise ValueError(f"text {text!r} has fewer than two words; it cannot be split into prompt and continuation")
    cut = min(len(words) - 1, max(1, int(round(len(words) * check_prompt_fraction(prompt_fraction)))))
    return TextPair(text[: words[cut]], text[words[cut] :])


def read_lines(path: str) -> list[str]:
    """The file's lines, split on ``\\n`` (a ``\\r`` before it dropped) and nowhere else, BOM skipped."""
    text = read_text(path)
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def read_text(path: str) -> str:
    """The file as UTF-8 text (a leading byte-order mark skipped); bad bytes are named by line."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ValueError(f"{path}: cannot read dataset file ({e.strerror or e})") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise ValueError(
            f"{path}:{line}: not valid UTF-8 (byte 0x{data[e.start]:02x} at column {column}); save the file as UTF-8"
        ) from None


def load_pairs(path: str | os.PathLike, prompt_fraction: float = 0.5) -> TextDataset:
    """Read a dataset file (see the module docstring for the formats)."""
    path = os.fspath(path)
    suffix = os.path.splitext(path)[1].lower()
    hf_folder = os.path.isdir(path) and any(os.path.isfile(os.path.join(path, f)) for f in HF_FOLDER_FILES)
    if os.path.isdir(path) and not hf_folder:
        raise ValueError(f"{path}: is a directory, not a dataset file (nor a folder written by Dataset.save_to_disk)")
    if suffix not in FILE_SUFFIXES and not hf_folder:
        raise ValueError(f"{path}: unsupported file type {suffix!r}; allowed: {list(FILE_SUFFIXES)} or a save_to_disk folder")
    if hf_folder or suffix == ".parquet":
        pairs = read_hf_pairs(path)  # imports Hugging Face datasets: only for these files
    elif suffix == ".txt":
        check_prompt_fraction(prompt_fraction)
        pairs = _txt_pairs(path, prompt_fraction)
    elif suffix == ".jsonl":
        pairs = _jsonl_pairs(path)
    elif suffix == ".csv":
        pairs = _csv_pairs(path)
    else:
        pairs = _tsv_pairs(path)
    if not pairs:
        raise ValueError(f"{path}: the dataset file holds no (prompt, target) pairs")
    dataset = TextDataset(pairs, name=os.path.basename(os.path.normpath(path)))
    if dataset.duplicates:
        warnings.warn(
            f"{path}: {dataset.duplicates} of its {len(pairs)} pairs repeat an earlier one; identical pairs are kept"
            " in one split, so no held-out pair is also trained on",
            stacklevel=3,
        )
    return dataset


def _txt_pairs(path: str, prompt_fraction: float) -> list[TextPair]:
    """Each line split into prompt and continuation; a line of one word cannot be, and is skipped (with one
    warning that counts them: licence texts and headings have such lines). None usable is an error."""
    pairs, skipped = [], []
    for number, line in enumerate(read_lines(path), start=1):
        if line.strip():
            try:
                pairs.append(split_text(line, prompt_fraction))
            except ValueError:
                skipped.append(number)
    if skipped and not pairs:
        raise ValueError(f"{path}: no line has two words or more to split into prompt and continuation")
    if skipped:
        shown = ", ".join(map(str, skipped[:5])) + (", ..." if len(skipped) > 5 else "")
        warnings.warn(f"{path}: skipped {len(skipped)} lines of one word (lines {shown}); each needs two", stacklevel=4)
    return pairs


def read_jsonl(path: str) -> Iterator[tuple[int, object, str]]:
    """(line number, parsed value, line) of each non-blank line of a JSON-lines file; bad JSON names its line."""
    for number, line in enumerate(read_lines(path), start=1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line), line
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}:{number}: not valid JSON ({e.msg})") from None


def _jsonl_pairs(path: str) -> list[TextPair]:
    return [_record_pair(record, path, number) for number, record, _ in read_jsonl(path)]


def _columns(header: list[str], path: str) -> tuple[int, int]:
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise ValueError(f"{path}:1: duplicate column names {duplicates} in the header {header!r}")
    if "prompt" not in header or "target" not in header:
        raise ValueError(f"{path}:1: header must name the columns 'prompt' and 'target', got {header!r}")
    return header.index("prompt"), header.index("target")


def _csv_pairs(path: str) -> list[TextPair]:
    # Lines end at \n or \r\n only (the csv module also ends them at a lone \r): a lone \r is hidden from the
    # reader behind a character the text does not hold, and restored in the fields.
    text = read_text(path)
    sentinel = next(chr(c) for c in range(0xE000, 0xF900) if chr(c) not in text)
    reader = csv.reader(io.StringIO(re.sub(r"\r(?!\n)", sentinel, text), newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None:
            return []
        p, t = _columns(header, path)
        pairs, start = [], reader.line_num + 1
        for row in reader:
            if row:
                if len(row) != len(header):
                    raise ValueError(f"{path}:{start}: expected {len(header)} columns, got {len(row)}: {row!r}")
                pairs.append(TextPair(row[p].replace(sentinel, "\r"), row[t].replace(sentinel, "\r")))
            start = reader.line_num + 1
    except csv.Error as e:
        raise ValueError(
            f"{path}:{reader.line_num}: malformed CSV ({e}); quote fields holding commas, quotes or newlines"
        ) from None
    return pairs


def _tsv_pairs(path: str) -> list[TextPair]:
    lines = read_lines(path)
    if not lines:
        return []
    header = lines[0].split("\t")
    p, t = _columns(header, path)
    pairs = []
    for number, line in enumerate(lines[1:], start=2):
        if not line:
            continue
        row = line.split("\t")
        if len(row) != len(header):
            raise ValueError(f"{path}:{number}: expected {len(header)} tab-separated columns, got {len(row)}: {row!r}")
        pairs.append(TextPair(row[p], row[t]))
    return pairs


def _record_pair(record, path: str, number: int) -> TextPair:
    if not isinstance(record, dict) or not isinstance(record.get("prompt"), str) or not isinstance(record.get("target"), str):
        raise ValueError(f"{path}:{number}: expected string fields 'prompt' and 'target', got {record!r}")
    return TextPair(record["prompt"], record["target"])


def require_hf_datasets():
    """Hugging Face's ``datasets`` package (the ``llm`` extra), or an ImportError that says how to install it."""
    try:
        import datasets
    except ImportError:
        raise ImportError(
            "Hugging Face datasets is missing: install the 'llm' extra, pip install 'textgen-env[llm]'"
        ) from None
    return datasets


def read_hf_pairs(path: str) -> list[TextPair]:
    """(prompt, target) pairs from a ``.parquet`` file or a ``save_to_disk`` folder (a ``Dataset``, or a
    ``DatasetDict`` whose splits are read in order); string columns ``prompt`` and ``target`` are required,
    chat prompts (message lists) are not pairs of text and are refused."""
    datasets = require_hf_datasets()
    try:
        if os.path.isdir(path):
            loaded = datasets.load_from_disk(path)
        else:
            loaded = datasets.Dataset.from_parquet(path)
    except (OSError, ValueError, FileNotFoundError) as e:
        raise ValueError(f"{path}: cannot read it as a Hugging Face dataset ({type(e).__name__}: {e})") from None
    parts = [loaded[name] for name in loaded] if isinstance(loaded, datasets.DatasetDict) else [loaded]
    pairs = []
    for part in parts:
        missing = {"prompt", "target"} - set(part.column_names)
        if missing:
            raise ValueError(f"{path}: columns {sorted(missing)} missing; it has {part.column_names}")
        for number, (prompt, target) in enumerate(zip(part["prompt"], part["target"]), start=1):
            if not isinstance(prompt, str) or not isinstance(target, str):
                raise ValueError(f"{path}: row {number}: 'prompt' and 'target' must be strings, got {prompt!r} and {target!r}")
            pairs.append(TextPair(prompt, target))
    return pairs


def read_prompts(path: str) -> list[str]:
    """Prompts from a .txt file (one per line, blank lines skipped) or .jsonl (a string 'prompt' per line)."""
    if not path.endswith(".jsonl"):
        return [line for line in read_lines(path) if line.strip()]
    prompts = []
    for number, record, line in read_jsonl(path):
        if not isinstance(record, dict) or not isinstance(record.get("prompt"), str):
            raise ValueError(f"{path}:{number}: expected a string field 'prompt', got {line[:80]!r}")
        prompts.append(record["prompt"])
    return prompts

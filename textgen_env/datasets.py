"""Prompt/target pairs: the built-in tasks, user files, and the train/test split.

Built-in tasks (deterministic for a given `seed`):

- ``copy``: the target repeats a random string given as the prompt.
- ``reverse``: the target is the prompt's random string reversed.
- ``continue``: the prompt is the start of an English sentence from the shipped
  corpus (``data/sentences.txt``), the target is the rest of it.

User data: a list of ``(prompt, target)`` pairs, or a file: ``.txt`` (one text per
line, split into prompt and continuation at a word boundary), ``.jsonl``
(``{"prompt": ..., "target": ...}`` per line), ``.csv`` / ``.tsv`` (columns
``prompt`` and ``target``).
"""

from __future__ import annotations

import csv
import json
import os
import string
from dataclasses import dataclass
from importlib import resources

import numpy as np

SPLITS = ("train", "test", "all")
TASKS = ("copy", "reverse", "continue")
FILE_SUFFIXES = (".txt", ".jsonl", ".csv", ".tsv")


@dataclass(frozen=True)
class TextPair:
    prompt: str
    target: str


class TextDataset:
    """An ordered, non-empty list of :class:`TextPair` with a name for messages."""

    def __init__(self, pairs, name: str = "dataset"):
        self.name = name
        self.pairs = [p if isinstance(p, TextPair) else _as_pair(p, name, i) for i, p in enumerate(pairs)]
        if not self.pairs:
            raise ValueError(f"{name}: the dataset is empty; at least one (prompt, target) pair is needed")

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

    def split(self, split: str, test_fraction: float = 0.2, seed: int = 0) -> TextDataset:
        """A deterministic train/test split: the same pairs land in the same split every time."""
        if split not in SPLITS:
            raise ValueError(f"split={split!r}: allowed values are {list(SPLITS)}")
        if not 0.0 < test_fraction < 1.0:
            raise ValueError(f"test_fraction={test_fraction!r}: must be between 0 and 1")
        if split == "all":
            return self
        order = np.random.default_rng(seed).permutation(len(self.pairs))
        n_test = max(1, int(round(test_fraction * len(self.pairs)))) if len(self.pairs) > 1 else 0
        chosen = sorted(order[:n_test]) if split == "test" else sorted(order[n_test:])
        if not chosen:
            raise ValueError(f"{self.name}: split {split!r} is empty ({len(self.pairs)} pairs in all)")
        return TextDataset([self.pairs[i] for i in chosen], name=f"{self.name}[{split}]")


def _as_pair(item, source: str, position: int) -> TextPair:
    if isinstance(item, dict):
        item = (item.get("prompt"), item.get("target"))
    if not (isinstance(item, (tuple, list)) and len(item) == 2 and all(isinstance(x, str) for x in item)):
        raise ValueError(f"{source}: item {position} is {item!r}; each item must be a (prompt, target) pair of strings")
    return TextPair(item[0], item[1])


def split_text(text: str, prompt_fraction: float = 0.5) -> TextPair:
    """Split one text at a word boundary: the first words are the prompt, the rest the target."""
    words = text.split()
    if len(words) < 2:
        raise ValueError(f"text {text!r} has fewer than two words; it cannot be split into prompt and continuation")
    cut = min(len(words) - 1, max(1, int(round(len(words) * prompt_fraction))))
    return TextPair(" ".join(words[:cut]) + " ", " ".join(words[cut:]))


def random_strings(count: int, min_length: int, max_length: int, alphabet: str, seed: int) -> list[str]:
    if not (isinstance(min_length, int) and isinstance(max_length, int) and 1 <= min_length <= max_length):
        raise ValueError(f"min_length={min_length!r}, max_length={max_length!r}: need integers with 1 <= min_length <= max_length")
    if not alphabet or len(set(alphabet)) != len(alphabet):
        raise ValueError(f"alphabet={alphabet!r}: must be a non-empty string of distinct characters")
    if not (isinstance(count, int) and count >= 1):
        raise ValueError(f"num_examples={count!r}: must be a positive integer")
    rng = np.random.default_rng(seed)
    letters = np.array(list(alphabet))
    lengths = rng.integers(min_length, max_length + 1, size=count)
    return ["".join(rng.choice(letters, size=n)) for n in lengths]


def corpus_sentences() -> list[str]:
    text = resources.files("textgen_env").joinpath("data/sentences.txt").read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line.strip()]


def make_task(
    name: str,
    num_examples: int = 1000,
    min_length: int = 3,
    max_length: int = 8,
    alphabet: str = string.ascii_lowercase,
    prompt_fraction: float = 0.4,
    seed: int = 0,
) -> TextDataset:
    """Build a built-in task. `num_examples`, lengths and `alphabet` apply to copy/reverse."""
    if name == "copy":
        return TextDataset([(s, s) for s in random_strings(num_examples, min_length, max_length, alphabet, seed)], "copy")
    if name == "reverse":
        return TextDataset([(s, s[::-1]) for s in random_strings(num_examples, min_length, max_length, alphabet, seed)], "reverse")
    if name == "continue":
        return TextDataset([split_text(s, prompt_fraction) for s in corpus_sentences()], "continue")
    raise ValueError(f"task={name!r}: allowed values are {list(TASKS)}")


def load_pairs(path: str | os.PathLike, prompt_fraction: float = 0.5) -> TextDataset:
    """Read a dataset file; a malformed line raises an error naming the file and line."""
    path = os.fspath(path)
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in FILE_SUFFIXES:
        raise ValueError(f"{path}: unsupported file type {suffix!r}; allowed: {list(FILE_SUFFIXES)}")
    try:
        with open(path, encoding="utf-8", newline="") as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: cannot read dataset file ({e})") from None
    pairs = []
    if suffix == ".txt":
        for number, line in enumerate(lines, start=1):
            if line.strip():
                try:
                    pairs.append(split_text(line, prompt_fraction))
                except ValueError as e:
                    raise ValueError(f"{path}:{number}: {e}") from None
    elif suffix == ".jsonl":
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{number}: not valid JSON ({e.msg})") from None
            pairs.append(_record_pair(record, path, number))
    else:
        reader = csv.reader(lines, delimiter="\t" if suffix == ".tsv" else ",")
        header = next(reader, None)
        if header is None or "prompt" not in header or "target" not in header:
            raise ValueError(f"{path}:1: header must name the columns 'prompt' and 'target', got {header!r}")
        p, t = header.index("prompt"), header.index("target")
        for row in reader:
            number = reader.line_num
            if not row:
                continue
            if len(row) != len(header):
                raise ValueError(f"{path}:{number}: expected {len(header)} columns, got {len(row)}: {row!r}")
            pairs.append(_record_pair({"prompt": row[p], "target": row[t]}, path, number))
    if not pairs:
        raise ValueError(f"{path}: the dataset file holds no (prompt, target) pairs")
    return TextDataset(pairs, name=os.path.basename(path))


def _record_pair(record, path: str, number: int) -> TextPair:
    if not isinstance(record, dict) or not isinstance(record.get("prompt"), str) or not isinstance(record.get("target"), str):
        raise ValueError(f"{path}:{number}: expected string fields 'prompt' and 'target', got {record!r}")
    return TextPair(record["prompt"], record["target"])


def resolve_dataset(task: str | None, dataset, task_options: dict | None) -> TextDataset:
    """The env's `task` / `dataset` arguments to a full (unsplit) dataset."""
    if dataset is None:
        return make_task(task if task is not None else "continue", **(task_options or {}))
    if task is not None:
        raise ValueError(f"give either task= or dataset=, not both (task={task!r})")
    if isinstance(dataset, TextDataset):
        return dataset
    if isinstance(dataset, (str, os.PathLike)):
        return load_pairs(dataset)
    if isinstance(dataset, (list, tuple)):
        return TextDataset(dataset, name="pairs")
    raise TypeError(f"dataset={dataset!r}: allowed are a list of (prompt, target) pairs, a file path, or a TextDataset")

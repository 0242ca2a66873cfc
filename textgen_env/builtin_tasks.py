"""The built-in task suite: a ladder of text tasks whose targets follow from their prompts.

Every task is deterministic for its options (``seed`` included), so its
train/test split is too. Each one's docstring says what it tests; the table
:data:`TASKS` lists them, from the easiest rung up:

=================  ==============================================================  =========
task               target                                                          tokenizer
=================  ==============================================================  =========
``copy``           the prompt (random letters)                                     char
``reverse``        the prompt reversed                                             char
``repeat``         the prompt written twice                                        char
``duplicate``      every character of the prompt written twice                     char
``sort``           the prompt's characters in sorted order                         char
``addition``       the decimal sum of ``"a+b"``                                    char
``spelling``       a corpus sentence (or a file's texts), given with typing noise  char
``reverse_words``  the words of a corpus sentence in reverse order                 word
``reverse_text``   a corpus sentence (or a file's texts) reversed by character     char
``continue``       the rest of an English sentence (no single right answer)        char
=================  ==============================================================  =========

Options a task does not take are an error that names them.
"""

from __future__ import annotations

import inspect
import random
import string
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources

import numpy as np

from textgen_env.datasets import TextDataset, check_prompt_fraction, load_pairs, read_lines, split_text
from textgen_env.memory import check_allocation

# What gym.make("TextGeneration-v0"), gym.make_vec, the CLI and the RLlib adapter build without a task or a dataset:
# copy, the first rung, because it is what a first env should teach with: every target is in its prompt, a policy
# can reach a perfect score on it within minutes, and a learning curve on it shows at once whether an agent works
# (continue, open-ended, is not learned past its baseline by any of the agents).
DEFAULT_TASK = "copy"
LOWERCASE = string.ascii_lowercase


# -- option checks ------------------------------------------------------------------


def _integer(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name}={value!r}: must be an integer >= {minimum}")
    return int(value)


def _length_range(min_length, max_length, unit: str = "length") -> tuple[int, int]:
    low, high = _integer(f"min_{unit}", min_length, 1), _integer(f"max_{unit}", max_length, 1)
    if low > high:
        raise ValueError(f"min_{unit}={low} > max_{unit}={high}: need min_{unit} <= max_{unit}")
    return low, high


def _alphabet(alphabet) -> list[str]:
    if not isinstance(alphabet, str) or not alphabet or len(set(alphabet)) != len(alphabet):
        raise ValueError(f"alphabet={alphabet!r}: must be a non-empty string of distinct characters")
    return list(alphabet)


def _rate(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name}={value!r}: must be a number between 0 and 1")
    return float(value)


def count_strings(letters: int, low: int, high: int, enough: int) -> int:
    """How many strings of `low` to `high` of `letters` letters there are, counted only until `enough`: a long
    `high` would otherwise make the sum an integer of thousands of digits."""
    total = 0
    for n in range(low, high + 1):
        total += letters**n if letters == 1 or n < enough.bit_length() else enough  # 2**n > enough already
        if total >= enough:
            break
    return total


# Bytes per character of a drawn string as a task holds it: the text, its token ids (prompt and target), the env's matrices.
BYTES_PER_CHARACTER = 24
MAX_DRAW_ROUNDS = 1000  # rounds of `count` draws for distinct strings: far past what any count that fits needs


def random_strings(count: int, min_length: int, max_length: int, alphabet: str, seed: int) -> list[str]:
    """`count` distinct strings of uniform random length and letters, reproducible from `seed`
    (distinct, so that no string lands in both splits). Every character of `alphabet` is honoured,
    control characters included."""
    count = _integer("num_examples", count, 1)
    low, high = _length_range(min_length, max_length)
    letters = _alphabet(alphabet)
    possible = count_strings(len(letters), low, high, count)
    if count > possible:
        raise ValueError(
            f"num_examples={count}: there are only {possible} distinct strings of {low} to {high} letters"
            f" from alphabet={alphabet!r}"
        )
    check_allocation(
        count * (low + high) // 2 * BYTES_PER_CHARACTER,
        "the task's strings",
        f"num_examples={count}, min_length={low}, max_length={high}",
    )
    rng = np.random.default_rng(_integer("seed", seed, 0))
    drawn: dict[str, None] = {}
    for _ in range(MAX_DRAW_ROUNDS):
        for n in rng.integers(low, high + 1, size=count):
            # indices, not numpy strings: a fixed-width string array would drop a NUL
            drawn.setdefault("".join(letters[i] for i in rng.choice(len(letters), size=n)))
        if len(drawn) >= count:
            return list(drawn)[:count]
    raise ValueError(
        f"num_examples={count}: {MAX_DRAW_ROUNDS * count} draws gave {len(drawn)} distinct strings of {low} to {high}"
        f" letters from alphabet={alphabet!r}; ask for fewer"
    )


def corpus_sentences() -> list[str]:
    """The shipped English corpus (``data/sentences.txt``): 400 sentences from a small grammar."""
    text = resources.files("textgen_env").joinpath("data/sentences.txt").read_text(encoding="utf-8")
    return [line for line in text.split("\n") if line.strip()]


def source_texts(source: str | None) -> list[str]:
    """The distinct texts of `source`, in file order: the lines of a ``.txt`` file, the targets of any
    dataset file, or the shipped corpus's sentences where `source` is None."""
    if source is None:
        texts = corpus_sentences()
    elif not isinstance(source, str):
        raise ValueError(f"source={source!r}: must be the path of a .txt file or a dataset file")
    elif source.lower().endswith(".txt"):
        texts = [line for line in read_lines(source) if line.strip()]
    else:
        texts = load_pairs(source).targets
    return list(dict.fromkeys(texts))


# -- the tasks ------------------------------------------------------------------------


def copy(
    *, num_examples: int = 1000, min_length: int = 3, max_length: int = 8, alphabet: str = LOWERCASE, seed: int = 0
) -> TextDataset:
    """Write the prompt again: tests attending to each prompt position in order."""
    return TextDataset([(s, s) for s in random_strings(num_examples, min_length, max_length, alphabet, seed)], "copy")


def reverse(
    *, num_examples: int = 1000, min_length: int = 3, max_length: int = 8, alphabet: str = LOWERCASE, seed: int = 0
) -> TextDataset:
    """Write the prompt backwards: tests attending to positions in reverse, counting from the end."""
    return TextDataset([(s, s[::-1]) for s in random_strings(num_examples, min_length, max_length, alphabet, seed)], "reverse")


def repeat(
    *, num_examples: int = 1000, min_length: int = 3, max_length: int = 8, alphabet: str = LOWERCASE, seed: int = 0
) -> TextDataset:
    """Write the prompt twice: tests knowing where the first pass ended (Gym's RepeatCopy)."""
    return TextDataset([(s, s + s) for s in random_strings(num_examples, min_length, max_length, alphabet, seed)], "repeat")


def duplicate(
    *, num_examples: int = 1000, min_length: int = 3, max_length: int = 8, alphabet: str = LOWERCASE, seed: int = 0
) -> TextDataset:
    """Write every character twice ("abc" -> "aabbcc"): tests keeping a count of two per position
    (Gym's DuplicatedInput, inverted)."""
    return TextDataset(
        [(s, "".join(c + c for c in s)) for s in random_strings(num_examples, min_length, max_length, alphabet, seed)],
        "duplicate",
    )


def sort(
    *, num_examples: int = 1000, min_length: int = 3, max_length: int = 8, alphabet: str = LOWERCASE, seed: int = 0
) -> TextDataset:
    """Write the prompt's characters in sorted order: tests a global, content-based order, not a positional one."""
    return TextDataset(
        [(s, "".join(sorted(s))) for s in random_strings(num_examples, min_length, max_length, alphabet, seed)], "sort"
    )


MAX_DIGITS = 4000  # Python writes integers of up to 4,300 digits as text


def addition(*, num_examples: int = 5000, min_digits: int = 1, max_digits: int = 2, seed: int = 0) -> TextDataset:
    """Add two decimal numbers ("57+8" -> "65"): tests carrying, right to left, while writing left to right.

    Both numbers have between `min_digits` and `max_digits` digits; the pairs are distinct
    (so none is in both splits), drawn uniformly from all such pairs, of any size.
    """
    count = _integer("num_examples", num_examples, 1)
    low, high = _length_range(min_digits, max_digits, "digits")
    if high > MAX_DIGITS:
        raise ValueError(f"max_digits={high}: must be at most {MAX_DIGITS}")
    smallest = 0 if low == 1 else 10 ** (low - 1)
    numbers = 10**high - smallest
    if count > numbers * numbers:
        raise ValueError(
            f"num_examples={count}: there are only {numbers * numbers} distinct pairs of {low}- to {high}-digit numbers"
        )
    check_allocation(count * 3 * high * BYTES_PER_CHARACTER, "the sums", f"num_examples={count}, max_digits={high}")
    seed = _integer("seed", seed, 0)
    if numbers * numbers < 2**63:
        drawn = np.random.default_rng(seed).choice(numbers * numbers, size=count, replace=False)
        operands = zip(*np.divmod(drawn, numbers))
    else:  # past int64: Python's integers, distinct pairs from a population so large that repeats are rare
        draw, pairs = random.Random(seed), {}
        while len(pairs) < count:
            pairs.setdefault((draw.randrange(numbers), draw.randrange(numbers)))
        operands = pairs
    return TextDataset(
        [(f"{smallest + a}+{smallest + b}", str(2 * smallest + int(a) + int(b))) for a, b in operands], "addition"
    )


# Letters next to each letter on a QWERTY keyboard: the "fat finger" typo.
_QWERTY_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
KEYBOARD_NEIGHBOURS = {
    letter: "".join(
        other
        for r, other_row in enumerate(_QWERTY_ROWS)
        for c, other in enumerate(other_row)
        if other != letter and abs(r - row_index) <= 1 and abs(c - column) <= 1
    )
    for row_index, row in enumerate(_QWERTY_ROWS)
    for column, letter in enumerate(row)
}
TYPOS = ("drop", "double", "swap", "neighbour")


def add_typos(text: str, rng: np.random.Generator, noise: float) -> tuple[str, int]:
    """`text` with each character, at rate `noise`, dropped, doubled, swapped with the next one, or
    replaced by a keyboard neighbour (letters only); with the number of typos made."""
    out, typos, i = [], 0, 0
    while i < len(text):
        char = text[i]
        if rng.random() >= noise:
            out.append(char)
            i += 1
            continue
        kind = TYPOS[int(rng.integers(len(TYPOS)))]
        if kind == "swap" and i + 1 < len(text) and text[i + 1] != char:
            out += [text[i + 1], char]
            i += 2
        elif kind == "neighbour" and char.lower() in KEYBOARD_NEIGHBOURS:
            neighbours = KEYBOARD_NEIGHBOURS[char.lower()]
            typo = neighbours[int(rng.integers(len(neighbours)))]
            out.append(typo.upper() if char.isupper() else typo)
            i += 1
        elif kind == "double":
            out += [char, char]
            i += 1
        else:  # drop (also where a swap or a neighbour does not apply)
            i += 1
        typos += 1
    return "".join(out), typos


def spelling(*, noise: float = 0.1, variants: int = 8, seed: int = 0, source: str | None = None) -> TextDataset:
    """Correct typing noise: each corpus sentence, with characters dropped, doubled, swapped or
    hit on a neighbouring key at rate `noise`, is the prompt; the clean sentence is the target.
    Each sentence comes in `variants` noisy versions, all in the same split, so held-out
    sentences are never seen in training. Copying the prompt already scores high, so a
    policy must beat that baseline to show it corrects.

    The sentences are the shipped corpus's, or your own text's: `source` is a ``.txt`` file
    (one text per line) or a dataset file, whose targets are used; each distinct text once."""
    noise = _rate("noise", noise)
    variants = _integer("variants", variants, 1)
    rng = np.random.default_rng(_integer("seed", seed, 0))
    sentences = source_texts(source)
    check_allocation(
        variants * sum(map(len, sentences)) * 2 * BYTES_PER_CHARACTER,
        "the noisy sentences",
        f"variants={variants} of {len(sentences)} sentences",
    )
    pairs = [(add_typos(sentence, rng, noise)[0], sentence) for sentence in sentences for _ in range(variants)]
    return TextDataset(pairs, "spelling", groups=[k for k in range(len(sentences)) for _ in range(variants)])


def reverse_words(*, min_length: int = 1, max_length: int = 64) -> TextDataset:
    """Write a corpus sentence's words in reverse order (word tokens): tests reversal over a
    vocabulary of words rather than letters. Lengths count words; sentences outside them are left out."""
    low, high = _length_range(min_length, max_length)
    pairs = []
    for sentence in corpus_sentences():
        words = sentence.rstrip(".").split()
        if low <= len(words) <= high:
            pairs.append((" ".join(words), " ".join(reversed(words))))
    if not pairs:
        raise ValueError(f"min_length={low}, max_length={high}: no corpus sentence has that many words")
    return TextDataset(pairs, "reverse_words")


def reverse_text(*, min_length: int = 1, max_length: int = 200, source: str | None = None) -> TextDataset:
    """Write a sentence backwards, character by character: what LLM RL tool kits demonstrate RL fine-tuning on.

    The sentences are the shipped corpus's, or `source`'s: the lines of a ``.txt`` file, or the targets
    of any dataset file. Lengths count characters; texts outside them are left out, and each text is
    used once.
    """
    low, high = _length_range(min_length, max_length)
    kept = [text for text in source_texts(source) if low <= len(text) <= high]
    if not kept:
        raise ValueError(f"min_length={low}, max_length={high}: no text of {source or 'the corpus'} has that many characters")
    return TextDataset([(text, text[::-1]) for text in kept], "reverse_text")


def continue_(*, prompt_fraction: float = 0.4) -> TextDataset:
    """Finish an English sentence from the shipped corpus, given its first words (`prompt_fraction`
    of them). A sentence has many endings, so no policy reaches similarity 1 here."""
    check_prompt_fraction(prompt_fraction)
    return TextDataset([split_text(s, prompt_fraction) for s in corpus_sentences()], "continue")


def new_noise(options: dict, round: int) -> dict:
    """`spelling`'s options for round `round` of new prompts: the same sentences, in the same splits, with new noise."""
    return {**options, "seed": _integer("seed", options.get("seed", 0), 0) + round}


@dataclass(frozen=True)
class TaskSpec:
    build: Callable[..., TextDataset]
    tokenizer: str  # the tokenizer the task is meant for, used when the env is given none
    # Where the task can make new prompts for the same targets (in the same splits): the options of round k > 0
    # of them. Training on new prompts each round keeps a policy from learning its training prompts by heart.
    new_prompts: Callable[[dict, int], dict] | None = None

    @property
    def options(self) -> dict:
        """The task's options and their defaults."""
        return {name: p.default for name, p in inspect.signature(self.build).parameters.items()}

    @property
    def summary(self) -> str:
        return inspect.getdoc(self.build).split("\n")[0]


TASKS: dict[str, TaskSpec] = {
    "copy": TaskSpec(copy, "char"),
    "reverse": TaskSpec(reverse, "char"),
    "repeat": TaskSpec(repeat, "char"),
    "duplicate": TaskSpec(duplicate, "char"),
    "sort": TaskSpec(sort, "char"),
    "addition": TaskSpec(addition, "char"),
    "spelling": TaskSpec(spelling, "char", new_noise),
    "reverse_words": TaskSpec(reverse_words, "word"),
    "reverse_text": TaskSpec(reverse_text, "char"),
    "continue": TaskSpec(continue_, "char"),
}


def task_spec(name) -> TaskSpec:
    if not isinstance(name, str) or name not in TASKS:
        raise ValueError(f"task={name!r}: allowed values are {list(TASKS)}")
    return TASKS[name]


def makes_new_prompts(name) -> bool:
    """Whether built-in task `name` can make new prompts for its targets (see :attr:`TaskSpec.new_prompts`)."""
    return isinstance(name, str) and name in TASKS and TASKS[name].new_prompts is not None


def new_prompt_options(name: str, options: dict | None, round: int) -> dict:
    """The options of task `name` for round `round` (> 0) of new prompts for the same targets, in the same splits."""
    if not makes_new_prompts(name):
        able = [task for task in TASKS if makes_new_prompts(task)]
        raise ValueError(f"task={name!r} cannot make new prompts for its targets; of the built-in tasks, {able} can")
    return TASKS[name].new_prompts(dict(options or {}), round)


def make_task(name: str, **options) -> TextDataset:
    """Build built-in task `name` with `options` (see each task's function for the ones it takes)."""
    spec = task_spec(name)
    unknown = sorted(set(options) - set(spec.options))
    if unknown:
        raise ValueError(f"task {name!r} does not take options {unknown}; it takes {sorted(spec.options)}")
    return spec.build(**options)

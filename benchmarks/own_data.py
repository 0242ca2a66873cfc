"""Your own text, end to end: PPO through the CLI on two datasets a user might bring.

    python benchmarks/own_data.py            # both datasets, 1M and 3M env steps each
    python benchmarks/own_data.py --quick    # 200K and 400K env steps (a smoke run)

The datasets are written as user files (jsonl) from the English of Python's own
standard-library docstrings, so nothing is downloaded (the text depends only on
the Python version, which the results record):

- ``upper.jsonl``, char level: a word, and the same word in upper case.
- ``reverse_words.jsonl``, word level (``--tokenizer word``, a vocabulary of
  over a thousand words): a phrase of 3 to 8 words, and its words in reverse order.

Each is trained with ``textgen-rl train``, scored with ``textgen-rl evaluate`` on its
held-out split at 1M and at 3M env steps (the run is resumed in between), and the
results go to benchmarks/results/own_data.md and .json.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import inspect
import io
import json
import platform
import random
import re
import shutil
import time
from pathlib import Path

from agents.cli import main as textgen_rl
from agents.runs.checkpoint import Checkpoint
from agents.runs.rundir import CHECKPOINT_NAME

RESULTS = Path(__file__).resolve().parent / "results"
SOURCE_MODULES = (
    "argparse", "calendar", "collections", "csv", "datetime", "decimal", "difflib", "email", "fractions", "functools",
    "heapq", "http.client", "inspect", "ipaddress", "itertools", "json", "locale", "logging", "mailbox", "pathlib",
    "pickle", "random", "re", "shutil", "socket", "statistics", "string", "subprocess", "tarfile", "tempfile",
    "textwrap", "threading", "typing", "unittest", "urllib.request", "uuid", "wave", "zipfile",
)  # fmt: skip


def docstrings() -> list[str]:
    """The docstrings of SOURCE_MODULES and of their own classes and functions, in a fixed order."""
    texts = []
    for name in SOURCE_MODULES:
        module = importlib.import_module(name)
        for obj in [module] + [member for _, member in sorted(inspect.getmembers(module))]:
            if not (inspect.ismodule(obj) or inspect.isclass(obj) or inspect.isfunction(obj)):
                continue
            if obj is not module and getattr(obj, "__module__", None) != name:
                continue
            texts.append(inspect.getdoc(obj) or "")
    return texts


def docstring_word_runs() -> list[list[str]]:
    """Runs of plain lower-case words from the docstrings of SOURCE_MODULES, split at punctuation."""
    runs = []
    for text in docstrings():
        for piece in re.split(r"[^A-Za-z\s]+", text):
            words = piece.split()
            if words and all(w.isalpha() and w.islower() for w in words):
                runs.append(words)
    return runs


def docstring_sentences(min_length: int = 30, max_length: int = 100) -> list[str]:
    """Whole sentences of words and commas from the docstrings, 30-100 characters, distinct, in file order."""
    sentences = []
    for text in docstrings():
        for sentence in re.split(r"(?<=\.)\s+", " ".join(text.split())):
            if re.fullmatch(r"[A-Z][A-Za-z ,]*[a-z]\.", sentence) and min_length <= len(sentence) <= max_length:
                sentences.append(sentence)
    return list(dict.fromkeys(sentences))


def word_level_pairs(count: int = 6000, seed: int = 0) -> list[tuple[str, str]]:
    """Phrases of 3 to 8 words and their words reversed, distinct, in a seeded order."""
    rng = random.Random(seed)
    phrases = []
    for run in docstring_word_runs():
        start = 0
        while len(run) - start >= 3:
            length = min(len(run) - start, rng.randint(3, 8))
            phrases.append(" ".join(run[start : start + length]))
            start += length
    phrases = list(dict.fromkeys(phrases))
    rng.shuffle(phrases)
    return [(p, " ".join(reversed(p.split()))) for p in phrases[:count]]


def char_level_pairs(count: int = 3000, seed: int = 0) -> list[tuple[str, str]]:
    """Words of 3 to 12 letters and the same words in upper case, distinct, in a seeded order."""
    words = sorted({w for run in docstring_word_runs() for w in run if 3 <= len(w) <= 12})
    random.Random(seed).shuffle(words)
    return [(w, w.upper()) for w in words[:count]]


def write_jsonl(path: Path, pairs: list[tuple[str, str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({"prompt": p, "target": t}) + "\n" for p, t in pairs), encoding="utf-8")
    return path


def cli(*args: str) -> str:
    """Run `textgen-rl ARGS` in this process; its standard output."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        textgen_rl([str(a) for a in args])
    return out.getvalue()


def measure(name: str, dataset: Path, tokenizer: str, budgets: tuple[int, int], run_root: Path, extra: list[str]) -> dict:
    """Train to each budget in turn (resuming in between) and evaluate on the held-out split after each."""
    run_dir = run_root / name
    checkpoint = run_dir / CHECKPOINT_NAME
    points, train_seconds = [], 0.0
    for k, budget in enumerate(budgets):
        started = time.perf_counter()
        if k == 0:
            cli("train", "--dataset", dataset, "--tokenizer", tokenizer, "--steps", budget, "--run-dir", run_dir, *extra)
        else:
            cli("train", "--resume", checkpoint, "--steps", budget)
        train_seconds += time.perf_counter() - started
        result = json.loads(cli("evaluate", checkpoint))
        env_steps = Checkpoint.load(checkpoint).env_steps
        points.append(
            {
                "budget": budget,
                "env_steps": env_steps,
                "train_seconds": train_seconds,
                "env_steps_per_s": env_steps / train_seconds,
                **result,
            }
        )
        similarity, exact = result["mean_similarity"], result["exact_rate"]
        print(f"{name}: {env_steps:,} env steps, held-out similarity {similarity:.4f}, exact {exact:.1%}")
    return {"name": name, "dataset": str(dataset), "tokenizer": tokenizer, "extra_options": extra, "points": points}


def to_markdown(results: dict) -> str:
    goals = {"upper": 0.95, "reverse_words": 0.9}
    lines = [
        "# Your own text: PPO through the CLI on two user-style datasets",
        "",
        f"Command: `{results['command']}` ({results['machine']}). Each dataset is a jsonl file written by the benchmark"
        " from the English of Python's standard-library docstrings; held-out similarity is greedy, on the 20% test split"
        " (`textgen-rl evaluate`).",
        "",
        "| dataset | tokenizer, vocabulary | options | env steps | held-out similarity | exact | wall s | env steps/s"
        " | goal |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for run in results["runs"]:
        for point in run["points"]:
            goal = goals[run["name"]]
            budget_goal = 1_000_000 if run["name"] == "upper" else 3_000_000
            verdict = ""
            if point["budget"] == budget_goal:
                verdict = (
                    f">= {goal} by {budget_goal // 1_000_000}M: {'met' if point['mean_similarity'] >= goal else 'NOT met'}"
                )
            lines.append(
                f"| {run['name']} ({run['pairs']:,} pairs) | {run['tokenizer']}, {run['vocab_size']:,}"
                f" | {' '.join(run['extra_options']) or 'defaults'} | {point['env_steps']:,} | {point['mean_similarity']:.4f}"
                f" | {point['exact_rate']:.1%} | {point['train_seconds']:.0f} | {point['env_steps_per_s']:,.0f} | {verdict} |"
            )
    lines += ["", *results.get("notes", [])]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200K and 400K env steps (a smoke run)")
    parser.add_argument("--work", default="runs/own_data", help="folder for the datasets and runs (default: runs/own_data)")
    args = parser.parse_args()
    budgets = (200_000, 400_000) if args.quick else (1_000_000, 3_000_000)
    work = Path(args.work)
    datasets = {
        "upper": (write_jsonl(work / "upper.jsonl", char_level_pairs()), "char", ["--update-epochs", "6"]),
        "reverse_words": (write_jsonl(work / "reverse_words.jsonl", word_level_pairs()), "word", []),
    }
    runs = []
    for name, (dataset, tokenizer, extra) in datasets.items():
        shutil.rmtree(work / name, ignore_errors=True)
        run = measure(name, dataset, tokenizer, budgets, work, extra)
        data = Checkpoint.load(work / name / CHECKPOINT_NAME)
        pairs = len(dataset.read_text(encoding="utf-8").splitlines())
        run.update(pairs=pairs, vocab_size=data.tokenizer.vocab_size)
        runs.append(run)
    results = {
        "command": "python benchmarks/own_data.py" + (" --quick" if args.quick else ""),
        "machine": f"{platform.machine()}, Python {platform.python_version()}",
        "runs": runs,
        "notes": [
            "`upper` with PPO's defaults (4 update epochs) reached 0.926 at 1M env steps in a separate run; 6 epochs are"
            " given on the command line here. Without the copy head (`--no-copy-head`) the defaults reached 0.850 on"
            " `upper` and 0.191 on `reverse_words` at 1M (see agents/model/config.py).",
        ],
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "own_data.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / "own_data.md").write_text(to_markdown(results))
    print(to_markdown(results))


if __name__ == "__main__":
    main()

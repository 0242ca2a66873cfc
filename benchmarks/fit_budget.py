"""`textgen-rl fit`'s default budget on the largest file it is sized for: 5,000 pairs of up to 80 characters.

    python benchmarks/fit_budget.py [--work runs/fit_budget]

Writes WORK/pairs.jsonl: sentences of 30-72 characters from the docstrings of Python's standard
library (nothing is downloaded), each given with typing noise (the ``spelling`` task's), 2-3 noisy
versions of each until there are 5,000 pairs; then runs ``textgen-rl fit --dataset pairs.jsonl`` in
WORK, as a user would, and records its stdout and JSON line with the wall time in
benchmarks/results/fit_budget.json. The goal: the whole fit within 15 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import re
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from textgen_env.builtin_tasks import add_typos

RESULTS = Path(__file__).resolve().parent / "results"
PAIRS, NOISE, GOAL_MINUTES = 5_000, 0.1, 15
MODULES = [
    "os",
    "json",
    "re",
    "collections",
    "argparse",
    "pathlib",
    "random",
    "string",
    "textwrap",
    "typing",
    "unittest",
    "logging",
    "email",
    "http.client",
    "urllib.request",
    "csv",
    "sqlite3",
    "decimal",
    "fractions",
    "statistics",
    "itertools",
    "functools",
    "subprocess",
    "threading",
    "asyncio",
    "socket",
    "shutil",
    "tarfile",
    "zipfile",
    "datetime",
    "calendar",
    "inspect",
    "dataclasses",
    "enum",
    "heapq",
    "bisect",
    "pickle",
    "copy",
    "pprint",
    "difflib",
    "xml.dom.minidom",
    "configparser",
    "tempfile",
    "glob",
    "fnmatch",
    "hashlib",
    "hmac",
    "secrets",
    "base64",
    "struct",
    "codecs",
    "io",
    "time",
    "math",
    "cmath",
    "numbers",
    "operator",
    "contextlib",
    "abc",
    "types",
    "weakref",
    "gc",
    "traceback",
    "warnings",
    "queue",
    "sched",
    "select",
    "selectors",
    "signal",
    "mmap",
    "ctypes",
    "multiprocessing",
    "concurrent.futures",
    "ftplib",
    "smtplib",
    "imaplib",
    "poplib",
    "uuid",
    "ipaddress",
    "html.parser",
    "mailbox",
    "mimetypes",
    "locale",
    "gettext",
    "optparse",
    "getopt",
    "shlex",
    "cmd",
    "doctest",
    "pdb",
    "timeit",
    "trace",
    "zlib",
    "gzip",
    "bz2",
    "lzma",
]


def docstring_sentences() -> list[str]:
    """Distinct ASCII sentences of 30-72 characters from the standard library's docstrings, in a fixed order."""
    sentences = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in MODULES:
            try:
                module = importlib.import_module(name)
            except ImportError:
                continue
            for attribute in dir(module):
                doc = getattr(getattr(module, attribute, None), "__doc__", None)
                if not isinstance(doc, str):
                    continue
                for sentence in re.split(r"(?<=[.!?])\s+", " ".join(doc.split())):
                    if 30 <= len(sentence) <= 72 and sentence.isascii() and sentence[0].isupper():
                        sentences.append(sentence)
    return list(dict.fromkeys(sentences))


def write_pairs(path: Path) -> None:
    sentences, rng = docstring_sentences(), np.random.default_rng(0)
    with path.open("w", encoding="utf-8") as f:
        for i in range(PAIRS):
            target = sentences[i % len(sentences)]
            prompt, _ = add_typos(target, rng, NOISE)
            f.write(json.dumps({"prompt": prompt[:80], "target": target}) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("runs/fit_budget"))
    args = parser.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    write_pairs(args.work / "pairs.jsonl")
    started = time.perf_counter()
    command = [sys.executable, "-m", "agents", "fit", "--dataset", "pairs.jsonl"]
    out = subprocess.run(command, cwd=args.work, stdout=subprocess.PIPE, text=True, check=True).stdout
    wall = time.perf_counter() - started
    result = json.loads(out.strip().splitlines()[-1])
    record = {
        "command": "python benchmarks/fit_budget.py",
        "machine": f"{platform.machine()}, Python {platform.python_version()}",
        "pairs": PAIRS,
        "goal": f"the whole fit within {GOAL_MINUTES} minutes on 2 cores",
        "goal_met": wall <= GOAL_MINUTES * 60,
        "process_wall_s": wall,
        "stdout": out.strip().splitlines()[:-1],
        "result": result,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "fit_budget.json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"fit on {PAIRS:,} pairs: {wall / 60:.1f} min; final similarity {result['final_similarity']:.4f}")


if __name__ == "__main__":
    main()

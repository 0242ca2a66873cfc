"""The peer a user would try first for typing errors: SymSpell, word by word, with the English dictionary it ships.

    pip install 'textgen-env[bench]'     # symspellpy

:func:`symspell_scores` corrects each held-out prompt of a task (every run of letters looked up, at most 2 edits
away, its casing kept; spaces and punctuation as they are) and scores the texts as ``fit`` scores its policy:
normalized Levenshtein similarity over the task's tokens, difflib's ratio, exact matches.
"""

from __future__ import annotations

import re
import time
from importlib import resources

from agents.model.evaluation import score_generations
from textgen_env.task import TextTask

WORD = re.compile(r"[A-Za-z]+|[^A-Za-z]+")
DICTIONARY = "frequency_dictionary_en_82_765.txt"


def symspell():
    """SymSpell loaded with its shipped English word frequencies, or None without symspellpy."""
    try:
        from symspellpy import SymSpell
    except ImportError:
        return None
    speller = SymSpell(max_dictionary_edit_distance=2, prefix_length=7)
    speller.load_dictionary(str(resources.files("symspellpy").joinpath(DICTIONARY)), term_index=0, count_index=1)
    return speller


def correct(speller, text: str) -> str:
    """`text` with each run of letters replaced by SymSpell's closest dictionary word (itself where none is near)."""
    from symspellpy import Verbosity

    out = []
    for piece in WORD.findall(text):
        if piece.isalpha():
            found = speller.lookup(piece, Verbosity.TOP, max_edit_distance=2, include_unknown=True, transfer_casing=True)
            piece = found[0].term if found else piece
        out.append(piece)
    return "".join(out)


def symspell_scores(task: TextTask) -> dict | None:
    """SymSpell's figures on `task`'s pairs (its held-out split, as given), with its wall seconds; None if not installed."""
    speller = symspell()
    if speller is None:
        return None
    started = time.perf_counter()
    texts = [correct(speller, prompt) for prompt in task.dataset.prompts]
    result = score_generations(task, [task.encode(text, "SymSpell's text") for text in texts])
    return {
        "mean_similarity": result["mean_similarity"],
        "mean_difflib_ratio": result["mean_difflib_ratio"],
        "exact_rate": result["exact_rate"],
        "wall_s": time.perf_counter() - started,
    }

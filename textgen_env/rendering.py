"""Rendering one episode: as text with the differences to the target marked, or as an RGB frame.

The RGB frame is three rows of cells, one cell per token, each showing the token's
(first) character in a 5x7 bitmap font (:mod:`textgen_env.font`). The top row is the
prompt; the middle row is the generation, each cell coloured by how the token aligns
with the target (green: matches, red: wrong token, orange: extra token, dark: not
written yet); the bottom row is the target (blue: matched, grey: still missing). It
suits video recorders such as Gymnasium's ``RecordVideo``, whose frames can be read.
"""

from __future__ import annotations

import numpy as np
from rapidfuzz.distance import Levenshtein

from textgen_env.font import HEIGHT, WIDTH, glyph
from textgen_env.tokenizers import FIRST_ORDINARY_ID, UNK_ID

CELL = 10  # pixels per token cell: a 5x7 glyph with a margin, and a one-pixel grid line
_GLYPH_AT = (1, 2)  # the glyph's top-left pixel in its cell
_INK = (245, 245, 245)
_COLOURS = {
    "background": (24, 24, 24),
    "prompt": (150, 150, 150),
    "equal": (60, 180, 75),
    "replace": (220, 50, 47),
    "extra": (245, 130, 48),
    "target_matched": (67, 99, 216),
    "target_missing": (90, 90, 90),
    "empty": (45, 45, 45),
}


def _readable(ids: list[int]) -> list[int]:
    """Negative ids (target tokens no action can produce) read as UNK."""
    return [i if i >= 0 else UNK_ID for i in ids]


def mark_differences(tokenizer, generated: list[int], target: list[int]) -> str:
    """The generation with edits marked: ``[wrong->right]``, ``[-extra]``, ``{+missing}``."""
    parts = []
    for tag, g0, g1, t0, t1 in Levenshtein.opcodes(generated, target):
        got, want = tokenizer.decode(generated[g0:g1]), tokenizer.decode(_readable(target[t0:t1]))
        if tag == "equal":
            parts.append(got)
        elif tag == "replace":
            parts.append(f"[{got}->{want}]")
        elif tag == "delete":
            parts.append(f"[-{got}]")
        else:
            parts.append(f"{{+{want}}}")
    return "".join(parts)


def render_text(
    tokenizer, prompt: list[int], generated: list[int], target: list[int], distance, metric: str, done: bool
) -> str:
    status = "done" if done else f"{len(generated)} tokens so far"
    return (
        f"prompt    : {tokenizer.decode(prompt)!r}\n"
        f"generated : {tokenizer.decode(generated)!r} ({status})\n"
        f"target    : {tokenizer.decode(_readable(target))!r}\n"
        f"distance  : {distance} ({metric})\n"
        f"diff      : {mark_differences(tokenizer, generated, target)}\n"
    )


def render_rgb(tokenizer, prompt: list[int], generated: list[int], target: list[int], width: int) -> np.ndarray:
    """An (3 * CELL, width * CELL, 3) uint8 frame of the episode (see the module docstring)."""
    rows = np.zeros((3, width), dtype=np.int64)  # colour indices into `palette`
    names = list(_COLOURS)
    palette = np.array([_COLOURS[n] for n in names], dtype=np.uint8)
    rows[:] = names.index("empty")
    rows[0, : len(prompt)] = names.index("prompt")
    rows[2, : len(target)] = names.index("target_missing")
    for tag, g0, g1, t0, t1 in Levenshtein.opcodes(generated, target):
        if tag == "equal":
            rows[1, g0:g1] = names.index("equal")
            rows[2, t0:t1] = names.index("target_matched")
        elif tag == "replace":
            rows[1, g0:g1] = names.index("replace")
        elif tag == "delete":
            rows[1, g0:g1] = names.index("extra")
    frame = np.repeat(np.repeat(palette[rows], CELL, axis=0), CELL, axis=1)
    frame[CELL - 1 :: CELL, :] = _COLOURS["background"]  # one-pixel grid lines between cells
    frame[:, CELL - 1 :: CELL] = _COLOURS["background"]
    for row, ids in enumerate((prompt, generated, _readable(target))):
        for column, token in enumerate(ids[:width]):
            top, left = row * CELL + _GLYPH_AT[0], column * CELL + _GLYPH_AT[1]
            pixels = glyph(token_character(tokenizer, token))
            frame[top : top + HEIGHT, left : left + WIDTH][pixels] = _INK
    return frame


def token_character(tokenizer, token: int) -> str:
    """The character a cell shows for `token`: its text's first character, "?" for UNK and other specials."""
    text = tokenizer.decode([token]) if token >= FIRST_ORDINARY_ID else ""
    return text.strip()[:1] or text[:1] or ("?" if token < FIRST_ORDINARY_ID else " ")

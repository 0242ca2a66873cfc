"""Text rendering of one episode, with the differences to the target marked."""

from __future__ import annotations

from rapidfuzz.distance import Levenshtein


def mark_differences(tokenizer, generated: list[int], target: list[int]) -> str:
    """The generation with edits marked: ``[wrong->right]``, ``[-extra]``, ``{+missing}``."""
    parts = []
    for tag, g0, g1, t0, t1 in Levenshtein.opcodes(generated, target):
        got, want = tokenizer.decode(generated[g0:g1]), tokenizer.decode(target[t0:t1])
        if tag == "equal":
            parts.append(got)
        elif tag == "replace":
            parts.append(f"[{got}->{want}]")
        elif tag == "delete":
            parts.append(f"[-{got}]")
        else:
            parts.append(f"{{+{want}}}")
    return "".join(parts)


def render_episode(tokenizer, prompt: list[int], generated: list[int], target: list[int], distance, metric: str, done: bool) -> str:
    status = "done" if done else f"{len(generated)} tokens so far"
    return (
        f"prompt    : {tokenizer.decode(prompt)!r}\n"
        f"generated : {tokenizer.decode(generated)!r} ({status})\n"
        f"target    : {tokenizer.decode(target)!r}\n"
        f"distance  : {distance} ({metric})\n"
        f"diff      : {mark_differences(tokenizer, generated, target)}\n"
    )

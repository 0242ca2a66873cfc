"""Write textgen_env/data/sentences.txt: the built-in English corpus of the `continue` task.

The sentences come from a small hand-written grammar, drawn with a fixed seed,
so the file is reproducible: `python tools/make_corpus.py` rewrites it unchanged.
"""

import pathlib
import random

SUBJECTS = [
    "the old cat",
    "a young dog",
    "my sister",
    "the farmer",
    "our teacher",
    "the small bird",
    "a tired baker",
    "the little girl",
    "his brother",
    "the kind nurse",
    "a quiet boy",
    "the red fox",
    "her friend",
    "the busy cook",
    "a brave sailor",
    "the happy child",
]
VERBS = [
    ("sleeps", "on the warm mat"),
    ("reads", "a long book"),
    ("walks", "to the market"),
    ("sings", "a soft song"),
    ("paints", "the wooden fence"),
    ("opens", "the heavy door"),
    ("finds", "a shiny coin"),
    ("bakes", "fresh bread"),
    ("plants", "a green tree"),
    ("writes", "a short letter"),
    ("carries", "a basket of apples"),
    ("watches", "the falling rain"),
    ("cleans", "the kitchen floor"),
    ("climbs", "the tall hill"),
    ("feeds", "the hungry ducks"),
    ("fixes", "the broken chair"),
]
TIMES = [
    "every morning",
    "after lunch",
    "in the evening",
    "on sunday",
    "before dinner",
    "at night",
    "in the spring",
    "after school",
    "every day",
    "in the summer",
]
REASONS = [
    "because it is fun",
    "with great care",
    "without a word",
    "while the sun shines",
    "as the bells ring",
    "with a big smile",
]


def sentences(count: int, seed: int = 2026) -> list[str]:
    rng = random.Random(seed)
    made, seen = [], set()
    while len(made) < count:
        subject = rng.choice(SUBJECTS)
        verb, obj = rng.choice(VERBS)
        parts = [subject, verb, obj]
        if rng.random() < 0.7:
            parts.append(rng.choice(TIMES))
        if rng.random() < 0.3:
            parts.append(rng.choice(REASONS))
        text = " ".join(parts) + "."
        text = text[0].upper() + text[1:]
        if text not in seen:
            seen.add(text)
            made.append(text)
    return made


if __name__ == "__main__":
    out = pathlib.Path(__file__).resolve().parent.parent / "textgen_env" / "data" / "sentences.txt"
    out.write_text("\n".join(sentences(400)) + "\n", encoding="utf-8")
    print(f"wrote {out}")

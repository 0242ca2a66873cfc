"""Odd input, long runs: random cases by category that must either work or fail with a clear error.

1. Fuzz: random odd inputs by category (texts in every script, dataset files with
   BOMs, stray quotes and line separators, reset options, actions, env arguments,
   tokenizer ids, reward integrity, corrupted checkpoints, run folders). Each case must either
   work, with the contracts holding (dense rewards sum to the sparse one, distances
   equal rapidfuzz's, no unproducible target token is ever matched), or raise a
   ValueError/TypeError that names the bad value. Anything else is a failure.
2. Memory: the process's resident memory over millions of vector steps (slow).
3. Equivalence: the numba and numpy backends and Gymnasium's SyncVectorEnv over
   single envs, step by step over long random runs, every output compared (slow).

The default suite runs a few cases per category; ``pytest -m slow tests/test_fuzz.py`` the full counts.
"""

from __future__ import annotations

import json
import os
import random
import tempfile
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from rapidfuzz.distance import Levenshtein

import textgen_env
from textgen_env import EOS_ID, UNK_ID, UNMATCHABLE, TextGenerationEnv, load_pairs
from textgen_env.core import numba_core

ODD_CHARACTERS = "aé漢字🙂\u2028\u0085\x0c\t\"',;\\ \u200bÅ\u0301ß"


class Failure(Exception):
    """A case that neither worked nor raised a clear error."""


def random_text(rng: random.Random, low: int = 0, high: int = 12) -> str:
    alphabet = ODD_CHARACTERS + "abcdefghij"
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(low, high)))


def expect_clear_error(call, *names: str):
    """Run `call`; a ValueError/TypeError must mention one of `names` (the bad argument or value)."""
    try:
        return call()
    except (ValueError, TypeError) as e:
        if names and not any(n in str(e) for n in names):
            raise Failure(f"error does not name {names}: {e}") from None
        return None


def play_random(env, rng: random.Random, invalid_rate: float = 0.2) -> list[float]:
    rewards, done = [], False
    vocab = env.action_space.n
    while not done:
        action = rng.randrange(vocab) if rng.random() < invalid_rate else rng.randrange(4, vocab)
        if rng.random() < 0.1:
            action = EOS_ID
        _, reward, done, _, info = env.step(action)
        rewards.append(reward)
    return rewards


# -- fuzz categories ------------------------------------------------------------------------


def fuzz_texts(rng: random.Random) -> None:
    pairs = [(random_text(rng), random_text(rng, 1)) for _ in range(rng.randint(1, 6))]
    tokenizer = rng.choice(["char", "word"])
    env = expect_clear_error(
        lambda: TextGenerationEnv(dataset=pairs, split="all", tokenizer=tokenizer), "target", "word", "tokens"
    )
    if env is None:
        return
    env.reset(seed=rng.randrange(1000))
    play_random(env, rng)


def fuzz_files(rng: random.Random, folder: Path) -> None:
    pairs = [(random_text(rng).replace("\n", " "), random_text(rng, 1).replace("\n", " ")) for _ in range(rng.randint(1, 5))]
    bom = "\ufeff" if rng.random() < 0.3 else ""
    newline = rng.choice(["\n", "\r\n"])
    kind = rng.choice(["jsonl", "tsv", "csv"])
    path = folder / f"case.{kind}"
    if kind == "jsonl":
        text = newline.join(json.dumps({"prompt": p, "target": t}, ensure_ascii=rng.random() < 0.5) for p, t in pairs)
    elif kind == "tsv":
        pairs = [(p.replace("\t", " "), t.replace("\t", " ")) for p, t in pairs]
        text = newline.join(["prompt\ttarget"] + [f"{p}\t{t}" for p, t in pairs])
    else:
        import csv
        import io

        out = io.StringIO()
        csv.writer(out, lineterminator=newline).writerows([["prompt", "target"], *pairs])
        text = out.getvalue()
    path.write_text(bom + text + newline, encoding="utf-8", newline="")
    loaded = load_pairs(path).pairs
    if [(p.prompt, p.target) for p in loaded] != pairs:
        raise Failure(f"{kind} file read back differently: {pairs!r} -> {loaded!r}")


def fuzz_reset_options(rng: random.Random, env: TextGenerationEnv) -> None:
    values = [rng.randrange(-3, 10_000), 1.5, "3", None, [1], {"a": 1}, True, random_text(rng)]
    keys = ["index", "prompt", "target", "colour"]
    options = {k: rng.choice(values) for k in rng.sample(keys, rng.randint(0, 3))}
    if rng.random() < 0.1:
        options = rng.choice([5, "index", [("index", 1)]])
    result = expect_clear_error(lambda: env.reset(options=options), "options", "index", "prompt", "target", "colour")
    if result is not None:
        _, info = result
        if set(info) != {"distance", "index", "invalid_action", "similarity"}:
            raise Failure(f"reset info keys {sorted(info)}")


def fuzz_actions(rng: random.Random, env: TextGenerationEnv) -> None:
    env.reset(seed=rng.randrange(100))
    candidates = [
        rng.randrange(-5, env.action_space.n + 5),
        True,
        2.0,
        "4",
        None,
        np.int64(5),
        np.array(6),
        np.array([7]),
        np.array([1, 2]),
        np.bool_(True),
    ]
    action = rng.choice(candidates)
    expect_clear_error(lambda: env.step(action), "action")


def fuzz_env_arguments(rng: random.Random) -> None:
    name, value = rng.choice(
        [
            ("max_new_tokens", rng.choice([0, -1, True, "8", 2.5])),
            ("min_new_tokens", rng.choice([-1, 10_000, True])),
            ("max_prompt_tokens", rng.choice([0, False, 1.0])),
            ("flat_observation", rng.choice(["false", 1, None])),
            ("reward", rng.choice(["shaped", 3, None])),
            ("metric", rng.choice(["cosine", 3])),
            ("split", rng.choice(["validation", 1])),
            ("render_mode", rng.choice(["video", 1])),
            ("task", rng.choice(["poetry", 5])),
            ("task_options", rng.choice([5, {"colour": 1}, {"min_length": 0}, {"max_length": 2.5}])),
            ("tokenizer", rng.choice(["bpe", 5, "/"])),
        ]
    )
    shown = {"task_options": "option", "tokenizer": "tokenizer", "task": "task"}.get(name, name)
    expect_clear_error(
        lambda: TextGenerationEnv(
            task="copy" if name not in ("task",) else value, **({} if name == "task" else {name: value})
        ),
        shown,
        "min_length",
        "max_length",
        "colour",
    )


def fuzz_tokenizer_ids(rng: random.Random) -> None:
    bad = rng.random() < 0.5

    class Tokenizer:
        vocab_size = 20

        def encode(self, text):
            ids = [4 + (ord(c) % 16) for c in text]
            if bad and ids:
                ids[rng.randrange(len(ids))] = rng.choice([-1, 20, 99, 2.5])
            return ids

        def decode(self, ids):
            return "".join(chr(97 + i % 26) for i in ids)

    pairs = [(random_text(rng, 1), random_text(rng, 1)) for _ in range(3)]
    env = expect_clear_error(
        lambda: TextGenerationEnv(dataset=pairs, split="all", tokenizer=Tokenizer()), "outside its vocabulary"
    )
    if bad and env is not None:
        raise Failure("an out-of-vocabulary id was accepted")


def fuzz_reward_integrity(rng: random.Random) -> None:
    env = TextGenerationEnv(dataset=[("ab", "ab")], split="all", min_new_tokens=0, max_new_tokens=12, reward="dense")
    sparse = TextGenerationEnv(dataset=[("ab", "ab")], split="all", min_new_tokens=0, max_new_tokens=12, reward="sparse")
    target = "".join(rng.choice("ab€¤") for _ in range(rng.randint(1, 8)))
    seed = rng.randrange(1000)
    totals = []
    for e in (env, sparse):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            e.reset(options={"prompt": "ab", "target": target})
        totals.append(sum(play_random(e, random.Random(seed))))
        generated, target_ids = e.generated_ids(), e.target_ids()
        expected = Levenshtein.distance(generated, target_ids)
        distance = e.core.distances()[0]
        if distance != expected:
            raise Failure(f"distance {distance} != rapidfuzz {expected}")
        if UNMATCHABLE in target_ids and generated == target_ids:
            raise Failure("an unproducible target was matched")
        if any(t == UNK_ID for t in target_ids):
            raise Failure("UNK left in a target, where invalid actions could match it")
    if abs(totals[0] - totals[1]) > 1e-9:
        raise Failure(f"dense total {totals[0]} != sparse {totals[1]}")


def fuzz_checkpoints(rng: random.Random, checkpoint: Path, folder: Path) -> None:
    from agents.runs.checkpoint import Checkpoint, CheckpointError

    data = bytearray(checkpoint.read_bytes())
    for _ in range(rng.randint(1, 20)):
        data[rng.randrange(len(data))] = rng.randrange(256)
    if rng.random() < 0.3:
        data = data[: rng.randrange(len(data))]
    corrupted = folder / "corrupted.pt"
    corrupted.write_bytes(bytes(data))
    try:
        Checkpoint.load(corrupted)
    except CheckpointError as e:
        if "corrupted.pt" not in str(e):
            raise Failure(f"checkpoint error does not name the file: {e}") from None


def fuzz_numeric_options(rng: random.Random) -> None:
    """A random numeric field of a config set to a random value: accepted within its bounds, else refused by name."""
    from agents.options import numeric_fields
    from agents.registry import CONFIGS

    cls = rng.choice(list(CONFIGS.values()))
    field, kind = rng.choice(numeric_fields(cls))
    value = rng.choice([float("nan"), float("inf"), -float("inf"), -1, 0, 1, 0.5, 2, 1e9, -1e-9, True, "3"])
    try:
        config = cls(**{field.name: value})  # an error between fields (num_minibatches > num_envs) names both
    except ValueError as e:
        if field.name not in str(e):
            raise Failure(f"{cls.__name__}({field.name}={value!r}): the error does not name the field: {e}") from None
        return
    got, meta = getattr(config, field.name), field.metadata
    bad = (
        isinstance(value, (bool, str))
        or not np.isfinite(got)
        or (meta.get("minimum") is not None and got < meta["minimum"])
        or (meta.get("above") is not None and got <= meta["above"])
        or (meta.get("maximum") is not None and got > meta["maximum"])
        or (kind is int and got < 0 and meta.get("minimum") is None)
    )
    if bad:
        raise Failure(f"{cls.__name__}({field.name}={value!r}) was accepted")


def fuzz_run_folders(rng: random.Random, folder: Path) -> None:
    """A folder holding a random part of a run: a fresh run refuses it, --overwrite clears only the run, and the
    default name's next free folder holds nothing."""
    import shutil

    from agents.runs.rundir import LOCK_NAME, RunDirectory, RunDirError, claim_free

    base = folder / f"runs-{rng.randrange(10**9)}" / "ppo-copy-0"
    base.mkdir(parents=True)
    run_parts = [p for p in ("checkpoint.pt", "progress.csv", "tensorboard") if rng.random() < 0.4]
    other = rng.random() < 0.5
    for part in run_parts:
        (base / part).mkdir() if part == "tensorboard" else (base / part).write_text("x")
    if other:
        (base / "notes.txt").write_text("mine")
    directory = RunDirectory(base)
    try:
        directory.start_fresh(overwrite=False)
        refused = False
    except RunDirError as e:
        refused = True
        if "--resume" not in str(e) or "--overwrite" not in str(e):
            raise Failure(f"the refusal does not name --resume and --overwrite: {e}") from None
    if refused != bool(run_parts):
        raise Failure(f"a folder holding {run_parts} was {'refused' if refused else 'accepted'}")
    free = Path(claim_free(base))
    if free.exists() and any(p.name != LOCK_NAME for p in free.iterdir()):  # its own claim aside
        raise Failure(f"claim_free gave {free}, which holds files")
    if (free == base) == bool(run_parts or other):
        raise Failure(f"claim_free({base}) gave {free} for a folder holding {run_parts}, other files: {other}")
    directory.start_fresh(overwrite=True)
    if directory.holds_run() or (other and not (base / "notes.txt").exists()):
        raise Failure("--overwrite left a run behind, or removed a file that is not the run's")
    shutil.rmtree(base.parent)


def fuzz_data_rules(rng: random.Random, folder: Path) -> None:
    """One-word .txt lines skipped and counted, lone CRs kept inside CSV fields, identical pairs in one split."""
    import csv
    import io
    import warnings

    words = ["alpha", "beta", "gamma", "delta", "é", "\u2028x"]
    lines = [" ".join(rng.choice(words) for _ in range(rng.randint(1, 4))) for _ in range(rng.randint(1, 12))]
    usable = [line for line in lines if len(line.split()) > 1]
    path = folder / f"text-{rng.randrange(10**9)}.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            pairs = load_pairs(path).pairs
        except ValueError as e:
            if usable or "no line has two words" not in str(e):
                raise Failure(f"{lines!r}: {e}") from None
            pairs = []
    if [p.prompt + p.target for p in pairs] != usable:
        raise Failure(f"{lines!r}: pairs {pairs!r}")
    skipped = len(lines) - len(usable)
    if usable and skipped and not any(f"skipped {skipped} lines of one word" in str(w.message) for w in caught):
        raise Failure(f"{lines!r}: no warning counting {skipped} skipped lines")
    rows = [(random_text(rng, 1).replace("\n", "") + "\r" * rng.randint(0, 1) + "z", random_text(rng, 1)) for _ in range(5)]
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n" if rng.random() < 0.5 else "\n")
    writer.writerow(["prompt", "target"])
    writer.writerows(rows)
    path = folder / f"cr-{rng.randrange(10**9)}.csv"
    path.write_bytes(out.getvalue().encode("utf-8"))
    got = [(p.prompt, p.target) for p in load_pairs(path).pairs]
    if got != rows:
        raise Failure(f"CSV rows {rows!r} read back as {got!r}")
    repeated = [(f"p{rng.randrange(6)}", "t") for _ in range(rng.randint(2, 30))]
    dataset = textgen_env.TextDataset(repeated)
    if len(set(repeated)) > 1 and set(dataset.split("train").pairs) & set(dataset.split("test").pairs):
        raise Failure(f"identical pairs straddle the split: {repeated!r}")


def fuzz_tokenizer_vocabularies(rng: random.Random, folder: Path) -> None:
    """Hugging Face vocabularies with id gaps and specials under any common name, and char vocabularies holding
    any str (lone surrogates too): encoding round-trips, saving and loading too."""
    import warnings

    import tokenizers

    from textgen_env.tokenizers import HF_SPECIAL_NAMES, CharTokenizer, HuggingFaceTokenizer, load_tokenizer

    specials = [rng.choice(HF_SPECIAL_NAMES[role]) for role in ("pad", "bos", "eos", "unk")]
    words = [f"w{i}" for i in range(rng.randint(1, 8))]
    ids = sorted(rng.sample(range(60), len(specials) + len(words)))
    rng.shuffle(ids)
    hf = tokenizers.Tokenizer(tokenizers.models.WordLevel(dict(zip(specials + words, ids)), unk_token=specials[3]))
    hf.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    hf.add_special_tokens(specials[:3])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tok = HuggingFaceTokenizer(hf)
    text = " ".join(rng.choice(words) for _ in range(rng.randint(1, 6)))
    if tok.decode(tok.encode(text)) != hf.decode(hf.encode(text).ids):
        raise Failure(f"{text!r} does not round-trip through a vocabulary with id gaps {ids}")
    if tok.special_tokens.get("eos") != specials[2]:
        raise Failure(f"EOS named {specials[2]!r} was not recognised: {tok.special_tokens}")
    odd = "".join(chr(rng.choice([0xD800, 0xDFFF, 0xE000, 0x1F600, 0x301])) for _ in range(3))
    char = CharTokenizer.from_texts(["ab" + odd])
    path = folder / f"vocab-{rng.randrange(10**9)}.json"
    char.save(path)
    if load_tokenizer(str(path)) != char or list(folder.glob("*.tmp")):
        raise Failure(f"a vocabulary holding {odd!r} did not save and load whole")


def fuzz_reset_masks(rng: random.Random) -> None:
    """Random reset masks and seeds on the native vector env and on SyncVectorEnv: the same observations and infos."""
    n = rng.randint(1, 5)
    native = gym.make_vec("TextGeneration-v0", num_envs=n, task="reverse")
    sync = gym.make_vec("TextGeneration-v0", num_envs=n, task="reverse", vectorization_mode="sync")
    seed = rng.randrange(100)
    results = [(native.reset(seed=seed), sync.reset(seed=seed))]
    for _ in range(rng.randint(1, 6)):
        actions = np.array([rng.randrange(4, native.single_action_space.n) for _ in range(n)])
        native.step(actions), sync.step(actions)
        mask = np.array([rng.random() < 0.5 for _ in range(n)])
        mask[rng.randrange(n)] = True
        seed = rng.choice([None, rng.randrange(100)])
        results.append(
            (native.reset(seed=seed, options={"reset_mask": mask}), sync.reset(seed=seed, options={"reset_mask": mask.copy()}))
        )
    for got, expected in results:
        if not _same(got, expected):
            raise Failure(f"reset_mask results differ from SyncVectorEnv's: {got} != {expected}")


def run_fuzz(cases: int, seed: int = 0) -> dict:
    rng = random.Random(seed)
    counts: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        env = TextGenerationEnv(task="copy")
        categories = {
            "texts in many scripts (char and word tokenizers)": lambda: fuzz_texts(rng),
            "dataset files (.jsonl/.csv/.tsv, BOM, CRLF, quotes, U+2028)": lambda: fuzz_files(rng, folder),
            "reset options (types, values, combinations)": lambda: fuzz_reset_options(rng, env),
            "actions (out of range, bools, floats, strings, arrays)": lambda: fuzz_actions(rng, env),
            "env arguments (types and values)": lambda: fuzz_env_arguments(rng),
            "tokenizer ids (out of range, non-integer)": lambda: fuzz_tokenizer_ids(rng),
            "reward integrity (unknown target characters, invalid actions)": lambda: fuzz_reward_integrity(rng),
            "data rules (one-word .txt lines, lone CR in CSV fields, identical pairs in one split)": lambda: fuzz_data_rules(
                rng, folder
            ),
            "reset_mask (against SyncVectorEnv)": lambda: fuzz_reset_masks(rng),
        }
        try:
            import tokenizers  # noqa: F401  (the 'tokenizers' extra)

            categories["tokenizer vocabularies (id gaps, special names, any str saved)"] = lambda: fuzz_tokenizer_vocabularies(
                rng, folder
            )
        except ImportError:
            pass
        checkpoint = _tiny_checkpoint(folder)
        if checkpoint is not None:
            categories["corrupted checkpoints (bytes flipped, truncated)"] = lambda: fuzz_checkpoints(rng, checkpoint, folder)
            categories["numeric options (nan, inf, negatives, zeros, wrong types)"] = lambda: fuzz_numeric_options(rng)
            categories["run folders (existing runs, numbering, --overwrite)"] = lambda: fuzz_run_folders(rng, folder)
        for name, case in categories.items():
            failures = []
            for _ in range(cases):
                try:
                    case()
                except Failure as e:
                    failures.append(str(e))
                except Exception as e:  # anything else is a crash
                    failures.append(f"{type(e).__name__}: {e}")
            counts[name] = {"cases": cases, "failures": len(failures), "examples": failures[:3]}
            print(f"fuzz {name}: {cases} cases, {len(failures)} failures")
    return counts


def _tiny_checkpoint(folder: Path) -> Path | None:
    try:
        from agents.algorithms.a2c import A2C, A2CConfig
        from agents.model.policy import PolicyConfig
        from agents.runs.config import EnvConfig
    except ImportError:  # the 'agents' extra (torch) is not installed
        return None
    options = {"num_examples": 20, "min_length": 2, "max_length": 3, "alphabet": "abc"}
    run = A2C(
        A2CConfig(
            env=EnvConfig(task="copy", task_options=options),
            policy=PolicyConfig(8, 16),
            num_envs=8,
            total_env_steps=50,
            run_dir=str(folder / "run"),
        )
    )
    run.learn()
    return run.checkpoint_path


# -- memory and equivalence ----------------------------------------------------------------


def resident_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def run_memory(vector_steps: int, num_envs: int = 16) -> dict:
    env = gym.make_vec("TextGeneration-v0", num_envs=num_envs)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    batches = rng.integers(2, env.single_action_space.n, size=(1000, num_envs))
    samples = []
    started = time.perf_counter()
    for step in range(vector_steps):
        env.step(batches[step % 1000])
        if step % (vector_steps // 10) == 0 or step == vector_steps - 1:
            samples.append({"vector_steps": step + 1, "rss_mib": round(resident_mib(), 1)})
    rss = [s["rss_mib"] for s in samples]
    print(f"memory: {vector_steps:,} vector steps of {num_envs} envs, RSS {rss[1]:.1f} -> {rss[-1]:.1f} MiB")
    return {
        "num_envs": num_envs,
        "vector_steps": vector_steps,
        "env_steps": vector_steps * num_envs,
        "seconds": time.perf_counter() - started,
        "samples": samples,
        "growth_after_warmup_mib": rss[-1] - rss[1],
    }


def run_equivalence(steps: int) -> list[dict]:
    from gymnasium.vector import AutoresetMode

    configs = [
        {"task": "reverse"},
        {"task": "continue", "reward": "sparse"},
        {"task": "addition", "metric": "indel", "reward": "exact"},
        {"task": "spelling", "reward": "inverse"},
        {"task": "copy", "min_new_tokens": 3, "max_episode_steps": 5},
    ]
    out = []
    for config in configs:
        for mode in (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP):
            envs = {
                "sync": gym.make_vec(
                    "TextGeneration-v0",
                    num_envs=8,
                    vectorization_mode="sync",
                    vector_kwargs={"autoreset_mode": mode},
                    **config,
                )
            }
            backends = ["numpy"] + (["numba"] if numba_core.AVAILABLE else [])
            for backend in backends:
                envs[backend] = gym.make_vec("TextGeneration-v0", num_envs=8, autoreset_mode=mode, backend=backend, **config)
            resets = [env.reset(seed=3) for env in envs.values()]
            mismatches = sum(not _same(resets[0], got) for got in resets[1:])
            rng = np.random.default_rng(3)
            episodes = 0
            for _ in range(steps):
                actions = rng.integers(0, envs["sync"].single_action_space.n, size=8)
                actions[rng.random(8) < 0.1] = EOS_ID
                results = {name: env.step(actions) for name, env in envs.items()}
                reference = results["sync"]
                episodes += int(reference[2].sum())
                mismatches += sum(not _same(reference, got) for got in results.values())
            row = {
                **config,
                "autoreset": mode.value,
                "compared": list(envs),
                "steps": steps,
                "episodes": episodes,
                "mismatching_steps": mismatches,
            }
            print(f"equivalence {row}")
            out.append(row)
    return out


def _same(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray) and a.dtype == object:
        return a.shape == b.shape and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
    return a == b


FULL_CASES, FULL_VECTOR_STEPS, FULL_EQUIVALENCE_STEPS = 400, 5_000_000, 20_000


def test_the_fuzz_categories_hold():
    """A few random odd inputs per category: none may crash or break a contract."""
    counts = run_fuzz(cases=15, seed=1)
    assert len(counts) >= 7 and {name: row["failures"] for name, row in counts.items()} == {name: 0 for name in counts}


@pytest.mark.slow
def test_the_fuzz_categories_hold_at_full_size():
    counts = run_fuzz(cases=FULL_CASES)
    assert {name: row["examples"] for name, row in counts.items() if row["failures"]} == {}


@pytest.mark.slow
def test_resident_memory_stays_flat_over_millions_of_vector_steps():
    memory = run_memory(FULL_VECTOR_STEPS)
    assert memory["growth_after_warmup_mib"] < 8, memory["samples"]


@pytest.mark.slow
def test_backends_and_sync_vector_env_agree_over_long_runs():
    rows = run_equivalence(FULL_EQUIVALENCE_STEPS)
    assert [row for row in rows if row["mismatching_steps"]] == [] and all(row["episodes"] > 100 for row in rows)

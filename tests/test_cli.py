"""The textgen-rl commands end to end on tiny budgets, on built-in tasks and on a dataset the test writes."""

import contextlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch", reason="install the 'agents' extra")

from agents import cli
from agents.cli import EVALUATE_IGNORES, main, read_prompts
from agents.model.decoding import DecodingConfig
from agents.options import config_options
from agents.registry import ALGORITHMS, RL_ALGORITHMS
from agents.runs.config import EnvConfig

TINY = [
    "--task",
    "copy",
    "--num-envs",
    "16",
    "--task-option",
    "num_examples=36",
    "--task-option",
    "min_length=2",
    "--task-option",
    "max_length=3",
    "--task-option",
    "alphabet=abc",
]


def last_json(out: str) -> dict:
    return json.loads([line for line in out.strip().splitlines() if line.startswith("{")][-1])


def test_train_evaluate_generate_resume(tmp_path, capsys):
    run = str(tmp_path / "run")
    main(["train", "--agent", "ppo", "--steps", "300", "--run-dir", run, *TINY])
    last = last_json(capsys.readouterr().out)
    assert last["env_steps"] >= 300
    main(["evaluate", f"{run}/checkpoint.pt", "--episodes", "5"])
    result = json.loads(capsys.readouterr().out)
    assert result["episodes"] == 5 and 0.0 <= result["mean_similarity"] <= 1.0 and result["greedy"] is True
    assert set(result) == {
        "split",
        "episodes",
        "greedy",
        "mean_similarity",
        "exact_rate",
        "mean_distance",
        "mean_difflib_ratio",
        "unknown_tokens",
    }
    assert 0.0 <= result["mean_difflib_ratio"] <= 1.0
    main(["generate", f"{run}/checkpoint.pt", "--prompt", "abc", "--prompt", "ba"])
    texts = capsys.readouterr().out.strip().splitlines()
    assert len(texts) == 2 and all(set(t) <= set("abc") and len(t) <= 3 for t in texts)
    main(["train", "--resume", f"{run}/checkpoint.pt", "--steps", "600"])  # no --agent: read from the checkpoint
    resumed = last_json(capsys.readouterr().out)
    assert resumed["iteration"] > last["iteration"] and resumed["env_steps"] >= 600


def write_mapping(path, count=300, seed=0):
    """A mapping a policy can learn, not from the shipped corpus: 'dog-cat' -> 'CAT-DOG' over made-up words."""
    import random

    rng = random.Random(seed)
    words = ["zu", "ka", "mi", "po", "re", "tsu"]
    with open(path, "w", encoding="utf-8") as f:
        for _ in range(count):
            a, b = rng.choice(words), rng.choice(words)
            f.write(json.dumps({"prompt": f"{a}-{b}", "target": f"{b}-{a}".upper()}) + "\n")


def test_own_dataset_end_to_end_works_after_the_file_is_gone(tmp_path, capsys):
    data = tmp_path / "pairs.jsonl"
    write_mapping(data)
    pre, rl = str(tmp_path / "pre"), str(tmp_path / "rl")
    main(["pretrain", "--dataset", str(data), "--epochs", "12", "--batch-size", "32", "--lr", "5e-3", "--run-dir", pre])
    main(
        [
            "train",
            "--dataset",
            str(data),
            "--init",
            f"{pre}/checkpoint.pt",
            "--steps",
            "2000",
            "--num-envs",
            "64",
            "--lr",
            "3e-4",
            "--run-dir",
            rl,
        ]
    )
    capsys.readouterr()
    main(["evaluate", f"{rl}/checkpoint.pt"])
    before_deletion = json.loads(capsys.readouterr().out)
    assert before_deletion["mean_similarity"] > 0.8 and before_deletion["unknown_tokens"] == 0  # it learned the mapping
    data.unlink()
    main(["evaluate", f"{rl}/checkpoint.pt"])  # the held-out pairs are in the checkpoint
    assert json.loads(capsys.readouterr().out) == before_deletion
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("ka-mi\npo-tsu\nzu-zu\n", encoding="utf-8")
    out = tmp_path / "out" / "texts.jsonl"
    main(["generate", f"{rl}/checkpoint.pt", "--input", str(prompts), "--output", str(out), "--batch-size", "2"])
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["prompt"] for r in rows] == ["ka-mi", "po-tsu", "zu-zu"]
    assert sum(r["text"] == "-".join(reversed(r["prompt"].split("-"))).upper() for r in rows) >= 2


def test_evaluate_on_other_data_with_the_checkpoints_tokenizer(tmp_path, capsys):
    run = str(tmp_path / "run")
    main(["train", "--steps", "200", "--run-dir", run, *TINY])
    other = tmp_path / "other.jsonl"
    other.write_text('{"prompt": "ab", "target": "ba"}\n{"prompt": "xyz", "target": "zz"}\n', encoding="utf-8")
    capsys.readouterr()
    with pytest.warns(UserWarning, match="cannot be produced"):
        main(["evaluate", f"{run}/checkpoint.pt", "--dataset", str(other), "--split", "all"])
    result = json.loads(capsys.readouterr().out)
    assert result["episodes"] == 2 and result["unknown_tokens"] == 5  # x, y, z in the prompt; z, z in the target


@pytest.mark.parametrize(
    "command, classes",
    [(f"train --agent {a}", [c.config_class]) for a, c in RL_ALGORITHMS.items()]
    + [
        ("pretrain", [ALGORITHMS["pretrain"].config_class]),
        ("evaluate", [EnvConfig, DecodingConfig]),
        ("generate", [DecodingConfig]),
    ],
    ids=lambda x: x if isinstance(x, str) else "",
)
def test_every_config_field_appears_in_help_with_its_default_once(command, classes):
    out = subprocess.run(
        [sys.executable, "-m", "agents", *command.split(), "--help"], capture_output=True, text=True, check=True
    ).stdout
    flat = " ".join(out.split())
    for cls in classes:
        for dest, field, _ in config_options(cls):
            if command == "evaluate" and dest in EVALUATE_IGNORES:
                continue
            flag = (field.metadata.get("flags") or (f"--{field.name.replace('_', '-')}",))[0]
            assert f"{flag} " in flat or f"{flag}," in flat, f"{flag} ({cls.__name__}.{dest}) missing from `{command} --help`"
            help_text = " ".join(field.metadata["help"].split())
            at = flat.index(help_text)
            assert flat[at : at + len(help_text) + 200].count("(default:") >= 1
            assert (help_text + " (default: (default:") not in flat


def test_bad_options_and_values_are_named(tmp_path):
    def run(*args):
        return subprocess.run([sys.executable, "-m", "agents", *args], capture_output=True, text=True)

    out = run("train", "--agent", "dqn")
    assert out.returncode == 2 and "invalid choice: 'dqn'" in out.stderr
    out = run("train", "--lrr", "3")
    assert out.returncode == 2 and "unrecognized arguments: --lrr" in out.stderr
    out = run("train", "--num-envs", "many")
    assert out.returncode == 2 and "--num-envs: invalid int value: 'many'" in out.stderr
    out = run("pretrain", "--task-option", "max_length")
    assert out.returncode == 2 and "'max_length' is not KEY=VALUE" in out.stderr
    out = run("train", "--task", "copy", "--task-option", "colour=red", "--steps", "10", "--run-dir", str(tmp_path / "x"))
    assert out.returncode == 1 and "task 'copy' does not take options ['colour']" in out.stderr
    out = run("frobnicate")
    assert out.returncode != 0 and "unknown command 'frobnicate'" in out.stderr


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--gamma", "nan"], "argument --gamma: gamma=nan (--gamma): must be a finite number"),
        (["train", "--gamma", "1.5"], "gamma=1.5 (--gamma): must be <= 1"),
        (["train", "--steps", "-5"], "total_env_steps=-5 (--steps): must be >= 1"),
        (["train", "--update-epochs", "0"], "update_epochs=0 (--update-epochs): must be >= 1"),
        (["train", "--num-minibatches", "0"], "num_minibatches=0 (--num-minibatches): must be >= 1"),
        (["train", "--lr", "inf"], "learning_rate=inf (--lr): must be a finite number"),
        (["train", "--max-new-tokens", "0"], "max_new_tokens=0 (--max-new-tokens): must be >= 1"),
        (["pretrain", "--batch-size", "0"], "batch_size=0 (--batch-size): must be >= 1"),
        (["evaluate", "ck.pt", "--episodes", "0"], "argument --episodes: 0: must be an integer >= 1"),
        (["evaluate", "ck.pt", "--episodes", "-1"], "argument --episodes: -1: must be an integer >= 1"),
        (["evaluate", "ck.pt", "--temperature", "nan"], "temperature=nan (--temperature): must be a finite number"),
        (["evaluate", "ck.pt", "--tokenizer", "missing.json"], "--tokenizer: the checkpoint's own tokenizer is always used"),
        (["evaluate", "ck.pt", "--reward=sparse"], "--reward: scores are similarities and distances"),
        (["generate", "ck.pt", "--prompt", "a", "--batch-size", "-1"], "argument --batch-size: -1: must be an integer >= 1"),
        (["generate", "ck.pt", "--prompt", "a", "--length-penalty", "nan"], "length_penalty=nan (--length-penalty)"),
    ],
)
def test_nonsense_numbers_are_refused_as_they_are_parsed(argv, message, capsys):
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2 and message in capsys.readouterr().err


def test_configs_check_their_numbers_from_python_too():
    from agents.algorithms.ppo import PPOConfig

    with pytest.raises(ValueError, match=r"gamma=nan \(--gamma\): must be a finite number"):
        PPOConfig(gamma=float("nan"))
    with pytest.raises(ValueError, match=r"num_minibatches=8 \(--num-minibatches\) exceeds num_envs=4"):
        PPOConfig(num_envs=4, num_minibatches=8)
    with pytest.raises(ValueError, match=r"top_p=0.0 \(--top-p\): must be > 0"):
        DecodingConfig(top_p=0.0)
    with pytest.raises(ValueError, match=r"max_new_tokens=-3 \(--max-new-tokens\): must be >= 1"):
        EnvConfig(max_new_tokens=-3)


def test_resume_refuses_another_agent(tmp_path, capsys):
    run = str(tmp_path / "run")
    main(["train", "--agent", "a2c", "--steps", "100", "--run-dir", run, *TINY])
    capsys.readouterr()
    with pytest.raises(SystemExit) as stop:
        main(["train", "--resume", f"{run}/checkpoint.pt", "--agent", "ppo"])
    assert stop.value.code == 2 and "is a 'a2c' run; --resume continues it as one" in capsys.readouterr().err


def test_a_second_train_with_the_default_folder_starts_a_new_one(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for _ in range(2):
        main(["train", "--agent", "a2c", "--steps", "100", *TINY])
    out = capsys.readouterr().out
    assert "checkpoint: runs/a2c-copy-0/checkpoint.pt" in out and "checkpoint: runs/a2c-copy-0_2/checkpoint.pt" in out
    with pytest.raises(SystemExit, match="holds a run already .*--resume .*--overwrite"):
        main(["train", "--agent", "a2c", "--steps", "100", "--run-dir", "runs/a2c-copy-0", *TINY])
    main(["train", "--agent", "a2c", "--steps", "100", "--run-dir", "runs/a2c-copy-0", "--overwrite", *TINY])


def test_resume_keeps_the_config_and_reads_the_agent(tmp_path, capsys):
    run = str(tmp_path / "run")
    main(["train", "--agent", "reinforce", "--baseline", "mean", "--steps", "200", "--run-dir", run, *TINY])
    with pytest.raises(SystemExit) as stop:
        main(["train", "--resume", f"{run}/checkpoint.pt", "--lr", "1"])
    assert stop.value.code == 2 and "--lr: a resumed run keeps its config" in capsys.readouterr().err
    main(["train", "--resume", f"{run}/checkpoint.pt", "--steps", "400"])
    assert last_json(capsys.readouterr().out)["env_steps"] >= 400


def test_device_errors_say_what_torch_sees(tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit, match=r"device='cuda': torch sees no CUDA device"):
        main(["train", "--device", "cuda", "--steps", "10", "--run-dir", str(tmp_path / "r"), *TINY])
    with pytest.raises(SystemExit, match=r"device='tpu': allowed values are \['auto', 'cpu', 'cuda', 'mps'\] or cuda:N"):
        main(["pretrain", "--device", "tpu", "--run-dir", str(tmp_path / "p"), *TINY[:2]])


def test_errors_name_the_bad_value(tmp_path):
    with pytest.raises(SystemExit, match="no such checkpoint"):
        main(["evaluate", str(tmp_path / "nope.pt")])
    (tmp_path / "junk.pt").write_text("junk")
    with pytest.raises(SystemExit, match="junk.pt: not a readable"):
        main(["generate", str(tmp_path / "junk.pt"), "--prompt", "x"])
    (tmp_path / "bad.jsonl").write_text('{"prompt": "a"}\n{"text": 1}\n')
    with pytest.raises(ValueError, match="bad.jsonl:2: expected a string field 'prompt'"):
        read_prompts(str(tmp_path / "bad.jsonl"))


def test_bench_command_with_a_custom_grid(tmp_path, capsys):
    main(
        [
            "bench", "--quick", "--agents", "test_bench:EchoAgent", "copy-prompt", "--tasks", "copy", "--seeds", "0", "1",
            "--steps", "100", "--eval-points", "1", "--name", "echo", "--out", str(tmp_path),
        ]
    )  # fmt: skip
    table = (tmp_path / "agents_echo.md").read_text()
    assert "| copy | test_bench:EchoAgent | 1.000 ± 0.000 | 100.0% | 1.000 | 100 (2/2) | 100 (2/2) |" in table
    assert json.loads((tmp_path / "agents_echo.json").read_text())["command"].startswith("textgen-rl bench --quick")


def test_generate_never_destroys_what_it_was_not_asked_to_write(tmp_path, capsys, monkeypatch):
    """--output naming the checkpoint or the input is refused before any work; the output is written whole at the
    end, so a generate that fails (a mistyped checkpoint, a full disk) leaves earlier results as they were."""
    from agents.model import decoding

    run = str(tmp_path / "run")
    main(["train", "--agent", "a2c", "--steps", "100", "--run-dir", run, *TINY])
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("".join(f"{p}\n" for p in ["ab", "ba", "cab", "abc", "c", "bb"]))
    checkpoint_bytes, prompt_bytes = Path(run, "checkpoint.pt").read_bytes(), prompts.read_bytes()
    for output, what in ((f"{run}/checkpoint.pt", "checkpoint"), (str(prompts), "--input")):
        with pytest.raises(SystemExit, match=f"--output .*: is the {what} .*would destroy it"):
            main(["generate", f"{run}/checkpoint.pt", "--input", str(prompts), "--output", output])
    assert Path(run, "checkpoint.pt").read_bytes() == checkpoint_bytes and prompts.read_bytes() == prompt_bytes
    with pytest.raises(SystemExit, match="--output .*: is a directory; give a file name"):
        main(["generate", "no-such-checkpoint.pt", "--input", str(prompts), "--output", str(tmp_path)])

    out = tmp_path / "texts.jsonl"
    out.write_text("earlier results\n")
    with pytest.raises(SystemExit, match="no such checkpoint file"):
        main(["generate", "no-such-checkpoint.pt", "--input", str(prompts), "--output", str(out)])
    assert out.read_text() == "earlier results\n"
    seen_while_decoding = []
    original = decoding.step_decode

    def watched(*args):
        seen_while_decoding.append(out.read_text())
        return original(*args)

    monkeypatch.setattr(decoding, "step_decode", watched)
    main(["generate", f"{run}/checkpoint.pt", "--input", str(prompts), "--output", str(out), "--batch-size", "2"])
    assert seen_while_decoding == ["earlier results\n"] * 3  # three batches decoded, the file replaced at the end
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["prompt"] for r in rows] == ["ab", "ba", "cab", "abc", "c", "bb"] and "wrote 6 texts" in capsys.readouterr().out

    real = cli.replaced_atomically

    @contextlib.contextmanager
    def full_disk(*args, **kwargs):  # the real temporary file, whose writes fail as on a full disk
        with real(*args, **kwargs) as f:
            f.writelines = lambda lines: (_ for _ in ()).throw(OSError(28, "No space left on device"))
            yield f

    monkeypatch.setattr(cli, "replaced_atomically", full_disk)
    with pytest.raises(SystemExit, match=r"writing failed after 0 texts \(No space left on device\); it was left as it was"):
        main(["generate", f"{run}/checkpoint.pt", "--input", str(prompts), "--output", str(out)])
    monkeypatch.undo()
    assert [json.loads(line)["prompt"] for line in out.read_text().splitlines()] == ["ab", "ba", "cab", "abc", "c", "bb"]
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # the temporary file went with it


def test_help_loads_neither_torch_nor_numba():
    code = (
        "import sys, contextlib, io\n"
        "from agents.cli import main\n"
        "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "    main(['train', '--agent', 'reinforce', '--help'])\n"
        "assert '--baseline' in out.getvalue() and '--gamma' in out.getvalue()\n"
        "print(sorted(m for m in ('torch', 'numba') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"  # --help answers from the configs alone (0.4 s here, against 2.4 s before)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--max-new-tokens", "100000000"], "max_new_tokens=100000000, max_prompt_tokens=3 .*GiB, more than a quarter"),
        (["--embed-dim", "2000000", "--hidden-dim", "100000"], "embed_dim=2000000, hidden_dim=100000 .* more than a quarter"),
        (["--num-envs", "30000000", "--max-new-tokens", "200"], "num_envs=30000000, max_new_tokens=200 .*a quarter"),
    ],
)
def test_sizes_beyond_memory_are_refused_before_allocating(argv, message, tmp_path):
    with pytest.raises(SystemExit, match=message):
        main(["train", "--agent", "a2c", *TINY, *argv, "--run-dir", str(tmp_path / "run")])
    assert not (tmp_path / "run").exists()

"""The textgen-rl commands end to end on a tiny budget."""

import json
import subprocess
import sys

import pytest

pytest.importorskip("torch", reason="install the 'agents' extra")

from agents.cli import main

TINY = ["--task", "copy", "--num-envs", "16"]


def test_train_evaluate_generate_resume(tmp_path, capsys):
    run = str(tmp_path / "run")
    main(["train", "--agent", "ppo", "--steps", "300", "--run-dir", run, *TINY])
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-2])
    assert last["env_steps"] >= 300
    main(["evaluate", f"{run}/checkpoint.pt", "--episodes", "20"])
    result = json.loads(capsys.readouterr().out)
    assert result["episodes"] == 20 and 0.0 <= result["mean_similarity"] <= 1.0 and result["greedy"] is True
    main(["generate", f"{run}/checkpoint.pt", "--prompt", "abc"])
    text = capsys.readouterr().out.strip()
    assert set(text) <= set("abcdefghijklmnopqrstuvwxyz") and len(text) <= 8
    main(["train", "--agent", "ppo", "--resume", f"{run}/checkpoint.pt"])
    assert (
        json.loads(capsys.readouterr().out.strip().splitlines()[-2])["iteration"] == last["iteration"]
    )  # budget already spent


def test_pretrain_then_finetune_with_reinforce(tmp_path, capsys):
    pre = str(tmp_path / "pre")
    main(["pretrain", "--epochs", "1", "--run-dir", pre, *TINY])
    main(
        [
            "train",
            "--agent",
            "reinforce",
            "--baseline",
            "self_critical",
            "--steps",
            "200",
            "--init",
            f"{pre}/checkpoint.pt",
            "--run-dir",
            str(tmp_path / "rl"),
            *TINY,
        ]
    )
    assert (tmp_path / "rl" / "progress.csv").read_text().startswith("iteration,env_steps,mean_return")


def test_errors_name_the_bad_value(tmp_path):
    with pytest.raises(SystemExit, match="no such checkpoint"):
        main(["evaluate", str(tmp_path / "nope.pt")])
    (tmp_path / "junk.pt").write_text("junk")
    with pytest.raises(SystemExit, match="junk.pt: not a readable"):
        main(["generate", str(tmp_path / "junk.pt"), "--prompt", "x"])
    out = subprocess.run([sys.executable, "-m", "agents", "train", "--agent", "dqn"], capture_output=True, text=True)
    assert out.returncode == 2 and "invalid choice: 'dqn'" in out.stderr


def test_every_option_has_help():
    out = subprocess.run(
        [sys.executable, "-m", "agents", "train", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for option in ("--agent", "--steps", "--baseline", "--kl-coef", "--resume", "--task", "--seed", "--init"):
        assert option in out
    assert "default: ppo" in out


def test_bench_command_with_a_custom_grid(tmp_path, capsys):
    main(
        [
            "bench",
            "--quick",
            "--agents",
            "test_bench:EchoAgent",
            "--tasks",
            "copy",
            "--seeds",
            "0",
            "1",
            "--steps",
            "100",
            "--eval-points",
            "1",
            "--name",
            "echo",
            "--out",
            str(tmp_path),
        ]
    )
    table = (tmp_path / "agents_echo.md").read_text()
    assert "| copy | test_bench:EchoAgent | 1.000 ± 0.000 | 100.0% | 100 (2/2) |" in table
    assert json.loads((tmp_path / "agents_echo.json").read_text())["command"].startswith("textgen-rl bench --quick")

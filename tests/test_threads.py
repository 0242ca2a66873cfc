"""Torch's CPU threads: set before torch loads, from --threads and a short OpenMP spin by default."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agents.cli import main, threads_option
from agents.runs.threads import SPIN_COUNT, TRAINING_THREADS, configure_threads

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def clean_openmp_environment(monkeypatch):
    for name in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY", "OMP_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)


def test_idle_threads_spin_briefly_unless_the_environment_says_otherwise(clean_openmp_environment, monkeypatch):
    configure_threads()
    assert os.environ["GOMP_SPINCOUNT"] == SPIN_COUNT and "OMP_NUM_THREADS" not in os.environ
    monkeypatch.setenv("GOMP_SPINCOUNT", "300000")
    configure_threads()
    assert os.environ["GOMP_SPINCOUNT"] == "300000"  # the user's own setting stays
    monkeypatch.delenv("GOMP_SPINCOUNT")
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    configure_threads()
    assert "GOMP_SPINCOUNT" not in os.environ  # a wait policy chosen: no spin count of ours over it


def test_threads_apply_to_a_torch_already_loaded(clean_openmp_environment, monkeypatch):
    import torch

    before = torch.get_num_threads()
    try:
        configure_threads(1)
        assert torch.get_num_threads() == 1 and os.environ["OMP_NUM_THREADS"] == "1"
        monkeypatch.setenv("OMP_NUM_THREADS", "2")
        configure_threads(default=1)  # the user's OMP_NUM_THREADS wins over our default
        assert torch.get_num_threads() == 1 and os.environ["OMP_NUM_THREADS"] == "2"
        configure_threads(2, default=1)  # and --threads over both
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    with pytest.raises(ValueError, match="threads=0: must be at least 1"):
        configure_threads(0)


def test_training_defaults_to_one_thread_set_before_torch_loads(tmp_path):
    code = (
        "import json, os, sys; from agents.cli import main;"
        " main(['train', '--steps', '20', '--num-envs', '4', '--embed-dim', '8', '--hidden-dim', '8',"
        " '--run-dir', sys.argv[1]]);"
        " import torch; print(json.dumps([torch.get_num_threads(), os.environ.get('GOMP_SPINCOUNT')]))"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY", "OMP_NUM_THREADS")}
    result = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "run")], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert json.loads(result.stdout.splitlines()[-1]) == [TRAINING_THREADS, SPIN_COUNT]


def test_threads_option_is_read_from_any_command_and_checked(capsys):
    assert threads_option(["--task", "copy", "--threads", "3"]) == 3
    assert threads_option(["--task", "copy"]) is None
    with pytest.raises(SystemExit):
        main(["train", "--threads", "0"])
    assert "--threads: 0: must be an integer >= 1" in capsys.readouterr().err

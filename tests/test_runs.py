"""Runs never lose data: one writer per run folder, logs that survive a crash, resume where the
checkpoint is, and clear errors for crafted checkpoints and unwritable folders."""

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="install the 'agents' extra")

from agents.algorithms.a2c import A2C, A2CConfig  # noqa: E402
from agents.algorithms.ppo import PPO, PPOConfig  # noqa: E402
from agents.model.policy import PolicyConfig  # noqa: E402
from agents.registry import resume  # noqa: E402
from agents.runs.checkpoint import Checkpoint, CheckpointError  # noqa: E402
from agents.runs.config import EnvConfig  # noqa: E402
from agents.runs.run import TrainingDiverged  # noqa: E402
from agents.runs.rundir import LOCK_NAME, RunDirectory, RunDirError, claim_free  # noqa: E402

TINY = dict(
    env=EnvConfig(task="copy", task_options={"num_examples": 36, "min_length": 2, "max_length": 3, "alphabet": "abc"}),
    policy=PolicyConfig(embed_dim=16, hidden_dim=32),
    num_envs=16,
)


def tiny(run_dir, **overrides):
    return A2CConfig(**{**TINY, "total_env_steps": 400, "run_dir": str(run_dir), **overrides})


def iterations_in_log(run_dir):
    with open(run_dir / "progress.csv", newline="") as f:
        return [int(row["iteration"]) for row in csv.DictReader(f)]


HOLD_THE_LOCK = (
    "import sys, time; from agents.runs.rundir import RunDirectory; RunDirectory(sys.argv[1]).acquire();"
    " print('held', flush=True); time.sleep(60)"
)


def test_a_second_writer_is_refused_and_a_killed_holders_lock_taken_over(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", HOLD_THE_LOCK, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunDirError, match=rf"in use by another training process \(pid {holder.pid}"):
            A2C(tiny(tmp_path)).learn()
        assert not (tmp_path / "progress.csv").exists()
    finally:
        holder.kill()
        holder.wait()
    assert (tmp_path / "run.lock").exists()  # left behind by the killed holder, but no longer locked
    A2C(tiny(tmp_path)).learn()
    assert not (tmp_path / "run.lock").exists() and iterations_in_log(tmp_path)


RACE_FOR_THE_LOCK = (
    "import sys, time; from agents.runs.rundir import RunDirectory, RunDirError; d = RunDirectory(sys.argv[1])\n"
    "time.sleep(max(0.0, float(sys.argv[2]) - time.time()))\n"
    "try:\n    d.acquire(); held = time.time(); time.sleep(0.3); print('held', held, time.time()); d.release()\n"
    "except RunDirError:\n    print('refused')"
)


def test_starters_racing_for_one_lock_never_both_hold_it(tmp_path):
    for trial in range(3):
        folder, start = tmp_path / str(trial), time.time() + 1.0  # all four start together, once their interpreters are up
        command = [sys.executable, "-c", RACE_FOR_THE_LOCK, str(folder), str(start)]
        racers = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(4)]
        outcomes = [r.communicate(timeout=60)[0].split() for r in racers]
        holds = sorted((float(o[1]), float(o[2])) for o in outcomes if o[0] == "held")
        assert holds, outcomes
        for (_, released), (taken, _) in zip(holds, holds[1:]):
            assert taken >= released, (trial, holds)  # one holder at a time


def test_a_fresh_run_never_touches_an_existing_run(tmp_path):
    A2C(tiny(tmp_path, total_env_steps=200)).learn()
    before = (tmp_path / "checkpoint.pt").read_bytes(), (tmp_path / "progress.csv").read_text()
    with pytest.raises(RunDirError, match=rf"holds a run already .*--resume {tmp_path / 'checkpoint.pt'}.*--overwrite"):
        A2C(tiny(tmp_path, total_env_steps=200, seed=1)).learn()
    assert ((tmp_path / "checkpoint.pt").read_bytes(), (tmp_path / "progress.csv").read_text()) == before
    replaced = A2C(tiny(tmp_path, total_env_steps=200, seed=1, overwrite=True))
    replaced.learn()
    assert Checkpoint.load(tmp_path / "checkpoint.pt").config["seed"] == 1
    assert iterations_in_log(tmp_path) == list(range(1, replaced.iteration + 1))  # its own rows only
    replaced.learn(until=400)  # the same run, called again: it continues, it is not refused


def test_default_run_folders_are_numbered_like_sb3s_and_claimed_at_once(tmp_path):
    base = tmp_path / "ppo-copy-0"
    base.mkdir()
    assert claim_free(base) == str(base)  # an empty folder is free; taking it leaves its lock file there
    assert claim_free(base) == f"{base}_2"  # claimed: a second run started at the same moment gets the next
    (base / "run.lock").unlink()
    (base / "progress.csv").write_text("iteration\n")
    Path(f"{base}_3").write_text("a file, not a folder")
    assert claim_free(base) == f"{base}_4"


def test_two_trainings_started_together_with_the_default_folder_get_one_each(tmp_path):
    """Both pick runs/a2c-copy-0 at the same moment (what train does first); the second takes the next number, not a
    refusal on the lock. Plain processes that import only the run folder code, released together by one file."""
    go = tmp_path / "go"
    code = (
        "import os, sys, time\n"
        "from agents.runs.rundir import claim_free\n"
        "while not os.path.exists(sys.argv[1]): time.sleep(0.001)\n"
        "print(claim_free('runs/a2c-copy-0'))\n"
    )
    runs = [
        subprocess.Popen([sys.executable, "-c", code, str(go)], cwd=tmp_path, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    time.sleep(0.5)  # both are waiting
    go.touch()
    claimed = sorted(run.communicate(timeout=60)[0].strip() for run in runs)
    assert claimed == ["runs/a2c-copy-0", "runs/a2c-copy-0_2"]
    assert all((tmp_path / folder / LOCK_NAME).exists() for folder in claimed)


def test_a_diverging_run_stops_and_its_last_checkpoint_stays_finite(tmp_path, monkeypatch):
    run = A2C(tiny(tmp_path, total_env_steps=200, checkpoint_every=1))
    run.learn()
    good = Checkpoint.load(tmp_path / "checkpoint.pt").policy
    resumed = resume(tmp_path / "checkpoint.pt", total_env_steps=600)
    monkeypatch.setattr(
        resumed, "update", lambda batch: {"loss": resumed.clip_and_step(torch.tensor(float("nan"), requires_grad=True))}
    )
    with pytest.raises(
        TrainingDiverged, match=rf"not finite at iteration {run.iteration + 1}; training stopped; .*checkpoint.pt holds"
    ):
        resumed.learn()
    kept = Checkpoint.load(tmp_path / "checkpoint.pt").policy
    assert all(torch.equal(kept[k], good[k]) and torch.isfinite(kept[k]).all() for k in good)
    assert all(torch.isfinite(p).all() for p in resumed.policy.parameters())


def test_train_on_a_run_dir_in_use_is_refused_by_the_cli_with_the_holders_pid(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", HOLD_THE_LOCK, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        command = [sys.executable, "-m", "agents", "train", "--agent", "a2c", "--run-dir", str(tmp_path), "--task", "copy"]
        second = subprocess.run([*command, "--num-envs", "16", "--steps", "100"], capture_output=True, text=True)
        assert second.returncode == 1 and f"in use by another training process (pid {holder.pid}" in second.stderr
        assert holder.poll() is None and not (tmp_path / "progress.csv").exists()  # the holder goes on, untouched
    finally:
        holder.kill()
        holder.wait()


def test_resume_after_a_crash_keeps_exactly_the_rows_up_to_the_checkpoint(tmp_path):
    A2C(tiny(tmp_path, total_env_steps=200, checkpoint_every=0)).learn()
    early = tmp_path / "early.pt"
    shutil.copy(tmp_path / "checkpoint.pt", early)
    checkpointed = Checkpoint.load(early).iteration
    resume(tmp_path / "checkpoint.pt", total_env_steps=400).learn()
    assert len(iterations_in_log(tmp_path)) > checkpointed
    # kill -9 after more iterations were logged than checkpointed, in the middle of a row:
    shutil.copy(early, tmp_path / "checkpoint.pt")
    with open(tmp_path / "progress.csv", "a") as f:
        f.write("99,1234,-0.5")
    resume(tmp_path / "checkpoint.pt", total_env_steps=400).learn()
    logged = iterations_in_log(tmp_path)
    assert logged == list(range(1, len(logged) + 1))  # no duplicate iteration, no half row
    assert (tmp_path / "progress.csv").read_text().endswith("\n")


def test_a_moved_checkpoint_resumes_in_its_own_folder(tmp_path):
    old, new = tmp_path / "old", tmp_path / "moved"
    A2C(tiny(old, total_env_steps=200)).learn()
    shutil.move(old, new)
    run = resume(new / "checkpoint.pt", total_env_steps=400)
    run.learn()
    assert not old.exists() and run.config.run_dir == str(new.resolve())
    assert Checkpoint.load(new / "checkpoint.pt").env_steps >= 400


def test_resuming_an_older_copy_never_replaces_the_further_checkpoint_without_overwrite(tmp_path, capsys):
    from agents.cli import main

    A2C(tiny(tmp_path, total_env_steps=200)).learn()
    shutil.copy(tmp_path / "checkpoint.pt", tmp_path / "older-copy.pt")
    resume(tmp_path / "checkpoint.pt", total_env_steps=400).learn()
    further, log = (tmp_path / "checkpoint.pt").read_bytes(), (tmp_path / "progress.csv").read_text()
    with pytest.raises(SystemExit, match=r"older-copy.pt is not its folder's own checkpoint: resuming from it would replace"):
        main(["train", "--resume", str(tmp_path / "older-copy.pt"), "--steps", "600"])
    assert (tmp_path / "checkpoint.pt").read_bytes() == further and (tmp_path / "progress.csv").read_text() == log
    main(["train", "--resume", str(tmp_path / "older-copy.pt"), "--steps", "600", "--overwrite"])  # said so: it may
    assert Checkpoint.load(tmp_path / "checkpoint.pt").env_steps >= 600


def test_a_dataset_run_resumes_on_its_own_file_from_any_folder_and_never_on_changed_data(tmp_path, monkeypatch):
    first, elsewhere = tmp_path / "first", tmp_path / "elsewhere"
    first.mkdir(), elsewhere.mkdir()
    pairs = [{"prompt": f"{a}{b}", "target": f"{b}{a}"} for a in "abcd" for b in "abcd"]
    (first / "pairs.jsonl").write_text("".join(json.dumps(p) + "\n" for p in pairs))
    (elsewhere / "pairs.jsonl").write_text('{"prompt": "zz", "target": "q"}\n{"prompt": "q", "target": "zz"}\n')
    monkeypatch.chdir(first)
    config = tiny(first / "run", env=EnvConfig(dataset="pairs.jsonl"), total_env_steps=200)
    A2C(config).learn()
    checkpoint = first / "run" / "checkpoint.pt"
    heldout = Checkpoint.load(checkpoint).heldout
    assert Checkpoint.load(checkpoint).config["env"]["dataset"] == str(first / "pairs.jsonl")
    monkeypatch.chdir(elsewhere)  # another pairs.jsonl here: the run's own file is still the one it trains on
    run = resume(checkpoint, total_env_steps=400)
    assert run.task.target_texts[0] in {p["target"] for p in pairs}
    run.learn()
    assert Checkpoint.load(checkpoint).heldout == heldout
    (first / "pairs.jsonl").write_text("".join(json.dumps(p) + "\n" for p in pairs[:-1]))
    with pytest.raises(CheckpointError, match=r"pairs.jsonl has changed since the run trained on it; .* restore the file"):
        resume(checkpoint, total_env_steps=600)
    (first / "pairs.jsonl").unlink()
    with pytest.raises(CheckpointError, match=r"its run trained on .*pairs.jsonl, which is gone; restore the file"):
        resume(checkpoint, total_env_steps=600)
    assert Checkpoint.load(checkpoint).heldout == heldout


def test_interrupted_reinforce_prints_a_hint_that_works(tmp_path, capsys):
    from agents.algorithms.reinforce import Reinforce, ReinforceConfig

    run = Reinforce(ReinforceConfig(**TINY, total_env_steps=400, run_dir=str(tmp_path), baseline="mean"))
    original = run.iterate

    def iterate_then_ctrl_c():
        row = original()
        run.request_stop()
        return row

    run.iterate = iterate_then_ctrl_c
    with pytest.raises(KeyboardInterrupt):
        run.learn()
    hint = capsys.readouterr().out.strip().splitlines()[-1]
    assert hint.endswith(f"continue with: textgen-rl train --resume {tmp_path / 'checkpoint.pt'}")
    from agents.cli import main

    main(hint.split("continue with: textgen-rl ")[1].split())  # the hint, as printed
    assert Checkpoint.load(tmp_path / "checkpoint.pt").env_steps >= 400


# -- checkpoint files ----------------------------------------------------------------------


@pytest.fixture
def checkpoint(tmp_path):
    A2C(tiny(tmp_path / "run", total_env_steps=100)).learn()
    return tmp_path / "run" / "checkpoint.pt"


def rewrite(path, out, **changes):
    data = torch.load(path, weights_only=True)
    data.update(changes)
    torch.save(data, out)
    return out


def test_an_empty_checkpoint_is_named(tmp_path):
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"empty.pt: the checkpoint file is empty \(0 bytes\)"):
        Checkpoint.load(tmp_path / "empty.pt")


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"config": "{not json"}, "'config' is not JSON text"),
        ({"config": "[1, 2]"}, "'config' has the wrong shape"),
        ({"tokenizer": json.dumps({"format_version": 1, "kind": "char", "tokens": ["a"]})}, "its tokenizer does not load"),
        ({"rules": json.dumps({"max_new_tokens": "3"})}, r"'rules' episode rules .*missing \['max_prompt_tokens'"),
        (
            {"rules": json.dumps({"vocab_size": 7, "max_prompt_tokens": 3, "min_new_tokens": 1, "max_new_tokens": "3"})},
            r"'rules' max_new_tokens='3': must be an integer >= 1",
        ),
        ({"iteration": "7"}, r"'iteration' must be an integer >= 0, got '7'"),
        ({"env_steps": -1}, r"'env_steps' must be an integer >= 0, got -1"),
        ({"algorithm": 3}, "'algorithm' must be a string"),
        ({"optimizer": [1]}, "'optimizer' must be a dict"),
        ({"reference_policy": {"w": 1}}, "'reference_policy' must map parameter names to tensors"),
        ({"heldout": json.dumps([["a", 1]])}, r"'heldout' must be a list of \[prompt, target\] strings"),
        ({"config": json.dumps({"env": {"task": "copy", "colour": 1}})}, "its config does not fit"),
        ({"policy": {"embed.weight": torch.zeros(3, 3)}}, "its weights do not fit"),
        ({"policy": [1, 2]}, "'policy' must map parameter names to tensors"),
        ({"rng": {"numpy": "{}", "torch": torch.zeros(3), "python": "[]"}}, "its 'rng' does not load"),
        ({"rng": {"numpy": 3, "torch": torch.zeros(3), "python": "[]"}}, "its 'rng' does not load .*TypeError"),
        ({"optimizer": {"state": 1, "param_groups": 2}}, "its 'optimizer' does not load"),
        ({"algorithm_state": json.dumps({"curriculum": 1})}, None),
    ],
)
def test_crafted_checkpoints_give_a_checkpoint_error(checkpoint, tmp_path, changes, message):
    crafted = rewrite(checkpoint, tmp_path / "crafted.pt", **changes)
    if message is None:  # state an algorithm does not read is ignored, not trusted
        resume(crafted)
        return
    with pytest.raises(CheckpointError, match=f"crafted.pt: .*{message}"):
        resume(crafted)


def test_a_vocabulary_that_does_not_fit_the_weights_is_named(checkpoint, tmp_path):
    bigger = json.dumps(
        {"format_version": 1, "kind": "char", "tokens": ["<pad>", "<bos>", "<eos>", "<unk>", "a", "b", "c", "d"]}
    )
    crafted = rewrite(checkpoint, tmp_path / "vocab.pt", tokenizer=bigger)
    with pytest.raises(CheckpointError, match="vocab.pt: the policy's vocab_size 7 does not match its tokenizer's 8"):
        Checkpoint.load(crafted)


def test_temporary_files_of_a_killed_write_are_removed_at_the_next_save(checkpoint):
    leftover = checkpoint.parent / "checkpoint.pt.12345.tmp"
    leftover.write_bytes(b"half a checkpoint")
    resume(checkpoint, total_env_steps=200).learn()
    assert not leftover.exists() and sorted(p.name for p in checkpoint.parent.glob("*.tmp")) == []


def test_a_failing_save_keeps_the_previous_checkpoint_and_says_so(checkpoint, monkeypatch):
    before = checkpoint.read_bytes()

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(
        CheckpointError,
        match=rf"could not write the checkpoint \(No space left on device\); the previous checkpoint {checkpoint} is intact",
    ):
        Checkpoint.load(checkpoint).save(checkpoint)
    assert checkpoint.read_bytes() == before and [p.name for p in checkpoint.parent.glob("*.tmp")] == []


@pytest.mark.parametrize("failing", ["progress.csv", "tensorboard"])
def test_a_full_disk_while_logging_is_one_line_naming_the_file_and_the_intact_checkpoint(
    tmp_path, monkeypatch, capsys, failing
):
    """The log row (or TensorBoard's event) that hits a full disk stops training with one message; closing the
    log after it adds no second error."""
    import agents.runs.rundir as rundir
    from agents.cli import main

    run = tmp_path / "run"
    command = ["train", "--agent", "a2c", "--steps", "200", "--num-envs", "8", "--task", "copy", "--run-dir", str(run),
               "--task-option", "max_length=3", "--checkpoint-every", "1"]  # fmt: skip
    main(command)
    before = (run / "checkpoint.pt").read_bytes()
    rows = {"written": 0}

    def full_disk(*args):
        rows["written"] += 1
        if rows["written"] > 2:  # a few rows of the resumed run go through, then the disk is full
            raise OSError(28, "No space left on device")
        return real(*args)

    if failing == "tensorboard":
        owner, name = pytest.importorskip("torch.utils.tensorboard").SummaryWriter, "add_scalar"
    else:
        owner, name = rundir.ProgressLog, "_line"
    real = getattr(owner, name)
    monkeypatch.setattr(owner, name, full_disk)
    capsys.readouterr()
    with pytest.raises(SystemExit) as stopped:
        main(["train", "--resume", str(run / "checkpoint.pt"), "--steps", "2000"])
    assert str(stopped.value.code) == (
        f"textgen-rl train: {run / failing}: writing failed (No space left on device); the last checkpoint,"
        f" {run / 'checkpoint.pt'}, is intact"
    )
    assert "Traceback" not in capsys.readouterr().err
    assert Checkpoint.load(run / "checkpoint.pt").env_steps >= 200 and before


def test_an_unwritable_run_dir_is_one_clear_error_before_training(tmp_path):
    (tmp_path / "a_file").write_text("not a folder")
    run = A2C(tiny(tmp_path / "a_file" / "run"))
    with pytest.raises(RunDirError, match=r"a_file/run is not writable \(.*\); pick another --run-dir"):
        run.learn()
    assert run.iteration == 0  # nothing trained


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes through permissions")
def test_a_read_only_run_dir_is_one_clear_error(tmp_path):
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(RunDirError, match="is not writable"):
            RunDirectory(tmp_path / "run").acquire()
    finally:
        tmp_path.chmod(0o700)


def test_cli_reports_run_dir_errors_without_a_traceback(tmp_path):
    (tmp_path / "a_file").write_text("x")
    out = subprocess.run(
        [sys.executable, "-m", "agents", "train", "--run-dir", str(tmp_path / "a_file" / "run"), "--steps", "10"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 1 and "Traceback" not in out.stderr and "is not writable" in out.stderr


def test_ppo_resumes_on_another_device_name(tmp_path):
    PPO(PPOConfig(**TINY, total_env_steps=100, run_dir=str(tmp_path), device="cpu")).learn()
    run = resume(tmp_path / "checkpoint.pt", device="auto", total_env_steps=200)
    assert run.device.type in ("cpu", "cuda") and run.config.device == "auto"


def test_sigterm_saves_like_ctrl_c_and_the_run_resumes(tmp_path):
    command = [sys.executable, "-m", "agents", "train", "--agent", "a2c", "--run-dir", str(tmp_path), "--task", "copy"]
    job = subprocess.Popen([*command, "--steps", "100000000", "--checkpoint-every", "0"], stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "progress.csv").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        job.send_signal(signal.SIGTERM)  # what Slurm and docker stop send
        out, _ = job.communicate(timeout=60)
    finally:
        job.kill()
    assert job.returncode == 130 and f"interrupted: saved {tmp_path / 'checkpoint.pt'}" in out
    saved = Checkpoint.load(tmp_path / "checkpoint.pt")
    assert saved.iteration >= 1 and iterations_in_log(tmp_path) == list(range(1, saved.iteration + 1))


def test_a_full_disk_during_a_save_is_a_checkpoint_error(checkpoint, monkeypatch):
    before = checkpoint.read_bytes()

    def full_disk(*args, **kwargs):
        raise RuntimeError("[enforce fail at inline_container.cc:672] . PytorchStreamWriter failed writing file data/3")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(CheckpointError, match=rf"{checkpoint}: could not write the checkpoint .*PytorchStreamWriter failed"):
        Checkpoint.load(checkpoint).save(checkpoint)
    assert checkpoint.read_bytes() == before and [p.name for p in checkpoint.parent.glob("*.tmp")] == []


def test_building_a_run_builds_its_task_once_and_only_algorithms_that_step_envs_build_them(monkeypatch):
    import textgen_env.task as task_module
    from agents.algorithms.pretrain import Pretrain, PretrainConfig

    built = []
    original = task_module.TextTask.__init__

    def counting(self, *args, **kwargs):
        built.append(1)
        original(self, *args, **kwargs)

    monkeypatch.setattr(task_module.TextTask, "__init__", counting)
    env = EnvConfig(task="reverse", task_options={"max_length": 6})
    ppo = PPO(PPOConfig(env=env, num_envs=8, num_minibatches=2, policy=PolicyConfig(embed_dim=8, hidden_dim=16)))
    assert len(built) == 1 and ppo.env.task is ppo.task  # the env shares the run's task
    built.clear()
    pretrain = Pretrain(PretrainConfig(env=env, policy=PolicyConfig(embed_dim=8, hidden_dim=16)))
    assert len(built) == 1 and not hasattr(pretrain, "env")

"""`textgen-rl fit`: its stages, its JSON line, resume, the validation split it chooses on, and bad input."""

import json
import re

import pytest

pytest.importorskip("torch", reason="install the 'agents' extra")

import agents.fit.pipeline as pipeline
from agents.cli import main
from agents.fit import FitConfig, fit, resume_fit
from agents.inference import load
from agents.model.evaluation import evaluate_policy
from agents.runs.config import EnvConfig
from agents.runs.rundir import RunDirError
from textgen_env.task import TextTask

OPTIONS = {"num_examples": 60, "min_length": 3, "max_length": 5, "alphabet": "abcd"}
TINY = dict(embed_dim=8, hidden_dim=16, pretrain_epochs=3, rl_steps=600, rl_evaluations=2, validation_pairs=20)
RESULT_KEYS = {
    f"{stage}_{figure}"
    for stage in ("copy", "pretrained", "final")
    for figure in ("similarity", "difflib_ratio", "exact_rate")
} | {"kept", "checkpoint", "run_dir", "pretrain_env_steps", "rl_env_steps", "pretrain_s", "finetune_s", "wall_s"}


def tiny_fit(run_dir, **changes) -> FitConfig:
    return FitConfig(env=EnvConfig(task="reverse", task_options=OPTIONS), run_dir=str(run_dir), **{**TINY, **changes})


def test_fit_runs_its_stages_and_prints_one_json_line_that_evaluate_agrees_with(tmp_path, capsys):
    main(["fit", "--task", "reverse", *sum((["--task-option", f"{k}={v}"] for k, v in OPTIONS.items()), []),
          "--run-dir", str(tmp_path / "fit"), "--embed-dim", "8", "--hidden-dim", "16", "--pretrain-epochs", "3",
          "--rl-steps", "600", "--rl-evaluations", "2"])  # fmt: skip
    out = capsys.readouterr().out.strip().splitlines()
    result = json.loads(out[-1])
    assert set(result) >= RESULT_KEYS
    assert any(line.startswith("  policy: embedding 8, hidden 16") for line in out)  # the plan is printed
    state = json.loads((tmp_path / "fit" / "fit.json").read_text())
    assert state["stage"] == "done" and len(state["finetune"]["evaluations"]) == 2
    assert result["rl_env_steps"] >= 600 and result["pretrain_env_steps"] > 0
    assert (tmp_path / "fit" / "report.md").read_text().count("| ") >= 12
    main(["evaluate", str(tmp_path / "fit" / "checkpoint.pt")])  # the final policy, on the fit's own test split
    evaluated = json.loads(capsys.readouterr().out)
    assert evaluated["mean_similarity"] == pytest.approx(result["final_similarity"])
    assert evaluated["mean_difflib_ratio"] == pytest.approx(result["final_difflib_ratio"])
    copy = TextTask(split="test", task="reverse", task_options=OPTIONS)
    assert result["copy_similarity"] == pytest.approx(
        sum(1 - _distance(p, t) / max(len(p), len(t)) for p, t in zip(copy.dataset.prompts, copy.target_texts))
        / len(copy.dataset)
    )
    main(["generate", str(tmp_path / "fit" / "checkpoint.pt"), "--prompt", "abcd", "--prompt", "dcb"])
    assert capsys.readouterr().out.splitlines() == load(tmp_path / "fit" / "checkpoint.pt").generate(["abcd", "dcb"])
    with pytest.raises(SystemExit, match="the policy a fit kept, not a run.*fit --resume"):  # used, not resumed
        main(["train", "--resume", str(tmp_path / "fit" / "checkpoint.pt")])


def _distance(a: str, b: str) -> int:
    from rapidfuzz.distance import Levenshtein

    return Levenshtein.distance(a, b)


def test_choices_are_made_on_validation_pairs_that_are_neither_trained_on_nor_tested(tmp_path):
    config = tiny_fit(tmp_path / "fit", rl_evaluations=3)
    fitted = pipeline.Fit.start(config)
    validation = set(fitted.validation.target_texts)
    train = TextTask(fitted.env.task_config("train"))
    assert validation and not validation & set(train.target_texts) and not validation & set(fitted.test.target_texts)
    assert len(train.dataset) + len(fitted.validation.dataset) == len(
        TextTask(split="train", task="reverse", task_options=OPTIONS).dataset
    )
    fitted.run(progress=False)
    state = json.loads((tmp_path / "fit" / "fit.json").read_text())
    epochs = state["pretrain"]["evaluations"]
    assert state["pretrain"]["best"]["epoch"] == max(epochs, key=lambda e: e["validation"])["epoch"]
    best = load(tmp_path / "fit" / "pretrain" / "best.pt", "cpu")
    on_validation = evaluate_policy(best.policy, fitted.validation, episodes=config.validation_pairs)["mean_similarity"]
    assert on_validation == pytest.approx(state["pretrain"]["best"]["validation"])
    tuned, pretrained = state["finetune"]["best"], state["pretrain"]["best"]
    assert (state["result"]["kept"] == "finetuned") == pipeline.rl_clearly_better(pretrained, tuned)
    assert len(pretrained["validation_pairs"]) == len(fitted.validation.dataset)  # the comparison is over these pairs


def test_fine_tuning_is_kept_only_where_it_beats_pre_training_by_more_than_chance():
    pretrained = {"validation_pairs": [0.90, 0.80, 0.95, 0.70, 0.85, 0.90]}
    noise = {"validation_pairs": [0.95, 0.75, 0.97, 0.66, 0.90, 0.88]}  # a higher mean, within the pairs' noise
    clear = {"validation_pairs": [0.93, 0.84, 0.97, 0.75, 0.88, 0.92]}  # every pair up a little
    assert sum(noise["validation_pairs"]) > sum(pretrained["validation_pairs"])
    assert not pipeline.rl_clearly_better(pretrained, noise)
    assert pipeline.rl_clearly_better(pretrained, clear)


def test_a_fit_keeps_the_pretrained_policy_where_rl_does_not_beat_it_on_validation(tmp_path, monkeypatch):
    monkeypatch.setattr(pipeline, "RL_LEARNING_RATE", 1.0)  # PPO wrecks the policy
    monkeypatch.setattr(pipeline, "RL_KL_COEF", 0.0)
    result = fit(tiny_fit(tmp_path / "fit", rl_evaluations=2, rl_steps=2000), progress=False)
    assert result["kept"] == "pretrained"
    assert result["final_similarity"] == pytest.approx(result["pretrained_similarity"])
    assert result["finetuned_validation_similarity"] <= result["pretrained_validation_similarity"]
    assert "so the pre-trained policy is kept." in (tmp_path / "fit" / "report.md").read_text()


@pytest.mark.parametrize("stopped_at, stage", [(2, "pretrain"), (4, "finetune")], ids=["in-pretraining", "in-fine-tuning"])
def test_an_interrupted_fit_resumes_where_it_stopped_to_the_same_result(tmp_path, monkeypatch, stopped_at, stage):
    straight = fit(tiny_fit(tmp_path / "straight"), progress=False)
    calls = {"n": 0}
    real = pipeline.evaluate_policy

    def interrupt_once(*args, **kwargs):  # Ctrl-C while an evaluation runs: after a trained epoch or chunk, unscored
        calls["n"] += 1
        if calls["n"] == stopped_at:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "evaluate_policy", interrupt_once)
    with pytest.raises(KeyboardInterrupt):
        fit(tiny_fit(tmp_path / "resumed"), progress=False)
    assert json.loads((tmp_path / "resumed" / "fit.json").read_text())["stage"] == stage
    with pytest.raises(RunDirError, match="not empty.*fit --resume"):  # a fresh fit never writes over one
        fit(tiny_fit(tmp_path / "resumed"), progress=False)
    resumed = resume_fit(tmp_path / "resumed", progress=False)
    for key in RESULT_KEYS - {"checkpoint", "run_dir"} - {k for k in RESULT_KEYS if k.endswith("_s")}:
        assert resumed[key] == straight[key], key


@pytest.mark.parametrize(
    "data, message",
    [
        ("", "holds no \\(prompt, target\\) pairs"),
        ('{"prompt": "a", "target": "b"}\n', "too few pairs to fit"),
        ('{"prompt": "a", "target": "b"}\n{"prompt": "c", "target": "d"}\n', "too few pairs to fit"),
    ],
    ids=["empty", "one-pair", "two-pairs"],
)
def test_fit_refuses_data_it_cannot_split_three_ways(tmp_path, data, message):
    path = tmp_path / "pairs.jsonl"
    path.write_text(data)
    with pytest.raises(SystemExit, match=message):
        main(["fit", "--dataset", str(path), "--run-dir", str(tmp_path / "fit")])
    assert not (tmp_path / "fit").exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--task", "reverse", "--dataset", "x.jsonl"], "give either task or dataset"),
        ([], "give the data to fit"),
        (["--task", "reverse", "--rl-steps", "0"], "--rl-steps.*must be >= 1"),
        (["--task", "reverse", "--pretrain-epochs", "0"], "--pretrain-epochs.*must be >= 1"),
        (["--resume", "somewhere", "--seed", "3"], "a resumed fit keeps its config"),
    ],
    ids=["task-and-dataset", "no-data", "no-rl-budget", "no-pretraining-budget", "resume-with-options"],
)
def test_fit_refuses_bad_options_with_one_line(argv, message, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["fit", *argv])
    said = f"{stopped.value.code} {capsys.readouterr().err}"
    assert re.search(message, said), said

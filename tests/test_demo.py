"""`make demo`'s pieces: the examples it prints and the baseline it compares with."""

import numpy as np
import pytest
from rapidfuzz.distance import Levenshtein

from agents.demo import EXAMPLES, example_indices
from agents.model.evaluation import copy_baseline
from textgen_env.task import TextTask


def test_the_demo_shows_different_sentences_not_noisy_variants_of_one():
    task = TextTask(task="spelling", split="test")
    indices = example_indices(task)
    assert len(indices) == EXAMPLES
    assert len({task.target_texts[i] for i in indices}) == EXAMPLES
    assert indices[0] == 0 and task.target_texts[1] == task.target_texts[0]  # variants are adjacent: skipping them matters


def test_copy_baseline_is_the_similarity_of_writing_the_prompt_back():
    task = TextTask(task="spelling", split="test")
    expected = np.mean([Levenshtein.normalized_similarity(p, t) for p, t in zip(task.prompt_ids, task.target_ids)])
    assert copy_baseline(task) == expected and 0.8 < expected < 1.0


@pytest.mark.slow  # two short demos end to end; the numbering itself is tested in test_runs
def test_a_second_demo_writes_a_folder_of_its_own(tmp_path, capsys):
    from agents.demo import main

    for _ in range(2):
        main(["--pretrain-epochs", "1", "--rl-steps", "300", "--run-dir", str(tmp_path / "demo")])
    out = capsys.readouterr().out
    assert f"textgen-rl generate {tmp_path / 'demo' / 'checkpoint.pt'}" in out
    assert f"textgen-rl generate {tmp_path / 'demo_2' / 'checkpoint.pt'}" in out
    assert out.count("held-out examples") == 2 and (tmp_path / "demo_2" / "report.md").exists()

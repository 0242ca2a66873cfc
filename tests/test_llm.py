"""Our tasks and rewards for LLM fine-tuning: TRL reward functions, Hugging Face datasets, completions scored."""

import importlib.util
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rapidfuzz.distance import OSA, DamerauLevenshtein, Hamming, Indel, JaroWinkler, LCSseq, Levenshtein

from agents.cli import main
from textgen_env import TextTask, to_hf_dataset
from textgen_env.completions import score_completions
from textgen_env.trl import exact_reward, inverse_reward, reward_function, similarity_reward, sparse_reward

RAPIDFUZZ = {
    "levenshtein": Levenshtein.normalized_similarity,
    "indel": Indel.normalized_similarity,
    "osa": OSA.normalized_similarity,
    "damerau_levenshtein": DamerauLevenshtein.normalized_similarity,
    "lcs": LCSseq.normalized_similarity,
    "hamming": lambda a, b: Hamming.normalized_similarity(a, b, pad=True),
    "jaro_winkler": JaroWinkler.normalized_similarity,
}
TEXTS = st.text(alphabet=st.characters(codec="utf-8"), max_size=30)


@settings(max_examples=60, deadline=None)
@given(pairs=st.lists(st.tuples(TEXTS, TEXTS), min_size=1, max_size=4), metric=st.sampled_from(sorted(RAPIDFUZZ)))
def test_similarity_rewards_equal_rapidfuzz_for_text_and_chat_completions(pairs, metric):
    completions, targets = [c for c, _ in pairs], [t for _, t in pairs]
    reward = similarity_reward(metric)
    expected = [RAPIDFUZZ[metric](c, t) for c, t in pairs]
    assert reward(prompts=["p"] * len(pairs), completions=completions, target=targets) == expected
    chat = [[{"role": "assistant", "content": c}] for c in completions]
    assert reward(prompts=None, completions=chat, target=targets) == expected
    assert all(0.0 <= value <= 1.0 for value in expected)


@settings(max_examples=40, deadline=None)
@given(completion=TEXTS, target=TEXTS)
def test_sparse_inverse_and_exact_rewards_follow_the_envs_modes(completion, target):
    distance = Levenshtein.distance(completion, target)
    assert sparse_reward()(completions=[completion], target=[target]) == [-distance / max(1, len(target))]
    assert inverse_reward()(completions=[completion], target=[target]) == [1 / (1 + distance)]
    assert exact_reward()(completions=[completion], target=[target]) == [float(completion == target)]


def test_reward_names_columns_and_refusals():
    assert similarity_reward().__name__ == "levenshtein_similarity"
    assert sparse_reward("indel").__name__ == "indel_sparse" and exact_reward().__name__ == "exact_match"
    assert similarity_reward(column="answer")(completions=["ab"], answer=["ab"]) == [1.0]
    with pytest.raises(ValueError, match=r"no dataset column 'target' among \['answer'\]"):
        similarity_reward()(completions=["ab"], answer=["ab"])
    with pytest.raises(ValueError, match="mode='dense': over a whole completion"):
        reward_function(mode="dense")
    with pytest.raises(ValueError, match="metric='cosine': allowed values are"):
        similarity_reward("cosine")
    with pytest.raises(ValueError, match="2 completions but 1 targets"):
        similarity_reward()(completions=["a", "b"], target=["a"])
    with pytest.raises(ValueError, match="expected a string or a list of messages"):
        similarity_reward()(completions=[42], target=["a"])


def test_hf_datasets_split_exactly_as_the_env():
    pytest.importorskip("datasets")
    train, test = TextTask(task="reverse", split="train").dataset, TextTask(task="reverse", split="test").dataset
    both = to_hf_dataset(task="reverse", split=None)
    assert set(both) == {"train", "test"} and both["train"].column_names == ["prompt", "target"]
    assert both["train"]["prompt"] == train.prompts and both["test"]["target"] == test.targets
    chat = to_hf_dataset(task="reverse", split="test", chat=True)
    assert chat[0]["prompt"][0]["role"] == "system" and "reversed" in chat[0]["prompt"][0]["content"]
    assert chat[0]["prompt"][1] == {"role": "user", "content": test.prompts[0]}
    own = to_hf_dataset(dataset=[("a b", "b a")] * 3 + [("c d", "d c")] * 3, split="all", chat=True, system_prompt="Swap.")
    assert own[0]["prompt"][0] == {"role": "system", "content": "Swap."} and len(own) == 6
    with pytest.raises(ValueError, match="split='dev': allowed values are"):
        to_hf_dataset(task="reverse", split="dev")


def test_parquet_files_and_save_to_disk_folders_are_datasets(tmp_path):
    datasets = pytest.importorskip("datasets")
    pairs = {"prompt": [f"p{i}" for i in range(10)], "target": [f"t{i}" for i in range(10)]}
    datasets.Dataset.from_dict(pairs).to_parquet(str(tmp_path / "pairs.parquet"))
    datasets.DatasetDict({"train": datasets.Dataset.from_dict(pairs)}).save_to_disk(str(tmp_path / "saved"))
    for path in (tmp_path / "pairs.parquet", tmp_path / "saved"):
        task = TextTask(dataset=str(path), split="all")
        assert task.dataset.prompts == pairs["prompt"] and task.dataset.targets == pairs["target"]
    datasets.Dataset.from_dict({"question": ["q"]}).to_parquet(str(tmp_path / "other.parquet"))
    with pytest.raises(ValueError, match=r"other.parquet: columns \['prompt', 'target'\] missing"):
        TextTask(dataset=str(tmp_path / "other.parquet"))


def test_evaluate_completions_scores_any_models_output(tmp_path, capsys):
    test = TextTask(task="reverse", split="test").dataset
    lines = [{"prompt": p, "completion": t} for p, t in zip(test.prompts[:3], test.targets[:3])]
    lines += [{"completion": [{"role": "assistant", "content": "xyz"}], "target": "xyw"}]
    path = tmp_path / "completions.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    main(["evaluate-completions", str(path), "--task", "reverse"])
    result = json.loads(capsys.readouterr().out)
    expected = score_completions(test.targets[:3] + ["xyz"], test.targets[:3] + ["xyw"])
    assert result == {"split": "test", **expected}
    assert result["count"] == 4 and result["exact_rate"] == 0.75 and result["mean_distance"] == 0.25
    assert result["mean_difflib_ratio"] == pytest.approx((3 + 2 / 3) / 4)
    path.write_text(json.dumps({"prompt": "not a prompt of the task", "completion": "a"}) + "\n")
    with pytest.raises(SystemExit, match="completions.jsonl:1: prompt 'not a prompt of the task' is not in the test split"):
        main(["evaluate-completions", str(path), "--task", "reverse"])


def grpo_example():
    """examples/trl_grpo.py as a module: the test drives the example's own trainer."""
    pytest.importorskip("trl")
    path = Path(__file__).resolve().parent.parent / "examples" / "trl_grpo.py"
    spec = importlib.util.spec_from_file_location("trl_grpo_example", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_two_grpo_steps_log_our_reward_on_the_generated_completions(tmp_path):
    example = grpo_example()
    dataset = to_hf_dataset(task="reverse", split="train", task_options={"num_examples": 40, "max_length": 4})
    model, tokenizer = example.tiny_language_model()
    reward = similarity_reward()
    calls = []

    def recorded(prompts, completions, **columns):
        values = reward(prompts, completions, **columns)
        calls.append((list(completions), list(columns["target"]), values))
        return values

    recorded.__name__ = reward.__name__
    settings = dict(per_device_train_batch_size=4, num_generations=4, max_completion_length=6, logging_steps=1)
    trainer = example.make_trainer(
        model, tokenizer, dataset, [recorded], str(tmp_path), steps=2, disable_tqdm=True, **settings
    )
    trainer.train()
    logged = [
        row[f"rewards/{reward.__name__}/mean"] for row in trainer.state.log_history if f"rewards/{reward.__name__}/mean" in row
    ]
    assert len(calls) == 2 and len(logged) == 2
    for (completions, targets, values), mean in zip(calls, logged):
        assert values == [Levenshtein.normalized_similarity(c, t) for c, t in zip(completions, targets)]
        assert mean == pytest.approx(sum(values) / len(values), abs=1e-6)
        assert set(targets) <= set(dataset["target"])
    test = to_hf_dataset(task="reverse", split="test", task_options={"num_examples": 40, "max_length": 4}).select(range(3))
    scores = example.evaluate(trainer.model, tokenizer, test, max_new_tokens=6)
    assert scores["count"] == 3 and 0.0 <= scores["mean_similarity"] <= 1.0 and 0.0 <= scores["mean_difflib_ratio"] <= 1.0

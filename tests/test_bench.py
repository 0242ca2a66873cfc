"""The agents-side-by-side harness."""

import importlib.util
import json

import numpy as np
import pytest
from rapidfuzz.distance import Levenshtein

pytest.importorskip("torch", reason="install the 'agents' extra")

from agents import bench
from agents.bench import BenchAgent, BenchSpec, interval, make_agent, run_benchmark, run_cell


class EchoAgent:
    """A third-party agent through the documented interface: writes the prompt back."""

    def setup(self, env_kwargs, seed, budget):
        self.used, self.seed = 0, seed

    def train(self, env_steps):
        self.used += env_steps
        return self.used

    def generate(self, prompts):
        return list(prompts)


def test_a_third_party_agent_joins_by_module_and_class():
    agent = make_agent("test_bench:EchoAgent")
    assert isinstance(agent, BenchAgent)
    spec = BenchSpec(["test_bench:EchoAgent"], ["copy"], [0], budget=900, eval_points=3, eval_episodes=50)
    cell = run_cell("test_bench:EchoAgent", "copy", 0, spec)
    assert cell["similarity"] == 1.0 and cell["exact_rate"] == 1.0  # copying the prompt solves copy
    assert [p["env_steps"] for p in cell["curve"]] == [300, 600, 900] and cell["steps_to_goal"] == 300
    reverse = run_cell("test_bench:EchoAgent", "reverse", 0, spec)
    from textgen_env.task import TextTask

    task = TextTask(task="reverse", split="test")
    expected = np.mean(
        [Levenshtein.normalized_similarity(p, t) for p, t in zip(task.dataset.prompts[:50], task.target_texts[:50])]
    )
    assert reverse["similarity"] == pytest.approx(expected)


def test_run_benchmark_writes_table_json_and_plots(tmp_path):
    spec = BenchSpec(
        ["ours-ppo", "test_bench:EchoAgent"], ["copy"], [0, 1], budget=600, eval_points=2, eval_episodes=20, name="tiny"
    )
    result = run_benchmark(spec, tmp_path, "test", log=lambda *_: None)
    summary = {r["agent"]: r for r in result["summary"]}
    assert summary["test_bench:EchoAgent"]["similarity"] == 1.0 and summary["test_bench:EchoAgent"]["similarity_ci95"] == 0.0
    assert 0.0 <= summary["ours-ppo"]["similarity"] < 1.0 and summary["ours-ppo"]["env_steps_per_s"] > 0
    table = (tmp_path / "agents_tiny.md").read_text()
    assert "| copy | test_bench:EchoAgent | 1.000 ± 0.000 | 100.0% | 300 (2/2) |" in table
    assert json.loads((tmp_path / "agents_tiny.json").read_text())["spec"]["seeds"] == [0, 1]
    if importlib.util.find_spec("matplotlib") is not None:
        assert (tmp_path / "agents_tiny_copy.png").stat().st_size > 1000
    else:  # the 'plots' extra is missing: no plots, and none claimed
        assert result["plots"] == []


def test_sb3_agent_in_the_harness(monkeypatch):
    pytest.importorskip("stable_baselines3", reason="install the 'sb3' extra")
    # One env keeps SB3's minimum rollout (n_steps=2048 per env) short.
    monkeypatch.setitem(bench.BUILTIN_AGENTS, "sb3-maskable-ppo", lambda: bench.StableBaselinesAgent("MaskablePPO", n_envs=1))
    spec = BenchSpec(["sb3-maskable-ppo"], ["copy"], [0], budget=100, eval_points=1, eval_episodes=10)
    cell = run_cell("sb3-maskable-ppo", "copy", 0, spec)
    assert cell["env_steps"] >= 100 and 0.0 <= cell["similarity"] <= 1.0


def test_missing_extra_and_unknown_agents_are_named(monkeypatch, tmp_path):
    monkeypatch.setattr(bench, "agent_available", lambda name: name not in bench.EXTRAS)
    with pytest.raises(ValueError, match=r"'sb3-ppo' needs the 'sb3' extra: pip install 'textgen-env\[sb3\]'"):
        make_agent("sb3-ppo")
    with pytest.raises(ValueError, match="agent 'dqn': allowed are"):
        make_agent("dqn")
    with pytest.raises(ValueError, match="lacks setup/train/generate"):
        make_agent("json:JSONDecoder")
    lines = []
    spec = BenchSpec(["sb3-a2c"], ["copy"], [0], budget=10)
    run_benchmark(spec, tmp_path, "test", log=lines.append)
    assert lines[0] == "skipping sb3-a2c: install the 'sb3' extra (pip install 'textgen-env[sb3]')"


def test_interval():
    assert interval([0.5]) == (0.5, 0.0)
    mean, half = interval([0.4, 0.6])
    assert mean == pytest.approx(0.5) and half == pytest.approx(12.71 * np.std([0.4, 0.6], ddof=1) / np.sqrt(2))


def test_ppo_comparison_lines():
    row = dict(
        similarity=0.5,
        similarity_ci95=0.0,
        exact_rate=0.0,
        steps_to_goal=None,
        seeds=1,
        seeds_reaching_goal=0,
        train_seconds=1.0,
    )
    rows = [
        {**row, "task": "copy", "agent": "ours-ppo", "env_steps_per_s": 9000.0, "similarity": 0.45},
        {**row, "task": "copy", "agent": "sb3-ppo", "env_steps_per_s": 2000.0, "similarity": 0.15},
        {**row, "task": "reverse", "agent": "ours-ppo", "env_steps_per_s": 9000.0},  # no SB3 row: no comparison
    ]
    assert bench.ppo_comparison(rows)[-2:] == ["|---|---|---|", "| copy | 4.5x | +0.300 |"]
    assert bench.ppo_comparison(rows[2:]) == []
    assert "ours-ppo vs sb3-ppo" in bench.to_markdown(
        BenchSpec(["ours-ppo", "sb3-ppo"], ["copy"], [0], budget=10), rows, "test"
    )

"""The agents-side-by-side harness."""

import importlib.util
import json

import numpy as np
import pytest
from rapidfuzz.distance import Levenshtein

pytest.importorskip("torch", reason="install the 'agents' extra")

from agents import bench
from agents.bench import BenchAgent, BenchSpec, harness, interval, make_agent, report, run_benchmark, run_cell
from agents.bench import agents as bench_agents


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
    assert [p["env_steps"] for p in cell["curve"]] == [300, 600, 900] and cell["steps_to"] == {"0.9": 300, "0.99": 300}
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
    assert "| copy | test_bench:EchoAgent | 1.000 ± 0.000 | 100.0% | 1.000 | 300 (2/2) | 300 (2/2) |" in table
    assert json.loads((tmp_path / "agents_tiny.json").read_text())["spec"]["seeds"] == [0, 1]
    if importlib.util.find_spec("matplotlib") is not None:
        assert (tmp_path / "agents_tiny_copy.png").stat().st_size > 1000
    else:  # the 'plots' extra is missing: no plots, and none claimed
        assert result["plots"] == []


def test_sb3_agent_in_the_harness(monkeypatch):
    pytest.importorskip("stable_baselines3", reason="install the 'sb3' extra")
    # One env keeps SB3's minimum rollout (n_steps=2048 per env) short.
    monkeypatch.setitem(
        bench.BUILTIN_AGENTS, "sb3-maskable-ppo", lambda: bench_agents.StableBaselinesAgent("MaskablePPO", n_envs=1)
    )
    spec = BenchSpec(["sb3-maskable-ppo"], ["copy"], [0], budget=100, eval_points=1, eval_episodes=10)
    cell = run_cell("sb3-maskable-ppo", "copy", 0, spec)
    assert cell["env_steps"] >= 100 and 0.0 <= cell["similarity"] <= 1.0


def test_missing_extra_and_unknown_agents_are_named(monkeypatch, tmp_path):
    for module in (bench_agents, harness):  # each looks the function up in its own namespace
        monkeypatch.setattr(module, "agent_available", lambda name: name not in bench.EXTRAS)
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
    row = dict(similarity=0.5, similarity_ci95=0.0, exact_rate=0.0, seeds=1, train_seconds=1.0)
    row.update({"steps_to_0.9": None, "seeds_reaching_0.9": 0, "steps_to_0.99": None, "seeds_reaching_0.99": 0})
    rows = [
        {**row, "task": "copy", "agent": "ours-ppo", "env_steps_per_s": 9000.0, "similarity": 0.45},
        {**row, "task": "copy", "agent": "sb3-ppo", "env_steps_per_s": 2000.0, "similarity": 0.15},
        {**row, "task": "reverse", "agent": "ours-ppo", "env_steps_per_s": 9000.0},  # no SB3 row: no comparison
    ]
    assert report.ppo_comparison(rows)[-2:] == ["|---|---|---|", "| copy | 4.5x | +0.300 |"]
    assert report.ppo_comparison(rows[2:]) == []
    table = bench.to_markdown(BenchSpec(["ours-ppo", "sb3-ppo"], ["copy"], [0], budget=10), rows, "test")
    assert "ours-ppo vs sb3-ppo" in table and "| copy | ours-ppo | 0.450 ± 0.000 | 0.0% | - |" in table  # no ratio recorded


def test_tasks_with_options_datasets_and_the_baselines(tmp_path):
    from agents.bench.presets import task_kwargs

    assert task_kwargs("reverse:max_length=16,alphabet=xyz", {"reward": "sparse"}) == {
        "reward": "sparse",
        "task": "reverse",
        "task_options": {"max_length": 16, "alphabet": "xyz"},
    }
    data = tmp_path / "d.jsonl"
    data.write_text(
        "".join(f'{{"prompt": "{w}", "target": "{w[::-1]}"}}\n' for w in ["abc", "bca", "cab", "acb", "bac", "cba", "aab"])
    )
    assert task_kwargs(str(data), {}) == {"dataset": str(data)}
    with pytest.raises(ValueError, match="neither a built-in task"):
        task_kwargs("poetry", {})
    agents = ["copy-prompt", "random", "test_bench:EchoAgent"]
    spec = BenchSpec(agents, [str(data), "reverse:max_length=5"], [0], budget=100, eval_points=1, eval_episodes=None)
    result = run_benchmark(spec, tmp_path, "test", log=lambda *_: None)
    rows = {(r["task"], r["agent"]): r for r in result["summary"]}
    assert rows[(str(data), "copy-prompt")]["similarity"] == rows[(str(data), "test_bench:EchoAgent")]["similarity"]
    assert rows[(str(data), "copy-prompt")]["env_steps_per_s"] is None  # untrained: no speed to report
    assert rows[("reverse:max_length=5", "random")]["similarity"] < 0.3
    table = (tmp_path / "agents_custom.md").read_text()
    assert "Best trained agent against the better untrained baseline" in table and "NOT clearly past the baseline" in table


def test_step_axis_labels_are_short():
    pytest.importorskip("matplotlib", reason="install the 'plots' extra")
    label = bench.steps_formatter()
    assert [label(v, None) for v in (500, 50_000, 100_000, 1_500_000)] == ["500", "50K", "100K", "1.5M"]


def test_a_missing_matplotlib_is_said_in_one_line(monkeypatch, tmp_path):
    import builtins

    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    lines = []
    assert bench.plot_curves([{"task": "copy", "agent": "a", "curve": []}], tmp_path / "x", log=lines.append) == []
    assert lines == ["no learning-curve plots: matplotlib is not installed (pip install 'textgen-env[plots]')"]


def test_an_agent_module_in_the_current_folder_is_found(tmp_path, monkeypatch):
    import sys

    (tmp_path / "my_local_agent.py").write_text("from test_bench import EchoAgent as Mine\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    assert isinstance(make_agent("my_local_agent:Mine"), BenchAgent)


def test_cells_in_parallel_processes_match_the_serial_run():
    from agents.bench import run_cells

    spec = BenchSpec(["ours-reinforce", "random"], ["copy"], [0, 1], budget=512, eval_points=1, eval_episodes=10)
    grid = [("ours-reinforce", "copy", 0), ("random", "copy", 1), ("ours-reinforce", "copy", 1)]
    serial = [run_cell(*cell, spec) for cell in grid]
    parallel = run_cells(grid, spec, jobs=2, log=lambda *_: None)
    assert [(c["agent"], c["seed"]) for c in parallel] == [(a, s) for a, _, s in grid]  # grid order, whatever finished first
    assert [c["curve"] for c in parallel] == [c["curve"] for c in serial]


def test_a_baseline_that_solves_the_task_is_no_bar():
    from agents.bench.report import baseline_comparison

    def row(agent, similarity, exact):
        return {"task": "copy", "agent": agent, "similarity": similarity, "similarity_ci95": 0.0, "exact_rate": exact}

    lines = baseline_comparison([row("ours-ppo", 1.0, 1.0), row("copy-prompt", 1.0, 1.0), row("random", 0.07, 0.0)])
    assert lines[-1] == "| copy | ours-ppo 1.000 ± 0.000 | random 0.070 | +0.930 | learned past the baseline |"

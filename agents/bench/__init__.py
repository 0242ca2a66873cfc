"""Agents side by side: a grid of agents x tasks x seeds at a fixed env-step budget per task.

Every agent, ours or a third party's, is driven through one small interface,
:class:`~agents.bench.agents.BenchAgent`: set up on a task and seed, train for more
env steps, then write texts for prompts. The harness trains in chunks, scores greedy
generations on the task's held-out split after each chunk (normalized Levenshtein
similarity over tokens, as the env's ``info["similarity"]``, and exact matches), and
reports per cell: final similarity and exact-match rate (mean over seeds with a 95%
interval), env steps to reach 0.9 and 0.99 similarity, training wall time and
env-steps/s. Two untrained baselines join any grid: ``copy-prompt`` writes the
prompt back, ``random`` writes random tokens.

A task is a built-in name, optionally with options (``reverse:max_length=16,seed=1``),
or a dataset file. To benchmark your own agent, write a class with the three
methods of ``BenchAgent`` and pass ``--agents your_module:YourClass``
(looked up in the current folder too, as ``python -m`` does).

=============  ================================================================
module         what it holds
=============  ================================================================
``agents``     the BenchAgent interface, our agents, SB3 adapters, baselines
``presets``    BenchSpec and the named presets (suite, ladder, ...)
``harness``    one cell, cells in parallel processes, run_benchmark
``report``     intervals, summaries, markdown tables
``plots``      learning curves and the ladder figure
=============  ================================================================
"""

from agents.bench.agents import BASELINE_AGENTS, BUILTIN_AGENTS, EXTRAS, BenchAgent, agent_available, make_agent
from agents.bench.harness import run_benchmark, run_cell, run_cells
from agents.bench.plots import plot_curves, plot_ladder, steps_formatter
from agents.bench.presets import PRESETS, BenchSpec
from agents.bench.report import THRESHOLDS, interval, summarize, to_markdown
from textgen_env.aliases import renamed_attributes

__getattr__ = renamed_attributes(__name__, {"BASELINES": "BASELINE_AGENTS"}, globals())

__all__ = [
    "BASELINE_AGENTS",
    "BUILTIN_AGENTS",
    "EXTRAS",
    "PRESETS",
    "THRESHOLDS",
    "BenchAgent",
    "BenchSpec",
    "agent_available",
    "interval",
    "make_agent",
    "plot_curves",
    "plot_ladder",
    "run_benchmark",
    "run_cell",
    "run_cells",
    "steps_formatter",
    "summarize",
    "to_markdown",
]

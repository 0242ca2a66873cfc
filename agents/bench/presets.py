"""What a benchmark runs: :class:`BenchSpec` (tasks, seeds, budgets, env options) and the named presets."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from agents.bench.agents import BASELINE_AGENTS
from agents.options import parse_option_value
from textgen_env.builtin_tasks import TASKS


def task_kwargs(task: str, env: dict) -> dict:
    """The env arguments of a bench task: ``name``, ``name:key=value,...`` or a dataset file; `env` adds to them."""
    name, _, options = task.partition(":")
    if name in TASKS:
        parsed = {}
        for item in filter(None, options.split(",")):
            key, sep, value = item.partition("=")
            if not sep:
                raise ValueError(f"task {task!r}: options must be key=value, got {item!r}")
            parsed[key] = parse_option_value(value)
        return {**env, "task": name, "task_options": {**env.get("task_options", {}), **parsed}}
    if not os.path.isfile(task):
        raise ValueError(f"task {task!r}: neither a built-in task {list(TASKS)} nor a dataset file")
    return {**env, "dataset": task}


@dataclass
class BenchSpec:
    agents: list[str]
    tasks: list[str]
    seeds: list[int]
    budget: int  # env steps per run, unless `budgets` names the task
    eval_points: int = 5
    eval_episodes: int | None = 100  # None: the whole held-out split
    name: str = "custom"
    budgets: dict = field(default_factory=dict)
    env: dict = field(default_factory=dict)  # env arguments every task gets

    def budget_of(self, task: str) -> int:
        return self.budgets.get(task, self.budget)


SUITE_TASKS = ["copy", "reverse", "repeat", "duplicate", "sort", "addition", "spelling", "reverse_words", "continue"]
LADDER_LENGTHS = (8, 16, 32, 64, 128)
PRESETS = {
    "quick": BenchSpec(
        ["ours-ppo", "ours-a2c", "ours-reinforce", "sb3-ppo", "sb3-a2c", "sb3-maskable-ppo"],
        ["copy", "reverse"],
        [0, 1],
        30_000,
        3,
        100,
        "quick",
    ),
    "full": BenchSpec(
        ["ours-ppo", "ours-a2c", "ours-reinforce", "sb3-ppo", "sb3-a2c", "sb3-maskable-ppo"],
        ["copy", "reverse", "continue"],
        [0, 1, 2],
        300_000,
        10,
        None,
        "full",
    ),
    "suite": BenchSpec(
        ["ours-ppo", "ours-a2c", "ours-reinforce", "sb3-ppo", *BASELINE_AGENTS],
        SUITE_TASKS,
        [0, 1],
        200_000,
        5,
        200,
        "suite",
        budgets={"repeat": 300_000, "duplicate": 300_000, "sort": 300_000, "addition": 500_000, "spelling": 300_000},
    ),
    # PPO's defaults up the length ladder; each rung's budget is about what it needs to reach 0.99, so steps to
    # 0.9 and 0.99 are measured where they fall.
    "ladder": BenchSpec(
        ["ours-ppo"],
        [f"reverse:min_length=3,max_length={n}" for n in LADDER_LENGTHS],
        [0],
        1_000_000,
        20,
        200,
        "ladder",
        budgets={
            "reverse:min_length=3,max_length=8": 300_000,
            "reverse:min_length=3,max_length=32": 2_000_000,
            "reverse:min_length=3,max_length=64": 3_000_000,
            "reverse:min_length=3,max_length=128": 2_000_000,
        },
    ),
}

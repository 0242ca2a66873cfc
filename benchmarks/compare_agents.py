"""Agents side by side (the harness lives in agents/bench/; this is `textgen-rl bench`).

python benchmarks/compare_agents.py --preset quick     # a few minutes
python benchmarks/compare_agents.py --preset suite     # every task of the suite, ours and SB3's PPO, 2 seeds
python benchmarks/compare_agents.py --preset ladder    # reverse at max lengths 8-64, with and without the curriculum
python benchmarks/compare_agents.py --agents ours-ppo sb3-ppo --tasks copy --steps 100000
"""

import sys

from agents.cli import main

if __name__ == "__main__":
    main(["bench", *sys.argv[1:]])

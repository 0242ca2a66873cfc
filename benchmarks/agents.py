"""Agents side by side (the harness lives in agents/bench.py; this is `textgen-rl bench`).

    python benchmarks/agents.py --preset quick        # a few minutes
    python benchmarks/agents.py --preset full         # copy, reverse, continue; 3 seeds; 300K steps
    python benchmarks/agents.py --agents ours-ppo sb3-ppo --tasks copy --steps 100000
"""

import sys

from agents.cli import main

if __name__ == "__main__":
    main(["bench", *sys.argv[1:]])

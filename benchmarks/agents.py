"""Agents side by side (the harness lives in agents/bench.py; this is `textgen-rl bench`).

python benchmarks/agents.py --preset quick        # a few minutes
python benchmarks/agents.py --preset full         # copy, reverse, continue; 3 seeds; 300K steps
python benchmarks/agents.py --agents ours-ppo sb3-ppo --tasks copy --steps 100000
"""

import sys
from pathlib import Path

# This folder holds agents.py (the name the harness script goes by), which would
# shadow the `agents` package for scripts run from here.
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from agents.cli import main  # noqa: E402

if __name__ == "__main__":
    main(["bench", *sys.argv[1:]])

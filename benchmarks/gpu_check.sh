#!/usr/bin/env bash
# PPO on copy for 1M env steps on cuda and on the CPU: env-steps/s and held-out similarity side by side.
#   bash benchmarks/gpu_check.sh [STEPS]        (on a machine with a GPU; `make install TORCH_SPEC="torch>=2.2"` first)
# Writes benchmarks/results/gpu_check.md. The env always steps on the CPU; only the policy moves.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
STEPS=${1:-1000000}
OUT=benchmarks/results/gpu_check.md
"$PY" - "$STEPS" "$OUT" <<'PYTHON'
import json, platform, sys, time
import torch
from agents.algorithms.ppo import PPO, PPOConfig
from agents.runs.config import EnvConfig

steps, out = int(sys.argv[1]), sys.argv[2]
if not torch.cuda.is_available():
    raise SystemExit("gpu_check: torch sees no CUDA device; run this on a machine with a GPU")
rows = []
for device in ("cuda", "cpu"):
    started = time.perf_counter()
    run = PPO(PPOConfig(env=EnvConfig(task="copy"), total_env_steps=steps, device=device, seed=0))
    run.learn()
    wall = time.perf_counter() - started
    result = run.evaluate()
    rows.append({"device": device, "env_steps": run.env_steps, "wall_s": wall, "env_steps_per_s": run.env_steps / wall,
                 "heldout_similarity": result["mean_similarity"], "exact_rate": result["exact_rate"]})
    print(json.dumps(rows[-1]), flush=True)
lines = [
    "# PPO on a GPU and on the CPU",
    "",
    f"Command: `bash benchmarks/gpu_check.sh {steps}` ({torch.cuda.get_device_name(0)}, torch {torch.__version__},"
    f" {torch.get_num_threads()} CPU threads, Python {platform.python_version()}). Task copy, PPO's defaults; the env on the CPU.",
    "",
    "| device | env steps | wall s | env steps/s | held-out similarity | exact |",
    "|---|---|---|---|---|---|",
    *[f"| {r['device']} | {r['env_steps']:,} | {r['wall_s']:.0f} | {r['env_steps_per_s']:,.0f} | {r['heldout_similarity']:.4f} | {r['exact_rate']:.1%} |" for r in rows],
]
open(out, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PYTHON

#!/usr/bin/env bash
# PPO on copy for 1M env steps on cuda and on the CPU: env-steps/s and held-out similarity side by side;
# then the two paths past one process on the GPUs: our loop under torchrun (1 rank, and one rank per GPU,
# nccl) and RLlib's PPO with a GPU learner (where RLLIB_PY, the RLlib venv's python, exists).
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

# -- past one process: torchrun (nccl) and RLlib with a GPU learner --------------------------------
GPUS=$("$PY" -c "import torch; print(torch.cuda.device_count())")
RLLIB_PY=${RLLIB_PY:-.venv-rllib/bin/python}
TMP=$(mktemp -d)
for N in $(printf '1\n%s\n' "$GPUS" | sort -un); do
  "$PY" -m torch.distributed.run --standalone --nproc-per-node "$N" -m agents train --task copy --steps "$STEPS" \
    --device cuda --num-envs $((256 * N)) --run-dir "$TMP/ddp$N"
done
if [ -x "$RLLIB_PY" ]; then
  "$RLLIB_PY" -m agents train --backend rllib --task copy --steps "$STEPS" --num-env-runners 4 --num-learners 1 \
    --num-gpus-per-learner 1 --run-dir "$TMP/rllib"
fi
"$PY" - "$TMP" "$OUT" "$GPUS" <<'PYTHON'
import sys
from pathlib import Path
from agents.runs.checkpoint import Checkpoint

tmp, out, gpus = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
lines = ["", "## Past one process", "", "| run | env steps | env steps/s (iterations' own time) |", "|---|---|---|"]
runs = {"ddp1": "torchrun, 1 rank, 256 episodes per batch", f"ddp{gpus}": f"torchrun, {gpus} ranks (nccl), 256 per rank"}
for name, label in runs.items():  # one row when there is one GPU
    rows = Checkpoint.load(tmp / name / "checkpoint.pt").history
    rate = rows[-1]["env_steps"] / sum(r["rollout_s"] + r["update_s"] for r in rows)
    lines.append(f"| {label} | {rows[-1]['env_steps']:,} | {rate:,.0f} |")
if (tmp / "rllib" / "checkpoint.pt").exists():
    rows = Checkpoint.load(tmp / "rllib" / "checkpoint.pt").history
    lines.append(f"| RLlib PPO, 4 env runners, 1 GPU learner | {rows[-1]['env_steps']:,} | {rows[-1]['env_steps_per_s']:,.0f} (wall) |")
open(out, "a").write("\n".join(lines) + "\n")
print("\n".join(lines))
PYTHON

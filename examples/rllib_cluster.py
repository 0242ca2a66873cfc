"""RLlib's PPO with our LSTM-attention policy across a Ray cluster: how to go past one machine.

On the head node:      ray start --head
On every other node:   ray start --address=<head-ip>:6379
(every node needs this package: pip install 'textgen-env[rllib]'; datasets and tokenizers
travel in the config, so the nodes need no copy of them)
Then, on the head:     python examples/rllib_cluster.py --address auto --runners 16 --steps 2000000

The same from the command line, with our checkpoint written at the end:
    textgen-rl train --backend rllib --address auto --num-env-runners 16 --task reverse --steps 2000000

Without a cluster it runs on a local Ray (use --runners 2 on a laptop).
"""

import argparse

import ray

from agents.algorithms.ppo import PPOConfig
from agents.integrations.rllib import RLlibConfig
from agents.integrations.rllib_run import train
from agents.runs.config import EnvConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="reverse")
    parser.add_argument("--dataset", default=None, help="a dataset file instead of a task (read on the head only)")
    parser.add_argument(
        "--runners", type=int, default=2, help="env runners (processes that step envs), spread over the cluster"
    )
    parser.add_argument(
        "--learners", type=int, default=0, help="learner processes (0: learn on the head); with GPUs: --gpus-per-learner 1"
    )
    parser.add_argument("--gpus-per-learner", type=float, default=0.0)
    parser.add_argument("--steps", type=int, default=1_000_000)
    parser.add_argument("--address", default=None, help="'auto' joins the running cluster; default: start a local Ray")
    parser.add_argument("--run-dir", default="runs/rllib-cluster")
    args = parser.parse_args()
    ray.init(address=args.address)
    data = {"dataset": args.dataset, "task": None} if args.dataset else {"task": args.task}
    config = PPOConfig(env=EnvConfig(**data), total_env_steps=args.steps, run_dir=args.run_dir)
    rllib = RLlibConfig(num_env_runners=args.runners, num_learners=args.learners, num_gpus_per_learner=args.gpus_per_learner)
    print(train(config, rllib))
    print(f"checkpoint: {args.run_dir}/checkpoint.pt (textgen-rl evaluate / generate read it)")


if __name__ == "__main__":
    main()

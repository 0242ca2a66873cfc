"""PPO on TextGeneration-v0 across a Ray cluster: how to go past one machine.

On the head node:      ray start --head
On every other node:   ray start --address=<head-ip>:6379
(each node needs this package installed: pip install 'textgen-env[rllib]')
Then, on the head:     python examples/rllib_cluster.py --address auto --runners 16 --iterations 50

Without a cluster it runs on a local Ray (use --runners 2 on a laptop).
"""

import argparse

import ray

from agents.rllib import ppo_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="copy")
    parser.add_argument(
        "--runners", type=int, default=2, help="env runners (processes that step envs), spread over the cluster"
    )
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--address", default=None, help="'auto' joins the running cluster; default: start a local Ray")
    args = parser.parse_args()
    ray.init(address=args.address)
    config = ppo_config(
        {"task": args.task},
        num_env_runners=args.runners,
        train_batch_size_per_learner=4000,
        minibatch_size=500,
        num_epochs=4,
        lr=3e-4,
    )
    algo = config.build_algo()
    for i in range(args.iterations):
        result = algo.train()
        print(f"iteration {i + 1}: mean episode return {result['env_runners'].get('episode_return_mean', float('nan')):.3f}")
    algo.stop()


if __name__ == "__main__":
    main()

"""Variants of PPO that benchmarks/train_ceiling.py measures against PPO's defaults; not the package's.

- :func:`ahead_ppo`: each batch collected one update ahead, in a worker process, with the weights from before the
  update it overlaps; with `corrected`, decoupled PPO's way (Hilton et al. 2021): re-scored by the weights its
  update starts from, against which the ratio and the clipping are taken, its advantages weighted by their
  probability over the collecting weights' (at most 2);
- :func:`smaller_ppo`: a policy of hidden size 48 instead of 64.
"""

from __future__ import annotations

import multiprocessing

import torch


def ppo(env: dict, seed: int = 0, total_env_steps: int = 10**9, algorithm=None, **overrides):
    """A run of PPO (or of `algorithm`, a subclass) with its defaults but `overrides`, on one torch thread."""
    from agents.algorithms.ppo import PPO, PPOConfig
    from agents.runs.config import EnvConfig

    torch.set_num_threads(1)
    config = PPOConfig(env=EnvConfig(**env), seed=seed, total_env_steps=total_env_steps, **overrides)
    return (algorithm or PPO)(config)


def collect_requests(env: dict, connection) -> None:
    """The worker of collecting ahead: the batch of each (weights, pairs) it receives, until None."""
    from agents.algorithms.rollout import collect_episodes

    run = ppo(env, seed=1_000)
    while (request := connection.recv()) is not None:
        run.policy.load_state_dict(request[0])
        connection.send(collect_episodes(run.policy, run.env, request[1]))


def ahead_ppo(env: dict, seed: int, total_env_steps: int, corrected: bool = True):
    """PPO (its defaults) whose batches are collected one update ahead in a worker process; `corrected`: decoupled
    PPO's way, else PPO's ratio is taken against the collecting weights as they are."""
    import agents.algorithms.on_policy as on_policy
    from agents.algorithms.ppo import PPO

    class AheadPPO(PPO):
        def start(self) -> None:
            context = multiprocessing.get_context("spawn")
            self.connection, child = context.Pipe()
            self.worker = context.Process(target=collect_requests, args=(env, child), daemon=True)
            self.worker.start()
            self.submit(self.sample_indices())

        def submit(self, indices) -> None:
            self.connection.send(({k: v.clone() for k, v in self.policy.state_dict().items()}, indices))

        def iterate(self) -> dict:
            def collected_ahead(policy, vector_env, indices):
                batch = self.connection.recv()  # collected during the last update, with the weights from before it
                self.submit(indices)  # the next batch, with the weights from before this update
                return batch

            on_policy.collect_episodes, real = collected_ahead, on_policy.collect_episodes
            try:
                return super().iterate()
            finally:
                on_policy.collect_episodes = real

        def update(self, batch) -> dict:
            if not corrected:
                self.importance = 1.0
                return super().update(batch)
            with torch.no_grad():  # the proximal policy: the weights this update starts from
                proximal, _, _ = self.policy.evaluate_actions(batch.prompts, batch.inputs, batch.actions, batch.action_masks)
            proximal = proximal * batch.mask
            self.importance = (proximal - batch.log_probs).exp().clamp(max=2.0)
            batch.log_probs = proximal
            return super().update(batch)

        def part_loss(self, batch, advantages, scale, returns, real_steps, policy_learns, rows):
            return super().part_loss(batch, advantages * self.importance, scale, returns, real_steps, policy_learns, rows)

        def close(self) -> None:
            self.connection.send(None)
            self.worker.join()

    run = ppo(env, seed, total_env_steps, algorithm=AheadPPO)
    run.start()
    return run


def smaller_ppo(env: dict, seed: int, total_env_steps: int):
    """PPO's defaults with a smaller policy: hidden size 48 instead of 64."""
    from agents.model.config import PolicyConfig

    return ppo(env, seed, total_env_steps, policy=PolicyConfig(hidden_dim=48))

"""The on-policy loop: collect a batch of whole episodes with the current policy, update, repeat.

Each algorithm subclasses :class:`OnPolicyAlgorithm` and implements only
:meth:`~OnPolicyAlgorithm.update` (and, where it needs to, how it picks episodes:
:meth:`~OnPolicyAlgorithm.sample_indices`); the run plumbing (seeding, logs,
checkpoints, Ctrl-C, resume) lives in :class:`agents.runs.run.Run`.
"""

from __future__ import annotations

import math
import time

import numpy as np

from agents.algorithms.curriculum import LengthCurriculum
from agents.algorithms.rollout import EpisodeBatch, collect_episodes
from agents.runs.config import TrainConfig
from agents.runs.run import Run
from textgen_env.memory import check_allocation
from textgen_env.vector import TextGenerationVectorEnv


class OnPolicyAlgorithm(Run):
    """Collect episodes with the current policy, update, repeat until the env-step budget is spent."""

    config_class = TrainConfig
    distributed = True

    def __init__(self, config: TrainConfig, *, tokenizer=None):
        super().__init__(config, tokenizer=tokenizer)
        self.env = TextGenerationVectorEnv(self.episodes_per_batch(), self.task)
        task, n = self.task, self.env.num_envs
        check_allocation(  # a batch's action masks and its seven per-step columns, as rollout stores them
            n * (task.max_new_tokens + 1) * (task.vocab_size + 7 * 8),
            "a batch of episodes",
            f"num_envs={n}, max_new_tokens={task.max_new_tokens} ({task.vocab_size} tokens)",
        )
        self.curriculum = (
            LengthCurriculum(task.target_lengths, config.curriculum_threshold, config.curriculum_window)
            if config.curriculum
            else None
        )

    # -- what subclasses provide ----------------------------------------------------

    def episodes_per_batch(self) -> int:
        """This process's episodes per batch: ``num_envs``, shared out among the processes under torchrun."""
        return self.ranks.share(self.config.num_envs, "num_envs")

    def sample_pairs(self, count: int) -> np.ndarray:
        """`count` training pairs: uniform over the split, or over the curriculum's current band."""
        if self.curriculum is not None:
            return self.curriculum.sample(self.rng, count)
        return self.rng.integers(len(self.task.dataset), size=count)

    def sample_indices(self) -> np.ndarray:
        """The pair of each episode of the next batch."""
        return self.sample_pairs(self.env.num_envs)

    def update(self, batch: EpisodeBatch) -> dict:
        raise NotImplementedError

    # -- the loop ---------------------------------------------------------------------

    def finished(self) -> bool:
        limit = self.config.total_env_steps if self._until is None else min(self._until, self.config.total_env_steps)
        return self.env_steps >= limit

    def progress(self) -> tuple[int, int]:
        return self.config.total_env_steps, self.env_steps

    def iterate(self) -> dict:
        started = time.perf_counter()
        batch = collect_episodes(self.policy, self.env, self.sample_indices())
        collected, communicated = time.perf_counter(), self.ranks.communication_seconds
        stats = self.update(batch)
        timings = {  # this process's (rank 0's, across processes): where an iteration's time goes
            "rollout_s": collected - started,
            "update_s": time.perf_counter() - collected,
            "communication_s": self.ranks.communication_seconds - communicated,
        }
        episodes = {
            "mean_return": float(batch.episode_returns.mean()),
            "mean_similarity": float(batch.similarity.mean()),
            "exact_rate": float(batch.exact.mean()),
        }
        # Across processes: the steps summed, the means averaged (every rank has as many episodes).
        env_steps, *sums = self.ranks.sum_floats(batch.env_steps, *episodes.values(), *stats.values())
        means = [total / self.ranks.world_size for total in sums]
        self.iteration += 1
        self.env_steps += int(env_steps)
        elapsed = time.perf_counter() - started
        row = {
            "iteration": self.iteration,
            "env_steps": self.env_steps,
            **dict(zip(episodes, means)),
            "env_steps_per_s": env_steps / elapsed,
            **dict(zip(stats, means[len(episodes) :])),
            **timings,
        }
        if self.curriculum is not None:
            row["curriculum_max_length"] = self.curriculum.max_length  # the band this batch trained on
            self.curriculum.record(self.ranks.concatenate(batch.similarity))
        if self.config.eval_every:
            due = self.iteration % self.config.eval_every == 0 and self.ranks.is_main
            row["eval_similarity"] = self.evaluate(self.config.eval_episodes)["mean_similarity"] if due else math.nan
        return row

    def shown(self, row: dict) -> dict:
        shown = {"reward": f"{row['mean_return']:.3f}", "sim": f"{row['mean_similarity']:.3f}"}
        if self.curriculum is not None:
            shown["band"] = f"<={row['curriculum_max_length']}"
        return shown

    def algorithm_state(self) -> dict:
        return {"curriculum": self.curriculum.state()} if self.curriculum is not None else {}

    def load_algorithm_state(self, state: dict) -> None:
        if self.curriculum is not None:
            self.curriculum.load_state(state["curriculum"])


def linear_schedule(start: float, progress: float) -> float:
    """Anneal linearly from `start` to 0 as `progress` goes from 0 to 1."""
    return start * max(0.0, 1.0 - progress)

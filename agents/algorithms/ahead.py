"""Collecting the next batch while the current one updates: PPO's batches one update behind its weights.

PPO spends most of an iteration in its update, and a machine with a core free beside the update's leaves it idle.
With ``collect_ahead`` the batch an update trains on was collected with the weights from before the previous update, so
collecting batch k+1 can overlap update k; PPO's ratio and clipping are taken against the collecting weights, as
in any asynchronous PPO with one update of lag.

Where it pays (a CPU run of at least :data:`MIN_WORKER_ENV_STEPS` env steps with a second core per process), the
collection runs in a worker process; elsewhere the next batch is collected in this process right before the
update. Either way a batch is the same bit for bit: each :class:`CollectionRequest` carries the weights, the
episodes' pairs and the state of the collection's own random generator, and both paths run
:func:`collect_requested`. So the same seed gives the same result whatever the machine, and a worker that fails
is replaced by collecting here.

The worker is a fresh Python (``python -m agents.algorithms.ahead``), not a multiprocessing child, whose "spawn"
would re-run a user's script that has no ``if __name__ == "__main__"`` guard. Requests and batches travel pickled
through a pipe private to the two processes (tensors by value: a few MB a batch).
"""

from __future__ import annotations

import copy
import os
import pickle
import signal
import subprocess
import sys
import weakref
from dataclasses import dataclass
from multiprocessing.connection import Connection, Pipe
from pathlib import Path

import numpy as np
import torch

from agents.algorithms.rollout import EpisodeBatch, collect_episodes
from agents.model.policy import ActorCritic

# Fewer env steps than this and a worker's start (a Python importing torch, ~2 s) costs more than it saves.
MIN_WORKER_ENV_STEPS = 200_000


@dataclass
class CollectionRequest:
    """One batch to collect: with `weights`, one episode on each pair of `indices`, actions sampled from a
    generator in `generator_state`."""

    weights: dict[str, torch.Tensor]
    indices: np.ndarray
    generator_state: torch.Tensor

    def to_state(self) -> dict:
        """As a checkpoint holds it (tensors and plain values only)."""
        return {"weights": self.weights, "indices": torch.as_tensor(self.indices), "generator": self.generator_state}

    @classmethod
    def from_state(cls, state: dict) -> CollectionRequest:
        return cls(dict(state["weights"]), np.asarray(state["indices"]), state["generator"])


def collect_requested(policy: ActorCritic, env, request: CollectionRequest) -> tuple[EpisodeBatch, torch.Tensor]:
    """`request`'s batch, collected by `policy` (its weights replaced by the request's) on `env`, and the state the
    generator ends in."""
    policy.load_state_dict(request.weights)
    generator = torch.Generator()
    generator.set_state(request.generator_state)
    batch = collect_episodes(policy, env, request.indices, generator=generator)
    return batch, generator.get_state()


def worker_pays(device: torch.device, total_env_steps: int, cores_per_process: int) -> bool:
    """Whether collecting in a worker process is worth its start: on a CPU, a long run, a second core."""
    return device.type == "cpu" and total_env_steps >= MIN_WORKER_ENV_STEPS and cores_per_process >= 2 and os.name == "posix"


class AheadCollector:
    """Holds the one request in flight: :meth:`submit` it, later take its :meth:`result`.

    `policy` and `env` are the run's; the collector collects with a copy of the policy, so the run's own weights
    can change while a request is in flight."""

    def __init__(self, policy: ActorCritic, env, use_worker: bool):
        self.policy = copy.deepcopy(policy).requires_grad_(False)
        self.env = env
        self.in_flight: CollectionRequest | None = None
        self._collected: tuple[EpisodeBatch, torch.Tensor] | None = None
        self.worker = Worker(self.policy, env) if use_worker else None

    def submit(self, request: CollectionRequest) -> None:
        self.in_flight = request
        if self.worker is not None:
            try:
                self.worker.send(request)
                return
            except OSError:
                self.stop_worker()
        self._collected = collect_requested(self.policy, self.env, request)

    def result(self) -> tuple[EpisodeBatch, torch.Tensor]:
        """The batch of the request in flight, and its generator's end state."""
        if self._collected is None and self.worker is not None:
            try:
                self._collected = self.worker.receive()
            except (OSError, EOFError, pickle.UnpicklingError):  # the worker died: collect its request here
                self.stop_worker()
        if self._collected is None:
            self._collected = collect_requested(self.policy, self.env, self.in_flight)
        collected, self._collected, self.in_flight = self._collected, None, None
        return collected

    def stop_worker(self) -> None:
        if self.worker is not None:
            self.worker.close()
            self.worker = None


class Worker:
    """A Python process that collects the requests it receives with its own copy of the policy and the env."""

    def __init__(self, policy: ActorCritic, env):
        ours, theirs = Pipe()
        package_root = str(Path(__file__).resolve().parents[2])  # where `agents` is imported from here
        environment = {**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads())}
        environment["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "agents.algorithms.ahead", str(theirs.fileno())],
            pass_fds=(theirs.fileno(),),
            env=environment,
            start_new_session=True,  # Ctrl-C goes to the training, which stops at the end of its iteration
        )
        theirs.close()
        self.connection = ours
        self._finalizer = weakref.finalize(self, _shut_down, self.process, ours)
        cpu_policy = copy.deepcopy(policy).cpu()
        self.connection.send_bytes(pickle.dumps((cpu_policy, env.task, env.num_envs, torch.get_num_threads())))

    def send(self, request: CollectionRequest) -> None:
        self.connection.send_bytes(pickle.dumps(request))

    def receive(self) -> tuple[EpisodeBatch, torch.Tensor]:
        return pickle.loads(self.connection.recv_bytes())

    def close(self) -> None:
        self._finalizer()


def _shut_down(process: subprocess.Popen, connection: Connection) -> None:
    connection.close()  # the worker reads end-of-file and exits
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def serve(connection: Connection) -> None:
    """The worker's loop: build the policy and env it is sent, then collect each request until end-of-file."""
    from textgen_env.vector import TextGenerationVectorEnv

    policy, task, num_envs, threads = pickle.loads(connection.recv_bytes())
    torch.set_num_threads(threads)
    env = TextGenerationVectorEnv(num_envs, task)
    while True:
        try:
            request = pickle.loads(connection.recv_bytes())
            connection.send_bytes(pickle.dumps(collect_requested(policy, env, request)))
        except (EOFError, ConnectionError):  # the training closed its end: it has finished
            return


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    serve(Connection(int(sys.argv[1])))

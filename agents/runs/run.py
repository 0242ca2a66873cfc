"""The run base every algorithm sits on: config, seeding, device, policy and optimizer, and
the iteration loop's plumbing (run folder, log, progress bar, checkpoints, Ctrl-C).

A subclass says what one iteration is (:meth:`Run.iterate`) and when the run is done
(:meth:`Run.finished`); the on-policy loop (:mod:`agents.algorithms.on_policy`) and
pre-training (:mod:`agents.algorithms.pretrain`) do. How a run is resumed lives in
:mod:`agents.runs.resume`, how it is evaluated (on which pairs) in :mod:`agents.runs.heldout`.
Building a run builds its train task and policy, nothing else: an algorithm that steps
envs builds them in its own constructor.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import signal
import threading
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from agents.model.evaluation import evaluate_policy
from agents.model.policy import ActorCritic
from agents.runs.checkpoint import Checkpoint
from agents.runs.config import RunConfig
from agents.runs.device import resolve_device
from agents.runs.distributed import Ranks, local_rank
from agents.runs.errors import TrainingDiverged
from agents.runs.gradients import PartGradients, available_cores
from agents.runs.heldout import heldout_pairs, heldout_task
from agents.runs.resume import resume_run
from agents.runs.rundir import CHECKPOINT_NAME, ProgressLog, RunDirectory
from textgen_env.task import TextTask


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def make_adam(parameters, learning_rate: float) -> torch.optim.Adam:
    """Adam as one fused kernel over all parameters where this torch has it (CPU >= 2.4, CUDA).

    On this policy's many small tensors a step takes 0.19 ms fused, 0.51 ms with
    foreach and more with a loop over tensors, out of ~5 ms per PPO minibatch.
    """
    parameters = list(parameters)
    try:
        return torch.optim.Adam(parameters, lr=learning_rate, eps=1e-5, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.Adam(parameters, lr=learning_rate, eps=1e-5, foreach=True)


class Run:
    """One training run: build it from a config (or :meth:`resume` it), then :meth:`learn`."""

    name = ""
    config_class = RunConfig
    distributed = False  # whether it can run as several processes under torchrun (agents.runs.distributed)

    def __init__(self, config: RunConfig, *, tokenizer=None):
        if not isinstance(config, self.config_class):
            raise TypeError(f"{self.name} needs a {self.config_class.__name__}, got {type(config).__name__}")
        self.config = config
        self.ranks = Ranks()
        if self.ranks.active and not self.distributed:
            raise ValueError(f"{self.name} runs in one process: start it without torchrun")
        self.device = resolve_device(config.device)
        if self.ranks.active and self.device.type == "cuda" and self.device.index is None:
            self.device = torch.device("cuda", local_rank())
        seed_everything(config.seed)
        self.rng = np.random.default_rng(config.seed)
        start = Checkpoint.load(config.init_checkpoint) if config.init_checkpoint else None
        if tokenizer is None and start is not None:
            tokenizer = start.tokenizer  # the starting weights' ids, whatever the data
        self.data_files = config.env.data_files()  # what a resume checks its data against
        self.task = TextTask(config.env.task_config("train", tokenizer))
        self.policy = ActorCritic(self.task.vocab_size, config.policy).to(self.device)
        self.reference_policy: ActorCritic | None = None
        if start is not None:
            start.load_into(self.policy, config.init_checkpoint)
        if self.ranks.active:  # the same weights everywhere; each rank its own episodes
            self.ranks.broadcast_parameters(self.policy)
            seed_everything(config.seed + self.ranks.rank)
            self.rng = np.random.default_rng(config.seed + self.ranks.rank)
        self.optimizer = make_adam(self.policy.parameters(), config.learning_rate)
        # a minibatch's parts run side by side on the CPU cores this process has (its share of them under torchrun)
        cores = available_cores() // self.ranks.local_world_size if self.device.type == "cpu" else 1
        self.part_gradients = PartGradients(workers=max(1, cores))
        self.iteration = 0
        self.env_steps = 0
        self.history: list[dict] = []
        self._stop_requested = False
        self._until: int | None = None
        self.continues_folder = False  # whether the run in config.run_dir is this one (resumed, or written already)
        self.resume_command: str | None = None  # what an interrupted run tells the user to type (a pipeline's own)

    # -- what subclasses provide ----------------------------------------------------

    def iterate(self) -> dict:
        """One iteration; returns its log row (with ``iteration`` and ``env_steps``)."""
        raise NotImplementedError

    def finished(self) -> bool:
        raise NotImplementedError

    def progress(self) -> tuple[int, int]:
        """(goal, done so far) in the progress bar's units."""
        raise NotImplementedError

    def shown(self, row: dict) -> dict:
        """What the progress bar shows of an iteration's row."""
        return {}

    def algorithm_state(self) -> dict:
        """Algorithm state beyond the weights and RNGs (a running baseline, say), as JSON-able values."""
        return {}

    def load_algorithm_state(self, state: dict) -> None:
        pass

    def clip_and_step(self, loss: torch.Tensor, steps: float = 1.0) -> float:
        """One optimizer step on `loss`, the gradient's global norm clipped; returns that norm.

        `steps`: how many steps (tokens) `loss` averages over; across processes each
        rank's gradient is weighted by it, so the step is the one taken on all ranks' steps together.
        A loss or gradient that is not finite stops training (:class:`TrainingDiverged`) before the step, so
        the weights, and the last checkpoint written from them, stay finite.
        """
        self.optimizer.zero_grad()
        loss.backward()
        return self._clip_and_step(float(loss.detach()), steps)

    def step_on_parts(self, parts: list, loss_of, steps: float = 1.0) -> tuple[float, list]:
        """:meth:`clip_and_step` on the sum of ``loss_of(part)`` over `parts` (each call returns ``(loss,
        extras)``), the parts' gradients taken side by side on free cores (:mod:`agents.runs.gradients`);
        returns the norm and the parts' extras, in order."""
        self.optimizer.zero_grad()
        value, extras = self.part_gradients.accumulate(list(self.policy.parameters()), parts, loss_of)
        return self._clip_and_step(value, steps), extras

    def _clip_and_step(self, value: float, steps: float) -> float:
        """The optimizer step on the gradients in place (of a loss worth `value`), their norm clipped."""
        self.ranks.average_gradients(self.policy.parameters(), float(steps))
        norm = float(torch.nn.utils.clip_grad_norm_(self.policy.parameters(), self.config.max_grad_norm, foreach=True))
        if not math.isfinite(norm) or not math.isfinite(value):
            kept = f"; {self.checkpoint_path} holds the last finite weights" if self.config.run_dir else ""
            raise TrainingDiverged(
                f"{self.name}: the loss ({value}) or its gradient's norm ({norm}) is not finite at iteration"
                f" {self.iteration + 1}; training stopped{kept}. Check the options (a learning rate or gamma, say)"
            )
        self.optimizer.step()
        return norm

    # -- the loop ---------------------------------------------------------------------

    def request_stop(self) -> None:
        """Stop at the end of the current iteration, after a checkpoint (what Ctrl-C does)."""
        self._stop_requested = True

    def learn(self, progress=False, until: int | None = None, iterations: int | None = None) -> list[dict]:
        """Train until the run is finished (or until `until` env steps, or for `iterations` more iterations,
        if sooner); safe to call again. `progress`: show a progress bar, or update this one (a tqdm bar the
        caller keeps across calls).

        With a run folder, this process holds it while it trains (a second writer is
        refused), logs every iteration, checkpoints every ``checkpoint_every``
        iterations and at the end. Ctrl-C (and SIGTERM, which Slurm and docker stop send) is
        deferred to the end of the iteration in flight, so the checkpoint it writes is a
        consistent state and resuming
        continues to the same result as an uninterrupted run; a second Ctrl-C stops at once.
        """
        self._until = until
        self._stop_requested = False
        last = None if iterations is None else self.iteration + iterations
        folder = self._open_folder()
        try:
            log = ProgressLog(folder.path, self.history) if folder is not None else None
            own_bar = isinstance(progress, bool)
            bar = _progress_bar(progress and self.ranks.is_main, *self.progress(), self.name) if own_bar else progress
            with deferred_interrupt(self.request_stop):
                try:
                    while not self.finished() and (last is None or self.iteration < last):
                        self._record(self.iterate(), log, bar)
                finally:
                    if bar is not None and own_bar:
                        bar.close()
                    if log is not None:
                        log.close()
            if self.config.run_dir:
                self.save()
        finally:
            if folder is not None:
                folder.release()
        return self.history

    def _open_folder(self) -> RunDirectory | None:
        """The run folder, held by this process (rank 0 across processes; None elsewhere, or without one)."""
        if not self.config.run_dir:
            return None
        folder, error = None, None
        if self.ranks.is_main:
            try:
                folder = RunDirectory(self.config.run_dir)
                folder.acquire()
                if not self.continues_folder:
                    folder.start_fresh(self.config.overwrite)
            except Exception as e:  # re-raised below, on every rank
                error = e
        try:
            self.ranks.check_all(error, f"opening the run folder {self.config.run_dir}")
        except BaseException:
            if folder is not None:
                folder.release()  # a no-op where it was not acquired
            raise
        self.continues_folder = True
        return folder

    def _record(self, row: dict, log: ProgressLog | None, bar) -> None:
        self.history.append(row)
        if log is not None:
            log.write(row)
        if bar is not None:
            bar.update(self.progress()[1] - bar.n)
            bar.set_postfix(**self.shown(row))
        if self.ranks.active:  # a signal may reach the ranks in different iterations: all stop at once
            self._stop_requested = self.ranks.any(self._stop_requested)
        due = self.config.checkpoint_every and self.iteration % self.config.checkpoint_every == 0
        if self.config.run_dir and (due or self._stop_requested):
            path = self.save()
            if self._stop_requested and self.ranks.is_main:
                command = (
                    self.resume_command or f"textgen-rl {'pretrain' if self.name == 'pretrain' else 'train'} --resume {path}"
                )
                print(f"\ninterrupted: saved {path}; continue with: {command}")
        if self._stop_requested:
            raise KeyboardInterrupt

    # -- checkpoints --------------------------------------------------------------------

    @property
    def checkpoint_path(self) -> Path:
        return Path(self.config.run_dir) / CHECKPOINT_NAME

    def save(self, path=None) -> Path:
        """Write the checkpoint (rank 0 writes; every rank must call this, as it gathers their RNG states)."""
        path = path or self.checkpoint_path
        checkpoint = self.checkpoint()
        return checkpoint.save(path) if checkpoint is not None else Path(path)

    def rng_state(self) -> dict:
        """This process's random states."""
        rng = {
            "numpy": json.dumps(self.rng.bit_generator.state),
            "torch": torch.get_rng_state(),
            "python": json.dumps(random.getstate()),
        }
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        return rng

    def checkpoint(self) -> Checkpoint | None:
        """The run as it stands, weights, optimizer, RNG states and progress included.

        Across processes, rank 0's record holds the other ranks' RNG states too (``rng["ranks"]``),
        and the other ranks get None.
        """
        rng = self.rng_state()
        if self.ranks.active:
            gathered = self.ranks.gather_objects(rng)
            if not self.ranks.is_main:
                return None
            rng["ranks"] = gathered[1:]
        return Checkpoint(
            algorithm=self.name,
            config=asdict(self.config),
            tokenizer=self.task.tokenizer,
            policy_config=self.policy.describe(),
            rules=self.task.rules,
            policy=self.inference_policy.state_dict(),
            training_policy=self.policy.state_dict() if self.inference_policy is not self.policy else {},
            iteration=self.iteration,
            env_steps=self.env_steps,
            history=self.history,
            heldout=self.heldout_pairs(),
            data_files=self.data_files,
            optimizer=self.optimizer.state_dict(),
            reference_policy=self.reference_policy.state_dict() if self.reference_policy is not None else {},
            rng=rng,
            algorithm_state=self.algorithm_state(),
        )

    def heldout_pairs(self) -> list | None:
        """The test split of a dataset file, kept in the checkpoint so it evaluates without the file."""
        return heldout_pairs(self.config.env, self.heldout_task)

    @classmethod
    def resume(cls, path, *, total_env_steps: int | None = None, device: str | None = None, overwrite: bool = False) -> Run:
        """Rebuild a run from its checkpoint, in the checkpoint's own folder; `learn()` then continues it
        to the same result. `total_env_steps` sets a new total, `device` another device.

        It is refused where it would lose data: where the folder's own checkpoint is another, further file
        (unless `overwrite`), and where the run's data files are gone or have changed (the held-out split of a
        run never changes). See :mod:`agents.runs.resume`."""
        return resume_run(cls, path, total_env_steps=total_env_steps, device=device, overwrite=overwrite)

    @property
    def inference_policy(self) -> ActorCritic:
        """The weights to use, evaluate and save as the run's policy: those trained (an average of them, where the
        run keeps one)."""
        return self.policy

    def evaluate(self, episodes: int | None = None) -> dict:
        """Greedy decoding of the held-out split (its first `episodes` pairs), scored."""
        return evaluate_policy(self.inference_policy, self.heldout_task(), episodes=episodes)

    def heldout_task(self) -> TextTask:
        """The held-out split, with the tokenizer trained on (built once)."""
        if getattr(self, "_heldout_task", None) is None:
            self._heldout_task = heldout_task(self.config.env, self.task.tokenizer)
        return self._heldout_task


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)  # Ctrl-C, and what Slurm, docker stop and kill send


@contextlib.contextmanager
def deferred_interrupt(on_interrupt):
    """Within the block, a first SIGINT or SIGTERM calls `on_interrupt`; a second raises KeyboardInterrupt."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    pressed = []

    def handler(signum, frame):
        if pressed:
            raise KeyboardInterrupt
        pressed.append(signum)
        on_interrupt()

    for signum in STOP_SIGNALS:
        signal.signal(signum, handler)
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def _progress_bar(enabled: bool, total: int, initial: int, name: str):
    """A tqdm bar when asked for and installed (the 'agents' extra), else None."""
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, initial=initial, desc=name, dynamic_ncols=True)

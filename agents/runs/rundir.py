"""A run folder: one writer at a time, and a progress log that a crash cannot corrupt.

- :class:`RunDirectory` checks that the folder can be written before training
  starts and takes ``run.lock`` with an exclusive ``flock`` (the kernel frees it when
  its process ends, so a killed run leaves no lock that blocks), the file holding the
  writer's pid. A second writer is refused with a message naming that pid. A fresh
  run refuses a folder that holds a run (:meth:`RunDirectory.start_fresh`).
- :class:`ProgressLog` writes ``progress.csv`` one whole line per ``write`` call
  (and TensorBoard scalars when it is installed). On resume it is rewritten from
  the checkpoint's own history, so it holds exactly the iterations up to the
  checkpoint, whatever a kill -9 left behind.
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import os
import shutil
import threading
import time
import traceback
from pathlib import Path

from textgen_env.files import write_text_atomically

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

LOCK_NAME = "run.lock"
LOG_NAME = "progress.csv"
CHECKPOINT_NAME = "checkpoint.pt"
TENSORBOARD_NAME = "tensorboard"


class RunDirError(RuntimeError):
    """A run folder that cannot be used: not writable, or in use by another process."""


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, but another user's
        return True
    except OSError:
        return False
    return True


class RunDirectory:
    """The folder of one run, held by one process between :meth:`acquire` and :meth:`release`."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.lock_path = self.path / LOCK_NAME
        self.held = False
        self._fd: int | None = None

    def check_writable(self) -> None:
        """Fail now, with one clear message, if the folder cannot be created or written."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            probe = self.path / f".write-test-{os.getpid()}"
            probe.write_bytes(b"ok")
            probe.unlink()
        except OSError as e:
            raise RunDirError(f"run folder {self.path} is not writable ({e.strerror or e}); pick another --run-dir") from None

    def acquire(self) -> None:
        """Take ``run.lock``: an exclusive ``flock`` (freed by the kernel when its process ends, so a lock is never
        stale), holding the pid for messages. A live holder is refused, with its pid."""
        self.check_writable()
        if fcntl is None:  # no flock here (Windows): the create-exclusive lock file
            return self._acquire_by_creating()
        for _ in range(10):
            fd = os.open(self.lock_path, os.O_CREAT | os.O_RDWR, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise RunDirError(self._in_use(self._owner(wait=True))) from None
            try:
                current = os.stat(self.lock_path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                current = False
            if not current:  # its holder released and removed it between our open and our lock: take the new one
                os.close(fd)
                continue
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            self._fd, self.held = fd, True
            return
        raise RunDirError(f"could not take the lock {self.lock_path}; other processes keep taking it")

    def _acquire_by_creating(self) -> None:
        for _ in range(3):  # a lock of a process that is gone is removed, then taken; a race for it is lost to O_EXCL
            try:
                fd = os.open(self.lock_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                owner = self._owner(wait=True)
                if owner is None or (owner != os.getpid() and _process_alive(owner)):
                    raise RunDirError(self._in_use(owner)) from None
                self.lock_path.unlink(missing_ok=True)
                continue
            with os.fdopen(fd, "w") as f:
                f.write(f"{os.getpid()}\n")
            self.held = True
            return
        raise RunDirError(f"could not take the lock {self.lock_path}; another process keeps taking it")

    def _in_use(self, owner: int | None) -> str:
        return (
            f"run folder {self.path} is in use by another training process (pid {owner if owner else 'unknown'},"
            f" lock {self.lock_path}); wait for it to finish, or pick another --run-dir"
        )

    def holds_run(self) -> list[str]:
        """What of a run this folder holds (checkpoint, log, TensorBoard events); empty if none."""
        return [name for name in (CHECKPOINT_NAME, LOG_NAME, TENSORBOARD_NAME) if (self.path / name).exists()]

    def start_fresh(self, overwrite: bool) -> None:
        """Before a fresh run writes here: refuse a folder that holds a run, or, with `overwrite`, clear that run."""
        found = self.holds_run()
        if not found:
            return
        if not overwrite:
            raise RunDirError(
                f"run folder {self.path} holds a run already ({', '.join(found)}); continue it with"
                f" --resume {self.path / CHECKPOINT_NAME}, or replace it with --overwrite"
            )
        remove_entries(self.path, found)

    def release(self) -> None:
        if self.held:
            self.lock_path.unlink(missing_ok=True)  # before unlocking: a waiting opener then sees a new file, not ours
            if self._fd is not None:
                os.close(self._fd)  # frees the flock
        self._fd, self.held = None, False

    def _owner(self, wait: bool = False) -> int | None:
        """The pid in the lock file; with `wait`, a moment for a holder that has locked it but not yet written."""
        for _ in range(20 if wait else 1):
            try:
                return int(self.lock_path.read_text().split()[0])
            except (OSError, ValueError, IndexError):
                if wait:
                    time.sleep(0.01)
        return None


def remove_entries(folder: Path, names) -> None:
    """Delete `names` (files or folders) from `folder`: what --overwrite replaces."""
    for name in names:
        target = folder / name
        shutil.rmtree(target) if target.is_dir() else target.unlink()


def claim_free(base: str | os.PathLike) -> str:
    """`base`, or `base_2`, `base_3`, ...: the first folder that holds nothing (as SB3 and TensorBoard number their
    runs), so that a fresh run with the default name never touches an earlier one; claimed at once for this
    process by creating its lock file, which no second claim can create, so that runs started together get a
    folder each. The run takes the lock (:meth:`RunDirectory.acquire`) when it starts."""
    number = 1
    while True:
        candidate = Path(base if number == 1 else f"{base}_{number}")
        number += 1
        try:
            candidate.mkdir(parents=True, exist_ok=True)
            if any(candidate.iterdir()):
                continue
            os.close(os.open(candidate / LOCK_NAME, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        except FileExistsError:  # a file of that name, or another process's claim a moment before ours
            continue
        except OSError as e:
            raise RunDirError(f"run folder {candidate} cannot be made ({e.strerror or e}); pick a --run-dir") from None
        return str(candidate)


class ProgressLog:
    """``progress.csv`` (one row per iteration, the columns of the first) and TensorBoard scalars.

    A write that fails (a full disk, say) is one :class:`RunDirError` naming the file and the run's last
    checkpoint, which it leaves intact; closing after it raises nothing more.
    """

    def __init__(self, run_dir: str | os.PathLike, history: list[dict]):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOG_NAME
        self.file = self.tensorboard = None
        self.columns: list[str] = []
        self.failed = False
        if history:  # resuming: rewritten whole from the history, exactly the rows up to the checkpoint
            with self._writing(self.path):
                self._open(list(history[0]), history)
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            return
        start = int(history[-1]["env_steps"]) + 1 if history else 0
        with self._writing(self.run_dir / TENSORBOARD_NAME):
            self.tensorboard = SummaryWriter(str(self.run_dir / TENSORBOARD_NAME), purge_step=start)
        _report_writer_errors_once()

    def _open(self, columns: list[str], rows: list[dict]) -> None:
        self.columns = columns
        write_text_atomically(self.path, ",".join(columns) + "\n" + "".join(self._line(row) for row in rows))
        self.file = open(self.path, "a", buffering=1, newline="")  # noqa: SIM115  (closed by close())

    def _line(self, row: dict) -> str:
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerow(["" if row.get(c) is None else row.get(c) for c in self.columns])
        return out.getvalue()

    @contextlib.contextmanager
    def _writing(self, what: Path):
        """A failed write of `what` as one RunDirError that names it and the last checkpoint."""
        try:
            yield
        except (OSError, RuntimeError) as e:  # TensorBoard's writer reports some OS errors as RuntimeErrors
            self.failed = True
            checkpoint = self.run_dir / CHECKPOINT_NAME
            kept = f"the last checkpoint, {checkpoint}, is intact" if checkpoint.exists() else "no checkpoint was written yet"
            reason = (
                e.strerror if isinstance(e, OSError) and e.strerror else str(e).splitlines()[0] if str(e) else type(e).__name__
            )
            raise RunDirError(f"{what}: writing failed ({reason}); {kept}") from None

    def write(self, row: dict) -> None:
        with self._writing(self.path):
            if self.file is None:
                self._open(list(row), [])
            self.file.write(self._line(row))  # one call per whole line: a crash leaves whole rows
            self.file.flush()
        if self.tensorboard is not None:
            with self._writing(self.run_dir / TENSORBOARD_NAME):
                for key, value in row.items():
                    if isinstance(value, (int, float)) and not (isinstance(value, float) and math.isnan(value)):
                        self.tensorboard.add_scalar(key, value, row["env_steps"])

    def close(self) -> None:
        """Close both; after a failed write, quietly (its error was reported once already)."""
        for name, handle in ((LOG_NAME, self.file), (TENSORBOARD_NAME, self.tensorboard)):
            if handle is None:
                continue
            if self.failed:
                with contextlib.suppress(Exception):
                    handle.close()
            else:
                with self._writing(self.run_dir / name):
                    handle.close()


def _report_writer_errors_once() -> None:
    """TensorBoard writes events in a thread of its own, which prints an OSError's traceback before handing the error
    to the next call in the training thread; that call reports it (one line), so the thread's print is dropped."""
    previous = threading.excepthook
    if getattr(previous, "quiets_tensorboard", False):
        return

    def hook(args):
        frames = traceback.extract_tb(args.exc_traceback) if args.exc_traceback else []
        if issubclass(args.exc_type, OSError) and any("tensorboard" in frame.filename for frame in frames):
            return
        previous(args)

    hook.quiets_tensorboard = True
    threading.excepthook = hook

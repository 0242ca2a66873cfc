"""A run folder: one writer at a time, and a progress log that a crash cannot corrupt.

- :class:`RunDirectory` checks that the folder can be written before training
  starts and takes ``run.lock``, a file holding the writer's pid. A second writer
  is refused with a message naming that pid; a lock whose process is gone
  (killed, say) is stale and taken over.
- :class:`ProgressLog` writes ``progress.csv`` one whole line per ``write`` call
  (and TensorBoard scalars when it is installed). On resume it is rewritten from
  the checkpoint's own history, so it holds exactly the iterations up to the
  checkpoint, whatever a kill -9 left behind.
"""

from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path

LOCK_NAME = "run.lock"
LOG_NAME = "progress.csv"


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
        self.check_writable()
        for _ in range(3):  # a stale lock is removed, then taken; a race for it is lost to O_EXCL
            try:
                fd = os.open(self.lock_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                owner = self._owner()
                if owner is not None and owner != os.getpid() and _process_alive(owner):
                    raise RunDirError(
                        f"run folder {self.path} is in use by another training process (pid {owner}, lock {self.lock_path});"
                        " wait for it to finish, or pick another --run-dir"
                    ) from None
                self.lock_path.unlink(missing_ok=True)  # stale: its process is gone (or it is ours)
                continue
            with os.fdopen(fd, "w") as f:
                f.write(f"{os.getpid()}\n")
            self.held = True
            return
        raise RunDirError(f"could not take the lock {self.lock_path}; another process keeps taking it")

    def release(self) -> None:
        if self.held and self._owner() == os.getpid():
            self.lock_path.unlink(missing_ok=True)
        self.held = False

    def _owner(self) -> int | None:
        try:
            return int(self.lock_path.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None


class ProgressLog:
    """``progress.csv`` (one row per iteration, the columns of the first) and TensorBoard scalars."""

    def __init__(self, run_dir: str | os.PathLike, history: list[dict]):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOG_NAME
        self.file = self.tensorboard = None
        self.columns: list[str] = []
        if history:  # resuming: rewritten whole from the history, exactly the rows up to the checkpoint
            self._open(list(history[0]), history)
        try:
            from torch.utils.tensorboard import SummaryWriter

            start = int(history[-1]["env_steps"]) + 1 if history else 0
            self.tensorboard = SummaryWriter(str(self.run_dir / "tensorboard"), purge_step=start)
        except ImportError:
            pass

    def _open(self, columns: list[str], rows: list[dict]) -> None:
        self.columns = columns
        tmp = self.path.with_suffix(".csv.tmp")
        tmp.write_text(",".join(columns) + "\n" + "".join(self._line(row) for row in rows))
        os.replace(tmp, self.path)
        self.file = open(self.path, "a", buffering=1, newline="")  # noqa: SIM115  (closed by close())

    def _line(self, row: dict) -> str:
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerow(["" if row.get(c) is None else row.get(c) for c in self.columns])
        return out.getvalue()

    def write(self, row: dict) -> None:
        if self.file is None:
            self._open(list(row), [])
        self.file.write(self._line(row))  # one call per whole line: a crash leaves whole rows
        self.file.flush()
        if self.tensorboard is not None:
            for key, value in row.items():
                if isinstance(value, (int, float)) and not (isinstance(value, float) and math.isnan(value)):
                    self.tensorboard.add_scalar(key, value, row["env_steps"])

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
        if self.tensorboard is not None:
            self.tensorboard.close()

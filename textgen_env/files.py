"""Files written whole or not at all: a temporary file beside the target, renamed over it once complete.

A crash, a full disk or an exception half-way leaves the target as it was (absent, or its earlier
contents) and no temporary file behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO


@contextlib.contextmanager
def replaced_atomically(path: str | os.PathLike, mode: str = "w", **open_kwargs) -> Iterator[IO]:
    """A file to write `path`'s new contents to; it replaces `path` when the block ends without an exception."""
    path = Path(path)
    tmp = path.parent / f".{path.name}.{os.getpid()}.tmp"
    try:
        with open(tmp, mode, **open_kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


def write_text_atomically(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write `text` to `path` whole, or leave `path` as it was."""
    with replaced_atomically(path, "w", encoding=encoding, newline="") as f:
        f.write(text)
    return Path(path)


def content_digest(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes, or of a folder's files (their relative paths and bytes, in sorted order)."""
    path = Path(path)
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            digest.update(str(file.relative_to(path)).encode() + b"\0")
        with open(file, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def check_output(path: str, protected: dict[str, str | None]) -> None:
    """Refuse, before any work, an output that is one of the command's own inputs, a folder, or unwritable."""
    target = Path(path)
    for what, other in protected.items():
        if other and Path(other).exists() and target.exists() and os.path.samefile(other, target):
            raise ValueError(f"--output {path}: is the {what} ({other}); writing there would destroy it: name another file")
    if target.is_dir():
        raise ValueError(f"--output {path}: is a directory; give a file name, e.g. {target / 'texts.jsonl'}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ValueError(f"--output {path}: its folder cannot be made ({e.strerror or e})") from None
    if not os.access(target.parent, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise ValueError(f"--output {path}: cannot be written (permission denied)")

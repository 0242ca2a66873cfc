"""Config fields that carry their command-line help: the bottom of the agents package, importing nothing of it.

Every config dataclass declares its fields with :func:`option`, so that
:mod:`agents.cli` builds each command's options from the dataclasses alone.
"""

from __future__ import annotations

from dataclasses import MISSING, field


def option(default=MISSING, help: str = "", *, choices=None, flags: tuple[str, ...] = (), default_factory=MISSING):
    """A dataclass field with its command-line help (`flags` replaces the name-derived --option)."""
    metadata = {"help": help, "choices": choices, "flags": flags}
    if default_factory is not MISSING:
        return field(default_factory=default_factory, metadata=metadata)
    return field(default=default, metadata=metadata)


def parse_option_value(text: str):
    """A --task-option value: int, float or string, whichever parses first."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text

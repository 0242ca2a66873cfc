"""Config fields that carry their command-line help and their allowed range: the bottom of the agents package.

Every config dataclass declares its fields with :func:`option`, so that
:mod:`agents.cli` builds each command's options from the dataclasses alone, and
:func:`check_fields` (each config's ``__post_init__``) and the command line's parsers
check every number against the same bounds: a nonsense value is refused with the
option's name, wherever it comes from.
"""

from __future__ import annotations

import math
import typing
from dataclasses import MISSING, field, fields
from functools import cache


def option(
    default=MISSING,
    help: str = "",
    *,
    choices=None,
    flags: tuple[str, ...] = (),
    default_factory=MISSING,
    minimum: float | None = None,
    maximum: float | None = None,
    above: float | None = None,
):
    """A dataclass field with its command-line help (`flags` replaces the name-derived --option).

    Numbers are checked: floats must be finite; `minimum`/`maximum` bound a value inclusively,
    `above` exclusively. Integer fields default to ``minimum=0``.
    """
    metadata = {"help": help, "choices": choices, "flags": flags, "minimum": minimum, "maximum": maximum, "above": above}
    if default_factory is not MISSING:
        return field(default_factory=default_factory, metadata=metadata)
    return field(default=default, metadata=metadata)


def flag_of(f) -> str:
    """The command-line name of a field."""
    return (f.metadata.get("flags") or (f"--{f.name.replace('_', '-')}",))[0]


def number_kind(annotation) -> type | None:
    """int or float for a numeric field's annotation (``int | None`` included), else None."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)] or [annotation]
    kind = args[0]
    return kind if kind in (int, float) else None


def check_value(f, kind: type, value):
    """`value` for field `f` if it is a `kind` within the field's bounds, else a ValueError naming the option."""
    if value is None:
        return value
    meta = f.metadata
    name = f"{f.name}={value!r} ({flag_of(f)})"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not float(value).is_integer()):
        raise ValueError(f"{name}: must be {'an integer' if kind is int else 'a number'}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{name}: must be a finite number")
    minimum = meta.get("minimum")
    if minimum is None and kind is int and meta.get("above") is None:
        minimum = 0
    if minimum is not None and value < minimum:
        raise ValueError(f"{name}: must be >= {minimum}")
    if meta.get("above") is not None and value <= meta["above"]:
        raise ValueError(f"{name}: must be > {meta['above']}")
    if meta.get("maximum") is not None and value > meta["maximum"]:
        raise ValueError(f"{name}: must be <= {meta['maximum']}")
    return int(value) if kind is int else float(value)


@cache
def numeric_fields(cls) -> tuple:
    hints = typing.get_type_hints(cls)
    return tuple((f, number_kind(hints[f.name])) for f in fields(cls) if number_kind(hints[f.name]) is not None)


def check_fields(config) -> None:
    """Check every numeric field of a config dataclass against its option's bounds (see :func:`option`)."""
    for f, kind in numeric_fields(type(config)):
        setattr(config, f.name, check_value(f, kind, getattr(config, f.name)))


def parse_option_value(text: str):
    """A --task-option value: int, float or string, whichever parses first."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text

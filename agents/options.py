"""Config fields that carry their command-line help and their allowed range: the bottom of the agents package.

Every config dataclass declares its fields with :func:`option`, so that the engine
below (:func:`add_config_options`, :func:`given`) builds each command's options from
the dataclasses alone for :mod:`agents.cli`, and
:func:`check_fields` (each config's ``__post_init__``) and the command line's parsers
check every number against the same bounds: a nonsense value is refused with the
option's name, wherever it comes from.
"""

from __future__ import annotations

import argparse
import dataclasses
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


# -- the engine: argparse options from config dataclasses -----------------------------------


class BooleanFlag(argparse.Action):
    """``--name`` sets True, ``--no-name`` False (the same on every Python version)."""

    def __init__(self, option_strings, dest, **kwargs):
        names = list(option_strings) + [f"--no-{s[2:]}" for s in option_strings]
        super().__init__(names, dest, nargs=0, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, not option_string.startswith("--no-"))


def at_least(minimum: int):
    """An argparse type: an integer >= `minimum`."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value}: must be an integer >= {minimum}")
        return value

    return parse


def key_value(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    return key, parse_option_value(value)


def _base_type(annotation):
    """`int` for ``int | None``, and so on."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    return args[0] if args else annotation


def _optional(annotation) -> bool:
    return type(None) in typing.get_args(annotation)


def _or_none(kind):
    """A converter that also reads 'none' as None, for fields that may be None."""

    def convert(text: str):
        return None if text.lower() == "none" else kind(text)

    convert.__name__ = kind.__name__  # argparse names the type in its errors
    return convert


def config_options(cls) -> list[tuple[str, dataclasses.Field, object]]:
    """(dest, field, type) for every field of `cls` the command line offers (not those marked ``cli=False``), nested
    dataclass fields flattened (dest ``policy.embed_dim``); the type of a field that may be None reads 'none' too."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        if f.metadata.get("cli") is False:
            continue
        kind = _base_type(hints[f.name])
        if dataclasses.is_dataclass(kind):
            out += [(f"{f.name}.{dest}", inner, inner_kind) for dest, inner, inner_kind in config_options(kind)]
        elif kind in (int, float):
            out.append((f.name, f, _checked(f, kind, _or_none(kind) if _optional(hints[f.name]) else kind)))
        else:
            out.append((f.name, f, kind))
    return out


def _checked(f: dataclasses.Field, kind: type, convert):
    """`convert`, then the field's bounds (:func:`check_value`): a nonsense number fails as it is parsed."""

    def parse(text: str):
        try:
            return check_value(f, kind, convert(text))
        except ValueError as e:
            if "must be" not in str(e):  # not a number at all: argparse's own message names the option
                raise
            raise argparse.ArgumentTypeError(str(e)) from None

    parse.__name__ = convert.__name__  # argparse names the type in its errors
    return parse


def _default(f: dataclasses.Field):
    if f.default is not dataclasses.MISSING:
        return f.default
    return f.default_factory()


def add_config_options(parser: argparse.ArgumentParser, cls, skip: tuple[str, ...] = (), defaults: dict | None = None) -> None:
    """One option per field of `cls` (all but `skip`); given options only land in the namespace."""
    defaults = defaults or {}
    group = parser.add_argument_group(f"{cls.__name__} options")
    for dest, f, kind in config_options(cls):
        if dest in skip or f.name in skip:
            continue
        meta = f.metadata
        flags = meta.get("flags") or (f"--{f.name.replace('_', '-')}",)
        default = defaults.get(dest, _default(f))
        help_text = meta.get("help", "")
        if "default:" not in help_text:
            shown = "none" if default is None or default == {} else default
            help_text += f" (default: {shown})"
        kwargs = {"dest": dest, "default": argparse.SUPPRESS, "help": help_text}
        if kind is bool:
            group.add_argument(*flags, action=BooleanFlag, **kwargs)
        elif kind is dict:
            group.add_argument(*flags, action="append", type=key_value, metavar="KEY=VALUE", **kwargs)
        elif meta.get("choices"):
            group.add_argument(*flags, type=kind, choices=meta["choices"], **kwargs)
        else:
            group.add_argument(*flags, type=kind, metavar=dest.split(".")[-1].upper(), **kwargs)


def given(namespace: argparse.Namespace, cls) -> dict:
    """The options of `cls` given on the command line, as field values (nested ones as dicts)."""
    values: dict = {}
    for dest, _, kind in config_options(cls):
        if hasattr(namespace, dest):
            value = getattr(namespace, dest)
            if kind is dict:
                value = dict(value)
            outer, _, inner = dest.partition(".")
            if inner:
                values.setdefault(outer, {})[inner] = value
            else:
                values[outer] = value
    return values


def given_flags(namespace: argparse.Namespace, cls) -> list[tuple[str, str]]:
    """(dest, option name) of the options of `cls` given on the command line."""
    out = []
    for dest, f, _ in config_options(cls):
        if hasattr(namespace, dest):
            out.append((dest, flag_of(f)))
    return out

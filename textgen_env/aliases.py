"""Old names kept working after a rename (methods, module attributes), each warning once that it has a new name."""

from __future__ import annotations

import warnings


def renamed_method(old: str, new: str):
    """A method `old` that calls method `new`, with one DeprecationWarning per process."""
    warned = False

    def alias(self, *args, **kwargs):
        nonlocal warned
        if not warned:
            warned = True
            message = f"{type(self).__name__}.{old}() is renamed {new}(); the old name will go"
            warnings.warn(message, DeprecationWarning, stacklevel=2)
        return getattr(self, new)(*args, **kwargs)

    alias.__name__ = old
    alias.__doc__ = f"The old name of :meth:`{new}` (warns once)."
    return alias


def renamed_attributes(module: str, renamed: dict[str, str], namespace: dict):
    """A module ``__getattr__`` that answers each old name in `renamed` (old -> new) with the module's `new`,
    with one DeprecationWarning per name."""
    warned: set[str] = set()

    def __getattr__(name: str):
        if name not in renamed:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        if name not in warned:
            warned.add(name)
            warnings.warn(
                f"{module}.{name} is renamed {renamed[name]}; the old name will go", DeprecationWarning, stacklevel=2
            )
        return namespace[renamed[name]]

    return __getattr__

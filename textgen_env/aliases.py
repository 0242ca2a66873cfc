"""Old method names kept working after a rename, each warning once that it has a new name."""

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

"""The old name of :mod:`textgen_env.builtin_tasks`, the built-in task suite (beside :mod:`textgen_env.task`, the
env's arguments and resolved task, the two names were too alike): importing it warns once and gives that module."""

import sys
import warnings

from textgen_env import builtin_tasks

warnings.warn("textgen_env.tasks is renamed textgen_env.builtin_tasks; the old name will go", DeprecationWarning, stacklevel=2)
sys.modules[__name__] = builtin_tasks

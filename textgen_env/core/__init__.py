"""The batched episode core: every rule of an episode, for N episodes at once.

=================  =====================================================================
module             what it holds
=================  =====================================================================
``types.py``       the arrays both cores share: StepRules, Pairs, Episodes, StepOutput
``base.py``        :class:`EpisodeCore`: the state, each env's pair draws, ``start``, reads
``numpy_core.py``  :class:`NumpyCore`, the reference step, any metric
``numpy_rows.py``  its incremental edit distances: one DP row per episode
``numba_core.py``  :class:`NumbaCore`, the same step compiled (the ``fast`` extra;
                   Levenshtein and Indel)
=================  =====================================================================

A core is driven with three calls: ``seed(seed)``, ``start(env_ids, pairs)`` and
``step(actions, resetting) -> StepOutput``. The rules it applies are read as data
from :class:`~textgen_env.task.TextTask` (valid actions, pair draws, scales) and
from :data:`textgen_env.rewards.REWARD_MODES` (dense or not, terminal weights), or
called where they are defined: both builds start episodes (autoresets included) with
``EpisodeCore.start``, and take the terminal reward and the similarity from
:func:`textgen_env.rewards.terminal_reward` and :func:`~textgen_env.rewards.similarity_from_distance`
(the numpy core on arrays, the compiled core compiled from the same functions). What
the compiled build writes itself is only how edit distances are updated, which the
tests hold equal to the numpy rows. The single env drives a core with one episode,
the vector env with ``num_envs``.
"""

from __future__ import annotations

from textgen_env.aliases import renamed_attributes
from textgen_env.core.base import EpisodeCore
from textgen_env.core.numpy_core import NumpyCore
from textgen_env.core.types import Episodes, Pairs, StepOutput, StepRules

BACKENDS = ("auto", "numba", "numpy")


def make_core(task, num_envs: int, backend: str = "auto", max_episode_steps: int | None = None) -> EpisodeCore:
    """The core for `task`: compiled where numba is installed and the metric has a kernel
    (Levenshtein, Indel) under ``backend="auto"``, numpy otherwise; "numba" or "numpy" asks for one.
    numba itself is imported here, on the first compiled core, not with the package."""
    if backend not in BACKENDS:
        raise ValueError(f"backend={backend!r}: allowed values are {list(BACKENDS)}")
    incremental = task.metric.substitution_cost is not None
    if backend == "numba" and not incremental:
        raise ValueError(f"backend='numba': metric {task.metric.name!r} has no compiled kernel (levenshtein and indel do)")
    if backend == "numpy" or not incremental:
        return NumpyCore(task, num_envs, max_episode_steps)
    from textgen_env.core import numba_core

    if not numba_core.AVAILABLE:
        if backend == "numba":
            raise ValueError("backend='numba': numba is not installed: pip install 'textgen-env[fast]'")
        return NumpyCore(task, num_envs, max_episode_steps)
    return numba_core.NumbaCore(task, num_envs, max_episode_steps)


__getattr__ = renamed_attributes(__name__, {"Rules": "StepRules"}, globals())

__all__ = ["BACKENDS", "EpisodeCore", "Episodes", "NumpyCore", "Pairs", "StepRules", "StepOutput", "make_core"]

"""`textgen-rl fit`: a task or a file of pairs in, a better generator out (see :mod:`agents.fit.pipeline`).

:class:`FitConfig` (:mod:`agents.fit.config`) is torch-free, so that the command line lists its options
without loading torch; :func:`fit` and :func:`resume_fit` are imported when first used.
"""

from agents.fit.config import FitConfig


def fit(config: FitConfig, progress: bool = True) -> dict:
    """Run a fresh fit to the end; returns the summary that its last stdout line holds."""
    from agents.fit.pipeline import fit as run

    return run(config, progress)


def resume_fit(run_dir, progress: bool = True) -> dict:
    """Continue the fit in `run_dir` at the stage where it stopped."""
    from agents.fit.pipeline import resume_fit as run

    return run(run_dir, progress)


__all__ = ["FitConfig", "fit", "resume_fit"]

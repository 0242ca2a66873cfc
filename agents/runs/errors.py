"""The errors of runs and checkpoints, torch-free, so that the command line can catch them without loading torch."""


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used: missing, corrupt, or made for something else."""


class TrainingDiverged(RuntimeError):
    """A loss or gradient that is not finite: training stops before it reaches the weights or a checkpoint."""

"""The training side's errors (no TensorFlow import, so tools can catch them cheaply)."""


class TrainingError(RuntimeError):
    """A run that cannot start or continue; the message is one line saying what and where."""


class Interrupted(TrainingError):
    """SIGTERM / SIGINT stopped the run after saving a checkpoint. ``signum`` is the signal's number."""

    def __init__(self, message, signum):
        super().__init__(message)
        self.signum = signum

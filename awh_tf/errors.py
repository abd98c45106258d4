"""The errors a user can cause outside the data loaders (those raise ``awh_tf.data.errors.DataError``), and
:func:`first_line`, which turns any exception into the one line they carry. No TensorFlow import, so tools
and the command-line entry points can catch them cheaply."""

import re


class TrainingError(RuntimeError):
    """A run folder that cannot be used — a run that cannot start or continue, no checkpoint to evaluate or
    export, an unreadable ``config.json``; the message is one line saying what and where."""


class Interrupted(TrainingError):
    """SIGTERM / SIGINT stopped the run after saving a checkpoint. ``signum`` is the signal's number."""

    def __init__(self, message, signum):
        super().__init__(message)
        self.signum = signum


class ModelFileError(ValueError):
    """A ``.keras`` file or preset folder that does not hold a loadable pose network
    (``awh_tf.models.preset``); the message is one line saying what and where."""


def first_line(error, limit=300):
    """The first non-empty line of an exception's message without TensorFlow's op context
    (``{{function_node …}}``, ``[Op:SaveV2]``), whitespace collapsed and at most ``limit`` characters: what
    failed and why, e.g. ``…/ckpt-4_temp/part-00000…; No space left on device``. An ``OSError`` gives its
    ``strerror`` and file name."""
    if isinstance(error, OSError) and error.strerror:
        return f"{error.strerror}: {error.filename}" if error.filename else error.strerror
    lines = [line for line in str(error).splitlines() if line.strip()]
    text = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", lines[0]) if lines else ""
    text = " ".join(re.sub(r"\s*\[Op:\w+\].*$", "", text).split())
    return (text or type(error).__name__)[:limit]

"""Bad-sample bookkeeping of the input pipeline: which samples could not be read, and one-line errors.

A loader raises ``awh_tf.data.errors.DataError`` (one line: path, sample index, problem). Under
``on_bad_sample="skip"`` the pipeline drops the sample and records it in a :class:`BadSampleLog`; under
``"raise"`` it stops, and :func:`surface_data_errors` turns tf.data's wrapped error back into the one-line
DataError. Each run (or evaluation) owns its log: there is no module-level state.
"""

import contextlib
import re
import threading

from awh_tf.data.errors import DataError


class BadSampleLog:
    """Thread-safe record of the samples the pipeline could not read.

    ``skipped`` maps ``(stream, index)`` to ``(message, times)``; ``raised`` keeps the errors that stopped
    a ``"raise"`` pipeline so :func:`surface_data_errors` can re-raise them as one-line DataErrors.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self.skipped = {}
        self.raised = []

    def record_skip(self, stream, index, error):
        with self._lock:
            _, times = self.skipped.get((stream, index), ("", 0))
            self.skipped[(stream, index)] = (str(error), times + 1)
            return sum(1 for s, _ in self.skipped if s == stream)

    def record_raise(self, error):
        with self._lock:
            self.raised.append(error)

    @property
    def count(self):
        """Samples dropped, counting a sample once per time it was drawn."""
        with self._lock:
            return sum(times for _, times in self.skipped.values())

    def report(self):
        """A human-readable summary: how many were skipped and which, one line per distinct sample."""
        with self._lock:
            items = sorted(self.skipped.items())
        if not items:
            return "skipped 0 bad samples"
        total = sum(times for _, (_, times) in items)
        lines = [f"skipped {total} bad sample reads ({len(items)} distinct samples):"]
        lines += [f"  {stream} #{index} (x{times}): {message}" for (stream, index), (message, times) in items]
        return "\n".join(lines)

    def clear(self):
        with self._lock:
            self.skipped.clear()
            self.raised.clear()


@contextlib.contextmanager
def surface_data_errors(log=None):
    """Turns the TF error a ``"raise"`` pipeline stops with back into the loader's one-line DataError.

    ``tf.numpy_function`` wraps a Python exception in a ``tf.errors.OpError`` whose message carries a
    traceback; wrap the loop that iterates a dataset in ``with surface_data_errors(log):`` to see just the
    DataError (path, sample index, problem). With the :class:`BadSampleLog` the dataset was built with, the
    loader's own exception is re-raised (its ``path`` and ``index`` kept); without one, the DataError is
    rebuilt from the wrapped message's ``DataError: …`` line.
    """
    import tensorflow as tf

    try:
        yield
    except tf.errors.OpError as e:
        for err in reversed(log.raised if log is not None else []):
            if str(err) in str(e):
                clean = DataError(str(err))
                clean.path, clean.index = getattr(err, "path", None), getattr(err, "index", None)
                raise clean from None
        match = _WRAPPED.search(str(e))
        if match:
            raise DataError(match.group(1).strip()) from None
        raise


# The line tf.numpy_function's error message gives a DataError raised inside it: "...DataError: <message>".
_WRAPPED = re.compile(r"(?:^|\s|\.)DataError: (.+)$", re.M)

"""The error every dataset loader raises for bad input on disk.

A `DataError` message is one line that names the file and, when the problem belongs to one sample,
the sample index, so a user can find the file and a pipeline running with ``on_bad_sample=skip`` can
log it and move on.
"""

from __future__ import annotations

import os


class DataError(ValueError):
    """A dataset file or folder is missing or malformed.

    Attributes (set by `DataError.at`; None otherwise):
      path: the offending file or folder, as a string.
      index: the sample index the problem belongs to, or None for dataset-level problems.
    """

    path: str | None = None
    index: int | None = None

    @classmethod
    def at(cls, path: str | os.PathLike, problem: str, index: int | None = None) -> "DataError":
        """Builds the one-line error ``"<path>: sample <index>: <problem>"`` (index part optional)."""
        where = f"{os.fspath(path)}: " + (f"sample {index}: " if index is not None else "")
        # One line: a multi-line problem text would break log parsing and the "skip" report.
        err = cls(where + " ".join(str(problem).split()))
        err.path = os.fspath(path)
        err.index = index
        return err


def sample_index(i, n: int) -> int:
    """A loader's ``ds[i]`` index in ``[0, n)``: negative ones count from the end, as for a list; IndexError
    outside ``[-n, n)`` (so iteration by ``ds[i]`` stops)."""
    if not -n <= int(i) < n:
        raise IndexError(f"index {i} out of range for {n} samples")
    return int(i) % n

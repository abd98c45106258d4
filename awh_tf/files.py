"""Small file-system helpers shared by every part (standard library only): an exclusive lock on a file and
an atomic JSON write."""

import contextlib
import fcntl
import json
import os


@contextlib.contextmanager
def locked(path):
    """An exclusive ``flock`` on ``path`` (created, with its folder) for the duration of the block."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def write_json(path, obj):
    """Writes ``obj`` as indented JSON atomically (temp file + rename): a killed process never leaves half a
    file, and a reader sees the old file or the new one."""
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2)
    os.replace(tmp, path)

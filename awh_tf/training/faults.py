"""What a run does when the world misbehaves: preemption, a damaged checkpoint, a second process, a full disk.

* :class:`WorkdirLock` — one run per workdir. The lock is ``<workdir>/.lock``, held with ``fcntl.flock`` (the
  kernel drops it when the holder dies, however it dies) and holding the holder's pid, host and start time for
  the refusal message. A lock file whose flock is free is stale (its writer was killed) and is taken over.
* :class:`Interrupts` — SIGTERM (how clouds and schedulers preempt) and SIGINT (Ctrl-C) set a flag; the
  training loop checks it after the step in flight, saves a checkpoint and stops with :class:`Interrupted`.
* :func:`restore_newest` — the newest checkpoint that restores: a damaged one (truncated or missing data file,
  unreadable index) is reported in one line and moved to ``checkpoints/damaged/``, and the next older is tried;
  when none restores, a one-line error and nothing is written over them.
* :func:`save_checkpoint` — a failed checkpoint write (``ENOSPC``, a quota, a vanished mount) is one line; the
  ``checkpoint`` index is only updated by a complete save, so the previous checkpoint stays the latest.
"""

import datetime
import fcntl
import glob
import json
import os
import shutil
import signal
import socket
import threading

import tensorflow as tf

from awh_tf.errors import Interrupted, TrainingError, first_line  # noqa: F401 (raised here, caught by callers)


class WorkdirLock:
    """An exclusive lock on a workdir for the life of one run (a context manager).

    Args:
      workdir: the run folder (created if missing).  name: the lock file's name (one per distributed worker).
      log: one-line messages (the take-over of a stale lock).
    Raises:
      TrainingError: another live process holds the lock (the message names its pid, host and start).
    """

    _held = {}  # lock path -> [fd, depth] of the locks this process holds (re-entered, not re-taken)

    def __init__(self, workdir, name=".lock", log=print):
        self.path = os.path.join(workdir, name)
        self.workdir, self.log, self._fd = workdir, log, None

    def __enter__(self):
        key = os.path.realpath(self.path)
        if key in WorkdirLock._held:  # e.g. train() inside train_and_evaluate(): one run, one lock
            WorkdirLock._held[key][1] += 1
            self._fd = WorkdirLock._held[key][0]
            return self
        os.makedirs(self.workdir, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = self._describe(fd)
            os.close(fd)
            raise TrainingError(f"{self.workdir} is in use by {holder}; wait for it to finish, stop it, or use "
                                f"another --workdir") from None
        previous = self._read(fd)
        if previous.get("pid"):
            self.log(f"{self.path}: took over a stale lock of process {previous['pid']} on "
                     f"{previous.get('host', '?')} (started {previous.get('started', '?')}), which is gone")
        info = {"pid": os.getpid(), "host": socket.gethostname(),
                "started": datetime.datetime.now().isoformat(timespec="seconds")}
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(info).encode(), 0)
            os.fsync(fd)
        except OSError as e:  # a full disk: do not keep a lock nobody will release
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
            raise TrainingError(f"{self.path}: cannot write the workdir lock ({first_line(e)})") from None
        self._fd = fd
        WorkdirLock._held[os.path.realpath(self.path)] = [fd, 1]
        return self

    def __exit__(self, *exc):
        if self._fd is None:
            return False
        key = os.path.realpath(self.path)
        held = WorkdirLock._held.get(key)
        if held is not None:
            held[1] -= 1
            if held[1] > 0:
                self._fd = None
                return False
            del WorkdirLock._held[key]
        try:
            os.ftruncate(self._fd, 0)  # an empty lock file is a released one, not a stale one
        except OSError:
            pass
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None
        return False

    @staticmethod
    def _read(fd):
        try:
            return json.loads(os.pread(fd, 4096, 0).decode() or "{}")
        except (ValueError, UnicodeDecodeError):
            return {}

    def _describe(self, fd):
        info = self._read(fd)
        if not info.get("pid"):
            return "another process"
        return f"process {info['pid']} on {info.get('host', '?')} (started {info.get('started', '?')})"


class Interrupts:
    """SIGTERM and SIGINT handlers that only record the signal (a context manager; restores the old handlers).

    The loop asks :attr:`signum` after each step. A second signal means the user insists (a run stuck in
    its input pipeline or a first trace never reaches the end of a step): the previous handlers are put
    back and the signal is raised again, so the process stops as it would have without this class. Outside
    the main thread (where Python cannot install handlers) it does nothing.
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self):
        self.signum = None
        self._previous = {}

    def _handle(self, signum, frame):
        del frame
        if self.signum is None:
            self.signum = signum
            return
        self.__exit__(None, None, None)
        signal.raise_signal(signum)

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for s in self.SIGNALS:
                self._previous[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, *exc):
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        self._previous = {}
        return False


def _checkpoint_files(prefix):
    return glob.glob(glob.escape(prefix) + ".index") + glob.glob(glob.escape(prefix) + ".data-*")


def _step_of(prefix):
    """N of ``…/ckpt-N`` (-1 for another name: sorted first)."""
    tail = os.path.basename(prefix).rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else -1


def _set_index(directory, prefixes):
    """Rewrites ``directory/checkpoint`` to list ``prefixes`` (oldest first; the last is the latest), with
    their files' times, so a ``CheckpointManager`` opened on it keeps tracking (and rotating) all of them."""
    prefixes = list(prefixes)  # update_checkpoint_state rewrites a list of relative paths in place
    if not prefixes:
        if os.path.exists(os.path.join(directory, "checkpoint")):
            os.remove(os.path.join(directory, "checkpoint"))
        return
    stamps = [os.path.getmtime(p + ".index") if os.path.exists(p + ".index") else 0.0 for p in prefixes]
    # Names relative to the folder, as CheckpointManager writes them: the run folder may be moved.
    names = [os.path.relpath(p, os.path.abspath(directory)) for p in prefixes]
    tf.compat.v1.train.update_checkpoint_state(
        os.path.abspath(directory), names[-1], all_model_checkpoint_paths=names,
        all_model_checkpoint_timestamps=stamps, last_preserved_timestamp=min(stamps) - 1.0)


def checkpoint_prefixes(directory, log=print):
    """The checkpoints of ``directory`` (absolute prefixes, oldest first): those its ``checkpoint`` index
    lists and any complete-looking ``ckpt-N.index`` file it does not (a save killed after its files but before
    the index). A missing, unreadable or incomplete index is said in one line and rebuilt from the files."""
    directory = os.path.abspath(directory)
    index = os.path.join(directory, "checkpoint")
    files = [p[:-len(".index")] for p in glob.glob(os.path.join(glob.escape(directory), "ckpt-*.index"))]
    problem, listed = None, []
    try:
        state = tf.train.get_checkpoint_state(directory)  # None when the file is missing or not a text proto
    except Exception as e:  # noqa: BLE001 (UnicodeDecodeError, ParseError, ...: a damaged file)
        state, problem = None, first_line(e)
    if state is not None:
        listed = [p if os.path.isabs(p) else os.path.join(directory, p)
                  for p in (list(state.all_model_checkpoint_paths) or [state.model_checkpoint_path]) if p]
    elif problem is None and os.path.exists(index):
        problem = "not a checkpoint index"
    elif problem is None and files:
        problem = "missing"
    prefixes = sorted(set(listed) | set(files), key=_step_of)
    if problem is None and state is not None and set(files) - set(listed):
        problem = f"does not list {', '.join(sorted(os.path.basename(p) for p in set(files) - set(listed)))}"
    if problem is not None and prefixes:
        log(f"{index}: {problem}; rebuilt it from the {len(prefixes)} checkpoints present")
        _set_index(directory, prefixes)
    return prefixes


def restore_newest(restore, directory, log=print):
    """Restores the newest checkpoint of ``directory`` that restores; damaged newer ones are moved aside.

    Args:
      restore: ``restore(prefix)``, raising when the checkpoint cannot be restored.
      directory: the ``checkpoints/`` folder of a run.  log: one-line messages.
    Returns:
      the restored prefix, or None when the folder holds no checkpoint.
    Raises:
      TrainingError: checkpoints exist but none restores (they are left in place, untouched).
    """
    directory = os.path.abspath(directory)
    prefixes = checkpoint_prefixes(directory, log)
    failures = []
    for i in range(len(prefixes) - 1, -1, -1):
        prefix = prefixes[i]
        try:
            restore(prefix)
        except Exception as e:  # DataLossError, NotFoundError, IndexError ("read less bytes"), ...: unusable
            failures.append((prefix, first_line(e)))
            continue
        if failures:
            damaged = os.path.join(directory, "damaged")
            os.makedirs(damaged, exist_ok=True)
            for bad, reason in failures:
                for f in _checkpoint_files(bad):
                    shutil.move(f, os.path.join(damaged, os.path.basename(f)))
                log(f"{bad}: cannot be restored ({reason}); moved to {damaged}/")
            _set_index(directory, prefixes[:i + 1])
            log(f"resuming from the newest checkpoint that restores: {prefix}")
        return prefix
    if failures:
        newest, reason = failures[0]
        raise TrainingError(f"{directory}: none of the {len(failures)} checkpoints restores (newest {newest}: "
                            f"{reason}); they are left untouched — move them away to start this run afresh")
    return None


def save_checkpoint(manager, step):
    """``manager.save(step)``; a failed write is one :class:`TrainingError` line and the partial files are
    removed (the ``checkpoint`` index still names the previous checkpoint, which stays valid)."""
    previous = manager.latest_checkpoint
    try:
        return manager.save(checkpoint_number=step)
    except (tf.errors.OpError, OSError) as e:
        prefix = os.path.join(manager.directory, f"ckpt-{step}")
        if _indexed_latest(manager.directory) == os.path.abspath(prefix):  # saved; removing older ones failed
            raise TrainingError(f"step {step}: wrote {prefix}, then could not remove older checkpoints "
                                f"({first_line(e)})") from None
        for f in _checkpoint_files(prefix) + glob.glob(glob.escape(prefix) + "_temp*"):
            shutil.rmtree(f, ignore_errors=True) if os.path.isdir(f) else _remove_quietly(f)
        kept = previous or "none yet"
        raise TrainingError(f"step {step}: could not write the checkpoint in {manager.directory} "
                            f"({first_line(e)}); the previous checkpoint stays valid: {kept}") from None


def _indexed_latest(directory):
    """The absolute latest prefix the ``checkpoint`` index of ``directory`` names, or None."""
    try:
        state = tf.train.get_checkpoint_state(directory)
    except Exception:  # noqa: BLE001
        return None
    path = state.model_checkpoint_path if state else None
    return os.path.abspath(path if not path or os.path.isabs(path) else os.path.join(directory, path)) if path else None


def _remove_quietly(path):
    try:
        os.remove(path)
    except OSError:
        pass

"""The output directory of a run: one run at a time, regular files only, an old run kept until the new one is whole.

- **One run at a time**: ``OutDir.open`` takes an exclusive ``fcntl.flock`` on ``OUT/.lockstep.lock``
  (created if absent, removed when the run ends). The lock belongs to the open file, so it is
  released by the kernel however the holder dies; a second run into a locked OUT is refused.
- **Never through a symlink**: a record file (steps.csv, summary.json, diagnosis.txt, first_failure.npz)
  that is a symlink, a directory or anything but a regular file is refused; steps.csv is created with
  O_EXCL | O_NOFOLLOW and the others are renamed into place, which replaces a link, never follows it.
- **--overwrite keeps the old run until the new one is whole**: when OUT holds a run, the new one
  is written into ``OUT/.lockstep-new/`` and moved into OUT only once its record is valid
  (``commit``): the old summary goes first, the new one comes last, so a reader of OUT sees the old
  run, then no run, then the new one, and never one run's steps.csv beside another's summary.
- **The record as of the last flush**: after every flush of steps.csv the run saves the summary it
  would have if the process ended there, with the byte length of steps.csv, in
  ``.lockstep-progress.json`` (``save_progress``). The parent process (comparisons.cli.parent)
  repairs a worker that died from it: steps.csv cut back to that length, the summary written
  (``ended``).
"""
import errno
import fcntl
import json
import os
import shutil
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from comparisons.errors import InputError, RecordWriteError, setting
from comparisons.heartbeat import PHASES
from comparisons.record.atomic import write_atomic
from comparisons.record.failure_array import FILE as FAILURE_ARRAYS
from comparisons.record.recorder import DIAGNOSIS, REPORT_FIGURES, REPORT_FILES, STEPS, SUMMARY

LOCK, STAGING, PROGRESS = ".lockstep.lock", ".lockstep-new", ".lockstep-progress.json"
RECORD_FILES = (STEPS, SUMMARY, DIAGNOSIS, FAILURE_ARRAYS)


@dataclass
class OutDir:
    path: Path              # OUT, as given
    write_to: Path          # where this run writes: OUT, or OUT/.lockstep-new when OUT holds a run
    lock_fd: int            # the open, flock()ed OUT/.lockstep.lock
    created: bool = False   # OUT did not exist: removed again if the run writes nothing
    owner: bool = True      # this process opened it (the worker only adopts its parent's)
    progress: dict | None = field(default=None, repr=False)   # the last save_progress, in memory

    @classmethod
    def open(cls, out: str | Path, overwrite: bool) -> "OutDir":
        """Create and lock ``out``, check it, choose where to write; InputError (one line) if unusable."""
        if not str(out).strip():
            raise InputError(f"{setting('out')} is empty: name the directory for steps.csv and summary.json")
        path = Path(out)
        created = not path.exists()
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise InputError(f"cannot create output directory {path}: {e.strerror}") from None
        fd = _lock(path)
        try:
            existing = _existing_record(path)
            if existing and not overwrite:
                raise InputError(f"{path} already holds a run ({', '.join(existing)}); "
                                 "choose another --out or pass --overwrite (in Python: run(..., overwrite=True))")
            write_to = path / STAGING if existing else path
            _remove(path / STAGING)        # left by a run that was killed with its parent: nobody holds it now
            _remove(path / PROGRESS)
            if existing:
                write_to.mkdir()
            try:
                with tempfile.TemporaryFile(dir=write_to):
                    pass
            except OSError as e:
                raise InputError(f"output directory {path} is not writable: {e.strerror}") from None
        except BaseException:
            _release(path, fd, created)
            raise
        return cls(path, write_to, fd, created)

    @classmethod
    def adopt(cls, path: str | Path, write_to: str | Path, lock_fd: int) -> "OutDir":
        """The worker's view of the directory its parent opened and locked (the lock fd is inherited;
        not passed on to processes the user's code starts)."""
        os.set_inheritable(lock_fd, False)
        return cls(Path(path), Path(write_to), lock_fd, owner=False)

    @property
    def staged(self) -> bool:
        return self.write_to != self.path

    def save_progress(self, summary: dict, csv_bytes: int, rows: int) -> None:
        """The summary as it would read if the process ended now, and steps.csv's length (bytes, rows)
        at that point. Kept in memory first: a failed write leaves an older, consistent pair on disk."""
        text = json.dumps({"csv_bytes": csv_bytes, "rows": rows, "summary": summary})
        self.progress = json.loads(text)       # a copy: the run goes on changing the dicts it was given
        try:
            write_atomic(self.write_to / PROGRESS, text)
        except InputError:
            pass

    def load_progress(self) -> dict | None:
        """The last progress saved on disk (the parent's view), or None."""
        try:
            return json.loads((self.write_to / PROGRESS).read_text())
        except (OSError, ValueError):
            return None

    def repair(self, progress: dict, status: str, stop: str, beat) -> dict:
        """Make the record whole from ``progress``: cut steps.csv back to its length then, write the
        summary with ``status`` and why the run stopped (``stop``; ``beat``: where). Returns the summary;
        RecordWriteError if it cannot be written."""
        steps = self.write_to / STEPS
        try:
            if steps.stat().st_size > progress["csv_bytes"]:
                os.truncate(steps, progress["csv_bytes"])
        except OSError as e:
            raise RecordWriteError(f"cannot cut {steps} back to its last whole step: {e.strerror}") from None
        summary = ended(progress["summary"], status, stop, beat)
        write_summary(self.write_to / SUMMARY, summary)
        return summary

    def commit(self) -> None:
        """Move a staged record into OUT, replacing the old run (and the report made from it)."""
        if not self.staged:
            return
        for name in (SUMMARY, STEPS, DIAGNOSIS, FAILURE_ARRAYS, *REPORT_FILES):   # the old summary first: never
                                                                                   # a mixed pair
            (self.path / name).unlink(missing_ok=True)
        for figure in self.path.glob(REPORT_FIGURES):
            figure.unlink(missing_ok=True)
        for name in (STEPS, DIAGNOSIS, FAILURE_ARRAYS, SUMMARY):   # the new summary last
            if (self.write_to / name).exists():
                os.replace(self.write_to / name, self.path / name)
        _remove(self.write_to)

    def discard(self) -> None:
        """Remove what this run wrote: the staged record, or (written into OUT) its record files."""
        if self.staged:
            _remove(self.write_to)
        else:
            for name in (*RECORD_FILES, PROGRESS):
                (self.path / name).unlink(missing_ok=True)

    def release(self) -> None:
        """End of the run: drop the progress file and the lock (and OUT, if this run made it and it is empty)."""
        if self.owner:
            (self.write_to / PROGRESS).unlink(missing_ok=True)
            _release(self.path, self.lock_fd, self.created)


def ended(summary: dict, status: str, stop: str, beat, quantity: str = "process") -> dict:
    """``summary`` for a run that stopped early (``status`` failed or interrupted) because of ``stop``
    (one line, e.g. ``step 4 > backward(): the process ended (SIGSEGV)``), at ``beat`` (a
    comparisons.heartbeat.Beat). The first failure stays an earlier failed check if there was one;
    otherwise, for a failed run, it is the stop (``quantity``: process, user_code, record)."""
    s = {**summary, "status": status, "passed": False, "stopped": stop}
    first = s.get("first_failure")
    if status == "failed" and (first is None or first["step"] > beat.step):
        phase = beat.phase if beat.phase in PHASES else "step"
        s["first_failure"] = {"step": beat.step, "epoch": beat.epoch, "phase": phase, "quantity": quantity,
                              "name": "", "message": stop}
    return s


def write_summary(path: Path, summary: dict) -> None:
    """summary.json, atomically and as strict JSON (recorder.NONFINITE_SUFFIX); RecordWriteError (one
    line) if it cannot be written."""
    from comparisons.record.recorder import write_json_atomic
    write_json_atomic(path, summary)


def _lock(path: Path) -> int:
    """An exclusive lock on ``path/LOCK``: its descriptor, or InputError when another run holds it."""
    lock = path / LOCK
    for _ in range(3):
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except OSError as e:
            kind = "a symbolic link" if e.errno == errno.ELOOP else e.strerror
            raise InputError(f"cannot lock {path}: {lock} is {kind}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise InputError(f"{path} is in use by another lockstep run (it holds {lock}); "
                             "wait for it to end or choose another --out") from None
        except OSError as e:
            os.close(fd)
            raise InputError(f"cannot lock {lock}: {e.strerror}") from None
        try:
            if os.path.samestat(os.fstat(fd), os.lstat(lock)):
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)           # the holder removed the file while this process waited: lock the new one
    raise InputError(f"cannot lock {lock}: it keeps being replaced")


def _release(path: Path, fd: int, created: bool) -> None:
    try:
        (path / LOCK).unlink(missing_ok=True)       # while still holding it: see _lock's samestat check
    finally:
        os.close(fd)
    if created:
        try:
            path.rmdir()                             # only if empty: the run wrote nothing
        except OSError:
            pass


def _existing_record(path: Path) -> list[str]:
    """The record files already in ``path``; InputError for any that is not a regular file."""
    found = []
    for name in RECORD_FILES:
        try:
            mode = os.lstat(path / name).st_mode
        except FileNotFoundError:
            continue
        if not stat.S_ISREG(mode):
            kind = ("a symbolic link" if stat.S_ISLNK(mode) else "a directory" if stat.S_ISDIR(mode)
                    else "not a regular file")
            raise InputError(f"{path / name} is {kind}; lockstep writes only regular files into "
                             f"{setting('out')}: remove it or choose another {setting('out')}")
        found.append(name)
    return found


def _remove(path: Path) -> None:
    """Remove a file, a link (not what it points to) or a directory tree, if present."""
    try:
        if stat.S_ISDIR(os.lstat(path).st_mode):
            shutil.rmtree(path)
        else:
            path.unlink()
    except FileNotFoundError:
        pass

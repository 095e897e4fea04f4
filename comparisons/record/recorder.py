"""The record of a run: steps.csv flushed as the run goes (whole steps only), summary.json written atomically."""
import json
import math
import os
import time
from pathlib import Path

from comparisons.record.atomic import write_atomic
from comparisons.check.rules import COLUMNS
from comparisons.errors import InputError, RecordWriteError

STEPS, SUMMARY, DIAGNOSIS = "steps.csv", "summary.json", "diagnosis.txt"
REPORT_FILES, REPORT_FIGURES = ("report.html", "report.md"), "report-*.png"   # lockstep report's, beside the run
FLUSH_SECONDS = 1.0     # a worker process that dies without cleanup loses at most this much of the record


class Recorder:
    """Collects Row tuples; appends them to ``out/steps.csv`` (if ``out``) at most every
    FLUSH_SECONDS, so the file holds whole steps only.

    Each flush is written with ``os.write`` and its byte count checked: if a write fails (disk
    full, permission lost) or is interrupted part-way, the file is cut back to the end of the last
    whole flush, the recorder stops writing, and ``flush`` raises RecordWriteError (one line).
    ``on_flush()`` runs after each flush that reached the disk: the run saves its summary as of
    that point (comparisons.record.outdir). The first rows are flushed as soon as they come, so a
    record that has begun has rows."""

    def __init__(self, out: Path | None, on_flush=None):
        self.out = out
        self.on_flush = on_flush
        self.rows: list[tuple] = []
        self.bytes_written = 0        # steps.csv's length after the last whole flush
        self.last_step = 0            # the step of the last row in steps.csv (in memory without out)
        self.broken: str | None = None   # why the file could not be written, once it could not
        self._written = 0
        self._last = -math.inf           # the first rows (the evaluation before step 1) are flushed at once
        self._fd = None
        if out is not None:
            path = out / STEPS
            try:   # O_EXCL | O_NOFOLLOW: never through a link, never into a file another process made
                self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
            except OSError as e:
                raise InputError(f"cannot create {path}: {e.strerror}") from None
            try:
                self._write((",".join(COLUMNS) + "\n").encode())
            except BaseException as e:      # nothing written yet: leave nothing behind
                os.close(self._fd)
                path.unlink(missing_ok=True)
                if isinstance(e, RecordWriteError):
                    raise InputError(str(e)) from None
                raise

    @property
    def rows_written(self) -> int:
        return self._written

    def add(self, rows) -> None:
        self.rows.extend(rows)
        if self.out is None:
            self.last_step = self.rows[-1][0] if self.rows else 0
        elif time.perf_counter() - self._last > FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        if self.out is None or self.broken or self._written == len(self.rows):
            return
        import pandas as pd     # here: the CLI's parent imports this module for its file names only
        rows = self.rows[self._written:]
        self._write(pd.DataFrame.from_records(rows, columns=COLUMNS).to_csv(header=False, index=False).encode())
        self._written = len(self.rows)
        self.last_step = rows[-1][0]
        self._last = time.perf_counter()
        if self.on_flush is not None:
            self.on_flush()

    def _write(self, data: bytes) -> None:
        """Append ``data`` whole, or cut the file back to where it was and raise RecordWriteError."""
        view, done = memoryview(data), 0
        try:
            while done < len(data):
                done += os.write(self._fd, view[done:])
        except BaseException as e:
            try:
                os.ftruncate(self._fd, self.bytes_written)    # never a half row
            except OSError:
                pass
            if not isinstance(e, OSError):
                raise
            self.broken = f"cannot write {self.out / STEPS}: {e.strerror}"
            raise RecordWriteError(self.broken) from None
        self.bytes_written += len(data)

    def close(self) -> None:
        if self._fd is not None:
            try:
                self.flush()
            finally:
                os.close(self._fd)
                self._fd = None

    def frame(self):
        """Every row as a pandas DataFrame (the content of steps.csv)."""
        import pandas as pd
        return pd.DataFrame.from_records(self.rows, columns=COLUMNS)


# summary.json is strict JSON (RFC 8259 has no NaN or Infinity; JavaScript's JSON.parse rejects them).
# A non-finite float under key K is written as "K": null with "K_nonfinite": "nan", "inf" or "-inf"
# beside it; in an array, the element is null and "K_nonfinite" beside the array lists the reasons
# by position (null where the element is finite). Readers restore the floats (revive_nonfinite).
NONFINITE_SUFFIX = "_nonfinite"


def write_json_atomic(path: Path, data: dict) -> None:
    """summary.json and friends: strict JSON (see NONFINITE_SUFFIX); readers see the old file or
    the new one, never half of it."""
    write_atomic(path, json.dumps(strict_json(data), indent=2, allow_nan=False) + "\n")


def strict_json(data: dict) -> dict:
    """``data`` with every NaN/Infinity replaced by null and its reason beside it (NONFINITE_SUFFIX)."""
    return _strict(data)[0]


def _strict(value):
    """(the value with non-finite floats as None, their reasons or None when there are none)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None, "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            out[key], reason = _strict(item)
            if reason is not None:
                out[f"{key}{NONFINITE_SUFFIX}"] = reason
        return out, None
    if isinstance(value, (list, tuple)):
        pairs = [_strict(item) for item in value]
        reasons = [reason for _, reason in pairs]
        return [item for item, _ in pairs], (reasons if any(r is not None for r in reasons) else None)
    return value, None


def revive_nonfinite(value):
    """The inverse of strict_json: each null with a reason beside it becomes its float again, and
    the ``*_nonfinite`` keys go, so readers see what the run had in memory."""
    if isinstance(value, list):
        return [revive_nonfinite(item) for item in value]
    if not isinstance(value, dict):
        return value
    out = {k: revive_nonfinite(v) for k, v in value.items() if not _is_reason_of(k, value)}
    for key, reason in value.items():
        if _is_reason_of(key, value):
            base = key[:-len(NONFINITE_SUFFIX)]
            out[base] = _revived(out[base], reason)
    return out


def _is_reason_of(key: str, d: dict) -> bool:
    return key.endswith(NONFINITE_SUFFIX) and key[:-len(NONFINITE_SUFFIX)] in d


def _revived(value, reason):
    if isinstance(reason, str) and value is None:
        return float(reason)              # float("nan"), float("inf"), float("-inf")
    if isinstance(reason, list) and isinstance(value, list) and len(reason) == len(value):
        return [_revived(v, r) for v, r in zip(value, reason)]
    return value

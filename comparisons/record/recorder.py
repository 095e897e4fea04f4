"""The record of a run: steps.csv flushed as the run goes, summary.json written atomically."""
import json
import tempfile
import time
from pathlib import Path

import pandas as pd

from comparisons.record.atomic import write_atomic
from comparisons.check.rules import COLUMNS
from comparisons.errors import InputError

STEPS, SUMMARY, DIAGNOSIS = "steps.csv", "summary.json", "diagnosis.txt"
REPORT_FILES, REPORT_FIGURES = ("report.html", "report.md"), "report-*.png"   # lockstep report's, beside the run
FLUSH_SECONDS = 1.0     # an interrupted run loses at most this much of the record


def prepare_out(out: Path, overwrite: bool) -> None:
    """Create ``out`` and prove it writable before any work; never clobber a run silently."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"cannot create output directory {out}: {e.strerror}") from None
    existing = [f for f in (STEPS, SUMMARY, DIAGNOSIS) if (out / f).exists()]
    if existing and not overwrite:
        raise InputError(f"{out} already holds a run ({', '.join(existing)}); "
                         "choose another --out or pass --overwrite")
    try:
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as e:
        raise InputError(f"output directory {out} is not writable: {e.strerror}") from None
    for f in existing:
        (out / f).unlink()
    if existing:     # a report describes the run it was made from: never leave it beside another
        for stale in [out / f for f in REPORT_FILES] + sorted(out.glob(REPORT_FIGURES)):
            stale.unlink(missing_ok=True)


class Recorder:
    """Collects Row tuples; appends them to ``out/steps.csv`` (if ``out``) at most every
    FLUSH_SECONDS, each chunk as one write of whole lines, so the file stays valid."""

    def __init__(self, out: Path | None):
        self.out = out
        self.rows: list[tuple] = []
        self._written = 0
        self._last = time.perf_counter()
        if out is not None:
            self._file = open(out / STEPS, "w", newline="")
            self._file.write(",".join(COLUMNS) + "\n")
            self._file.flush()

    def add(self, rows) -> None:
        self.rows.extend(rows)
        if self.out is not None and time.perf_counter() - self._last > FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        if self.out is None or self._written == len(self.rows):
            return
        chunk = pd.DataFrame.from_records(self.rows[self._written:], columns=COLUMNS)
        self._file.write(chunk.to_csv(header=False, index=False))
        self._file.flush()
        self._written = len(self.rows)
        self._last = time.perf_counter()

    def close(self) -> None:
        if self.out is not None:
            self.flush()
            self._file.close()

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame.from_records(self.rows, columns=COLUMNS)


def write_json_atomic(path: Path, data: dict) -> None:
    """summary.json and friends: readers see the old file or the new one, never half of it."""
    write_atomic(path, json.dumps(data, indent=2, allow_nan=True) + "\n")

"""The record of a run: steps.csv flushed as the run goes, summary.json written atomically."""
import json
import math
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

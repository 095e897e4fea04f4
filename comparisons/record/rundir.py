"""A run directory read back for reports and comparisons: summary.json and steps.csv, validated.

Every problem is an InputError of one line naming the file and what is wrong with it.
Reading needs neither torch nor matplotlib.
"""
import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from comparisons.check.rules import COLUMNS
from comparisons.errors import InputError
from comparisons.record.recorder import STEPS, SUMMARY

# The newest summary.json schema this reader understands. comparisons.summary.SCHEMA_VERSION is
# what runs write (a test ties the two: importing summary would load torch, which reading must not).
READABLE_SCHEMA = 1
REQUIRED_FIELDS = ("schema_version", "passed", "status", "first_failure", "steps", "final", "worst",
                   "config", "data", "versions")
STATUSES = ("passed", "failed", "interrupted")
# The steps.csv columns reports and comparisons use; the others are never loaded.
USED_COLUMNS = ["step", "epoch", "phase", "track", "quantity", "name", "manual", "reference", "abs_diff", "rel_diff",
                "referee_diff", "noise", "metric", "rule", "tolerance", "passed"]
_DTYPES = {"step": "int64", "epoch": "int64", "phase": "category", "track": "category", "quantity": "category",
           "name": "string", "manual": "float64", "reference": "float64", "abs_diff": "float64", "rel_diff": "float64",
           "referee_diff": "float64", "noise": "float64", "metric": "category", "rule": "category",
           "tolerance": "float64", "passed": "boolean"}


@dataclass(frozen=True)
class RunDir:
    path: Path
    summary: dict = field(repr=False)
    frame: pd.DataFrame = field(repr=False, compare=False)   # steps.csv, USED_COLUMNS only

    @property
    def steps_csv(self) -> Path:
        return self.path / STEPS

    @property
    def summary_json(self) -> Path:
        return self.path / SUMMARY


def load_run(path: str | Path, role: str = "run") -> RunDir:
    """Read and check ``path``; ``role`` (run, baseline, current) starts every error message."""
    path = Path(path)
    if not path.is_dir():
        raise InputError(f"{role} {path}: {'not a directory' if path.exists() else 'no such directory'}")
    missing = [f for f in (STEPS, SUMMARY) if not (path / f).is_file()]
    if missing:
        raise InputError(f"{role} {path}: missing {' and '.join(missing)}; not a complete lockstep run directory")
    summary = _read_summary(path / SUMMARY, role)
    frame = _read_steps(path / STEPS, role)
    _check_consistent(path / STEPS, role, summary, frame)
    return RunDir(path, summary, frame)


def _read_summary(file: Path, role: str) -> dict:
    try:
        summary = json.loads(file.read_text())
    except OSError as e:
        raise InputError(f"{role} {file}: {e.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{role} {file}: not valid JSON ({e})") from None
    if not isinstance(summary, dict):
        raise InputError(f"{role} {file}: not a JSON object")
    version = summary.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise InputError(f"{role} {file}: no valid schema_version (got {version!r})")
    if version > READABLE_SCHEMA:
        raise InputError(f"{role} {file}: schema_version {version} is newer than this lockstep reads "
                         f"({READABLE_SCHEMA}); upgrade lockstep")
    absent = [k for k in REQUIRED_FIELDS if k not in summary]
    if absent:
        raise InputError(f"{role} {file}: missing field{'s' if len(absent) > 1 else ''} {', '.join(absent)}")
    if summary["status"] not in STATUSES:
        raise InputError(f"{role} {file}: unknown status {summary['status']!r}")
    for key in ("final", "worst", "config", "data", "versions"):
        if not isinstance(summary[key], dict):
            raise InputError(f"{role} {file}: {key} must be an object")
    return summary


def _read_steps(file: Path, role: str) -> pd.DataFrame:
    with open(file, "rb") as f:
        header = f.readline().decode(errors="replace").rstrip("\r\n").split(",")
        f.seek(0, 2)
        size = f.tell()
        if size:
            f.seek(size - 1)
            if f.read(1) != b"\n":
                raise InputError(f"{role} {file}: truncated (the last line is incomplete)")
    absent = [c for c in USED_COLUMNS if c not in header]
    if absent:
        raise InputError(f"{role} {file}: not a lockstep steps.csv (no column {', '.join(absent)}; "
                         f"expected {','.join(COLUMNS)})")
    try:
        frame = pd.read_csv(file, usecols=USED_COLUMNS, dtype=_DTYPES)
    except (ValueError, pd.errors.ParserError) as e:
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InputError(f"{role} {file}: unreadable ({reason})") from None
    if frame[["phase", "quantity", "passed"]].isna().any(axis=None):
        raise InputError(f"{role} {file}: a row lacks its phase, quantity or passed value")
    frame["name"] = frame["name"].fillna("").astype("category")
    frame["value"] = gated_value(frame)
    return frame


def gated_value(frame: pd.DataFrame):
    """Each row's gated value (checks.Row.value): the count for counts, the distance to the referee
    for rows the referee decided, the manual-vs-torch difference otherwise."""
    import numpy as np
    referee = (frame["rule"] == "referee").to_numpy()
    count = (frame["metric"] == "count").to_numpy()
    return np.where(count, frame["abs_diff"], np.where(referee, frame["referee_diff"], frame["rel_diff"]))


def _check_consistent(file: Path, role: str, summary: dict, frame: pd.DataFrame) -> None:
    """steps.csv must reach the step summary.json reports, with its final evaluation if it passed."""
    last = int(frame["step"].max()) if len(frame) else -1
    steps = summary["steps"]
    if last < steps:
        where = f"ends at step {last}" if last >= 0 else "has no rows"
        raise InputError(f"{role} {file}: truncated: it {where}, {SUMMARY} reports {steps} steps")
    if last > steps:
        raise InputError(f"{role} {file}: reaches step {last} but {SUMMARY} reports {steps} steps; "
                         "the two files are from different runs")
    if summary["status"] == "passed":
        evaluated = set(frame.loc[frame["step"] == last, "phase"].astype(str))
        absent = [split for split in summary["final"] if split not in evaluated]
        if absent:
            raise InputError(f"{role} {file}: truncated: the final evaluation on {', '.join(absent)} is missing")

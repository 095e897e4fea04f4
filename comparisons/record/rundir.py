"""A run directory read back for reports and comparisons: summary.json and steps.csv, validated.

summary.json is validated against summary.schema.json (JSON Schema 2020-12, with jsonschema)
before any field is used; steps.csv column by column (types, and phase, quantity, metric and
passed from their sets). Every problem is an InputError of one line naming the file, where in
it (a JSON path, or a row) and what is wrong. Reading needs neither torch nor matplotlib.
"""
import functools
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import jsonschema
import numpy as np
import pandas as pd

from comparisons.check.rules import COLUMNS, METRICS, ROW_QUANTITIES, RULES, TRACKS
from comparisons.errors import InputError
from comparisons.record.recorder import STEPS, SUMMARY, revive_nonfinite

# The newest summary.json schema this reader understands. comparisons.summary.SCHEMA_VERSION is
# what runs write (a test ties the two: importing summary would load torch, which reading must not).
READABLE_SCHEMA = 1
# A summary is a few kB (a diagnosis adds a few lines); a larger file is not one, and is not read.
MAX_SUMMARY_BYTES = 16 * 2**20
PHASES = ("step", "train", "valid", "test")
# The steps.csv columns reports and comparisons use; the others are never loaded.
USED_COLUMNS = ["step", "epoch", "phase", "track", "quantity", "name", "manual", "reference", "abs_diff", "rel_diff",
                "referee_diff", "noise", "metric", "rule", "tolerance", "passed"]
INTEGER_COLUMNS = ("step", "epoch")                     # counts: digits only, at most 18 (inside int64)
FLOAT_COLUMNS = ("manual", "reference", "abs_diff", "rel_diff", "referee_diff", "noise", "tolerance")   # empty = NaN
CHOSEN = {"phase": PHASES, "track": TRACKS, "quantity": ROW_QUANTITIES, "metric": METRICS, "rule": RULES,
          "passed": ("True", "False")}


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


@functools.cache
def summary_validator() -> jsonschema.Draft202012Validator:
    """The validator of summary.schema.json, the schema shipped beside this module."""
    schema = json.loads(resources.files(__package__).joinpath("summary.schema.json").read_text())
    return jsonschema.Draft202012Validator(schema)


def _read_summary(file: Path, role: str) -> dict:
    """summary.json, validated against its schema, with its non-finite values restored as floats.

    NaN and Infinity tokens (written by lockstep before summaries were strict JSON, same
    schema version) are still read as floats."""
    try:
        with open(file, "rb") as f:
            raw = f.read(MAX_SUMMARY_BYTES + 1)
    except OSError as e:
        raise InputError(f"{role} {file}: {e.strerror}") from None
    if len(raw) > MAX_SUMMARY_BYTES:
        raise InputError(f"{role} {file}: larger than {MAX_SUMMARY_BYTES // 2**20} MiB; not a lockstep summary")
    try:
        summary = json.loads(raw.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
        raise InputError(f"{role} {file}: not valid JSON ({_one_line(e)})") from None
    if not isinstance(summary, dict):
        raise InputError(f"{role} {file}: not a JSON object")
    version = summary.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise InputError(f"{role} {file}: no valid schema_version (got {_short(repr(version))})")
    if version > READABLE_SCHEMA:
        raise InputError(f"{role} {file}: schema_version {version} is newer than this lockstep reads "
                         f"({READABLE_SCHEMA}); upgrade lockstep")
    error = jsonschema.exceptions.best_match(summary_validator().iter_errors(summary))
    if error is not None:
        raise InputError(f"{role} {file}: does not match summary.schema.json at {error.json_path}: "
                         f"{_short(_one_line(error.message))}")
    return revive_nonfinite(summary)


def _read_steps(file: Path, role: str) -> pd.DataFrame:
    with open(file, "rb") as f:
        header = f.readline(64 * 1024).decode(errors="replace").rstrip("\r\n").split(",")
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
    try:   # every cell as text first, so that each column is checked with a message of its own
        text = pd.read_csv(file, usecols=USED_COLUMNS, dtype=str, keep_default_na=False, encoding="utf-8")
    except (ValueError, pd.errors.ParserError) as e:   # UnicodeDecodeError is a ValueError
        raise InputError(f"{role} {file}: unreadable ({_short(_one_line(e))})") from None
    text = text.fillna("")     # a short row's missing fields
    return _typed_steps(text, file, role)


def _typed_steps(text: pd.DataFrame, file: Path, role: str) -> pd.DataFrame:
    """The text columns of steps.csv checked, then typed: step and epoch int64; phase, quantity, name
    and metric categories; the values float64; passed boolean. InputError names the first bad cell."""
    def refuse(column: str, bad: pd.Series, expected: str) -> None:
        rows = bad.to_numpy().nonzero()[0]
        if len(rows):
            first = rows[0]
            more = f" ({len(rows) - 1} more rows like it)" if len(rows) > 1 else ""
            raise InputError(f"{role} {file}: row {first + 1} (line {first + 2}): {column} "
                             f"{_short(repr(text[column].iloc[first]), 40)} is not {expected}{more}")

    for column in INTEGER_COLUMNS:
        refuse(column, ~text[column].str.fullmatch(r"[0-9]{1,18}"), "an integer >= 0")
    for column, allowed in CHOSEN.items():
        refuse(column, ~text[column].isin(allowed), f"one of {', '.join(allowed)}")
    numbers = {}
    for column in FLOAT_COLUMNS:
        numbers[column] = pd.to_numeric(text[column].where(text[column] != "", "nan"), errors="coerce")
        unparsed = numbers[column].isna() & ~text[column].str.lower().isin(("", "nan"))
        refuse(column, unparsed, "a number")
    refuse("tolerance", ~(numbers["tolerance"] >= 0) & (text["rule"] != "check"), "a number >= 0 (inf: not gated)")
    frame = pd.DataFrame({
        **{c: text[c].astype("int64") for c in INTEGER_COLUMNS},
        **{c: text[c].astype("category") for c in ("phase", "track", "quantity", "metric", "rule")},
        "name": text["name"].astype("category"),
        **numbers,
        "passed": (text["passed"] == "True").astype("boolean"),
    })[USED_COLUMNS]
    frame["value"] = gated_value(frame)
    return frame


def _short(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__


def gated_value(frame: pd.DataFrame):
    """Each row's gated value (checks.Row.value): the count for counts, the distance to the referee
    for rows the referee decided, the manual-vs-torch difference otherwise."""
    import numpy as np
    referee = (frame["rule"] == "referee").to_numpy()
    count = (frame["metric"] == "count").to_numpy()
    return np.where(count, frame["abs_diff"], np.where(referee, frame["referee_diff"], frame["rel_diff"]))


ROW_KEY = ["step", "phase", "track", "quantity", "name"]


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
    repeated = frame.duplicated(ROW_KEY)
    if repeated.any():      # one row per (step, phase, track, quantity, name): the recorder writes each once
        i = int(np.flatnonzero(repeated.to_numpy())[0])
        row = frame.iloc[i]
        raise InputError(f"{role} {file}: data row {i + 1} repeats step {row['step']} {row['phase']} "
                         f"{row['track']} {row['quantity']} {'' if pd.isna(row['name']) else row['name']}".rstrip()
                         + "; not a record lockstep wrote")
    if summary["status"] == "passed":
        evaluated = set(frame.loc[frame["step"] == last, "phase"].astype(str))
        absent = [split for split in summary["final"] if split not in evaluated]
        if absent:
            raise InputError(f"{role} {file}: truncated: the final evaluation on {', '.join(absent)} is missing")

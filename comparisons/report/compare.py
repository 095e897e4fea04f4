"""``lockstep compare``: has agreement or learning got worse since a known-good run of the same config?

Checks, each against comparisons.report.compare_thresholds:
  gate       the current run fails where the baseline passed
  agreement  per judged quantity (loss, out, dx, grad, update, state, buffer), the worst share of
             its allowance, against the baseline's (drift rows of free mode are not gated, so
             not judged here either)
  final      each split's final loss and accuracy (the worse side)
  curve      the same at every epoch both runs evaluated
Config and library-version differences are listed; runs of different configs are refused
(InputError) unless ``force``.
"""
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from comparisons.config import Config
from comparisons.report.compare_thresholds import CONFIG_FIELDS_LISTED, DEFAULT, Thresholds
from comparisons.errors import InputError, setting
from comparisons.report.sections import percent_of_allowance
from comparisons.record.rundir import RunDir

AGREEMENT_QUANTITIES = ("loss", "out", "dx", "grad", "update", "state", "buffer")


@dataclass(frozen=True)
class Check:
    kind: str          # gate | agreement | final | curve
    subject: str       # what was compared, e.g. "param (drift)", "test loss"
    baseline: str
    current: str
    limit: str         # when it counts as a regression
    regressed: bool


@dataclass(frozen=True)
class Comparison:
    baseline: RunDir
    current: RunDir
    checks: tuple[Check, ...]
    changes: tuple[str, ...]     # config (when forced) and library versions that differ

    @property
    def regressed(self) -> bool:
        return any(c.regressed for c in self.checks)

    @property
    def regressions(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.regressed)


def compare_runs(baseline: RunDir, current: RunDir, *, force: bool = False,
                 thresholds: Thresholds = DEFAULT) -> Comparison:
    """Compare two loaded runs; InputError for an interrupted run or (unless ``force``) other configs."""
    for role, run in (("baseline", baseline), ("current", current)):
        if run.summary["status"] == "interrupted":
            raise InputError(f"{role} {run.path}: interrupted after step {run.summary['steps']}; "
                             "compare needs finished runs")
    refused, listed = config_changes(baseline.summary, current.summary)
    if refused and not force:
        raise InputError(f"runs of different configs ({'; '.join(refused)}); pass {setting('force')} to compare them "
                         "anyway")
    changes = (tuple(f"config {c} (compared anyway: --force)" for c in refused)
               + tuple(f"config {c}" for c in listed) + version_changes(baseline.summary, current.summary))
    checks = (_gate(baseline, current), *_agreement(baseline, current, thresholds),
              *_final(baseline, current, thresholds), *_curves(baseline, current, thresholds))
    return Comparison(baseline, current, checks, changes)


def config_changes(base: dict, cur: dict) -> tuple[list[str], list[str]]:
    """(differences that make the runs incomparable, differences only listed): ``field baseline vs
    current`` per config field, and the data. Listed only: CONFIG_FIELDS_LISTED, and a field this
    lockstep does not know that one run lacks (written by a newer lockstep). A Config field missing
    on either side is unusable input: without it the configs cannot be told apart (the schema
    requires every field; this holds for summaries that did not come through comparisons.rundir)."""
    b, c = base["config"], cur["config"]
    for role, config in (("baseline", b), ("current run", c)):
        missing = [k for k in Config.field_names() if k not in config]
        if missing:
            raise InputError(f"the {role}'s config lacks {', '.join(missing)}; compare needs every config field")
    refused, listed = [], []
    for k in sorted(set(b) | set(c)):
        if k in b and k in c and b[k] != c[k]:
            (listed if k in CONFIG_FIELDS_LISTED else refused).append(f"{k} {b[k]!r} vs {c[k]!r}")
        elif (k in b) != (k in c):
            listed.append(f"{k} only in the {'baseline' if k in b else 'current run'} ({(b if k in b else c)[k]!r})")
    if base["data"] != cur["data"]:
        refused.append(f"data {_data(base['data'])} vs {_data(cur['data'])}")
    return refused, listed


def _data(d: dict) -> str:
    return f"{d.get('name')} ({'/'.join(str(d[k]) for k in ('train', 'valid', 'test') if k in d)})"


def version_changes(base: dict, cur: dict) -> tuple[str, ...]:
    b, c = base["versions"], cur["versions"]
    return tuple(f"version {k}: {b.get(k)} -> {c.get(k)}" for k in sorted(set(b) | set(c)) if b.get(k) != c.get(k))


def _gate(base: RunDir, cur: RunDir) -> Check:
    def state(run):
        failure = run.summary.get("first_failure")
        return run.summary["status"] + (f": {failure['message']}" if failure and failure.get("message") else "")
    return Check("gate", "verdict", state(base), state(cur), "passed must stay passed",
                 base.summary["status"] == "passed" and cur.summary["status"] != "passed")


def _shares(rows: pd.DataFrame) -> np.ndarray:
    """value / tolerance of each row: inf for NaN or any value over a zero tolerance."""
    value, tol = rows["value"].to_numpy(dtype=float), rows["tolerance"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(tol > 0, value / tol, np.where(value > 0, np.inf, 0.0))
    return np.where(np.isnan(value), np.inf, share)


def worst_by_quantity(run: RunDir) -> dict[str, tuple[float, float]]:
    """quantity -> (worst gated value, its share of the allowance) over the run's judged rows."""
    f = run.frame
    frame = f[f["quantity"].isin(AGREEMENT_QUANTITIES) & (f["track"] == "judged")]
    out = {}
    for quantity, rows in frame.groupby("quantity", observed=True):
        share = _shares(rows)
        i = int(np.argmax(share))
        out[str(quantity)] = (float(rows["value"].iloc[i]), float(share[i]))
    return out


def _agreement(base: RunDir, cur: RunDir, t: Thresholds) -> list[Check]:
    b, c = worst_by_quantity(base), worst_by_quantity(cur)
    checks = []
    for quantity in AGREEMENT_QUANTITIES:
        if quantity not in b or quantity not in c:
            continue
        (bv, bs), (cv, cs) = b[quantity], c[quantity]
        worse = math.isnan(cs) or (cs > t.share_floor and cs > t.agreement_factor * bs)
        checks.append(Check("agreement", quantity, f"{bv:.1e} ({percent_of_allowance(bs)} of allowed)",
                            f"{cv:.1e} ({percent_of_allowance(cs)} of allowed)",
                            f"> {t.agreement_factor:g}x the baseline's share and > {100 * t.share_floor:g}% of "
                            f"allowed", worse))
    return checks


def _change(quantity: str, b: float, c: float, t: Thresholds) -> tuple[float, bool]:
    """How much worse ``c`` is than ``b`` (relative rise for loss, points lost for accuracy); regressed?"""
    if not math.isfinite(c):      # non-finite now: worse, unless the baseline was already (a free twin diverged)
        return (0.0, False) if not math.isfinite(b) else (math.inf, True)
    if quantity == "loss":
        rise = (c - b) / abs(b) if b else (math.inf if c > b else 0.0)
        return rise, rise > t.loss_rise
    return b - c, b - c > t.accuracy_drop


def _describe(quantity: str, b: float, c: float, worse: float) -> tuple[str, str]:
    if quantity == "loss":
        return f"{b:.4f}", f"{c:.4f} ({100 * worse:+.1f}%)" if math.isfinite(worse) else f"{c:.4f}"
    return f"{b:.4f}", f"{c:.4f} ({0.0 - 100 * worse:+.2f} points)" if math.isfinite(worse) else f"{c:.4f}"


def _limit(quantity: str, t: Thresholds) -> str:
    points = 100 * t.accuracy_drop
    if quantity == "loss":
        return f"rise > {100 * t.loss_rise:g}%"
    return f"drop > {points:g} point{'' if points == 1 else 's'}"


def _final(base: RunDir, cur: RunDir, t: Thresholds) -> list[Check]:
    checks = []
    for split in [s for s in base.summary["final"] if s in cur.summary["final"]]:
        entries = [run.summary["final"][split][side] for run in (base, cur) for side in ("manual", "torch")]
        # accuracy only where every side has one (a regression run has none; the schema makes it optional)
        for quantity in [q for q in ("loss", "accuracy") if all(q in e for e in entries)]:
            options = []
            for side in ("manual", "torch"):
                b = float(base.summary["final"][split][side][quantity])   # non-finite: revived by load_run
                c = float(cur.summary["final"][split][side][quantity])
                options.append((_change(quantity, b, c, t), side, b, c))
            (worse, regressed), side, b, c = max(options, key=lambda o: o[0][0])
            shown_b, shown_c = _describe(quantity, b, c, worse)
            checks.append(Check("final", f"{split} {quantity} ({side})", shown_b, shown_c, _limit(quantity, t),
                                regressed))
    return checks


def _evaluations(run: RunDir) -> pd.DataFrame:
    """Per epoch-end evaluation: loss and accuracy (a fraction) of the manual side and of torch
    (in free mode the drift twin, torch's own trajectory; in synced mode the same parameters)."""
    f = run.frame
    rows = f[(f["phase"] != "step") & (f["epoch"] >= 1)]
    free = run.summary["config"].get("mode") == "free"
    sizes = rows[rows["quantity"] == "disagreements"].groupby(["epoch", "phase", "track"], observed=True)[
        "reference"].first().sort_index()

    def missing(what: str, epoch, phase):
        return InputError(f"{run.steps_csv}: epoch {epoch} > {phase} has no {what} row; the record is incomplete")

    def size(epoch, phase, track) -> float:
        n = sizes.get((epoch, phase, track))
        if n is None or not float(n) > 0:
            raise missing(f"{track} disagreements (the split's size)", epoch, phase)
        return float(n)

    out = []
    for (epoch, phase, quantity), group in rows[rows["quantity"].isin(("loss", "accuracy"))].groupby(
            ["epoch", "phase", "quantity"], observed=True):
        judged = group[group["track"] == "judged"]
        torch_rows = group[group["track"] == ("drift" if free else "judged")]
        if judged.empty or torch_rows.empty:
            raise missing(f"{'judged' if judged.empty else 'drift'} {quantity}", epoch, phase)
        judged, torch_row = judged.iloc[0], torch_rows.iloc[0]
        m, r = float(judged["manual"]), float(torch_row["reference"])
        if quantity == "accuracy":     # counts of correct predictions -> fractions
            m /= size(epoch, phase, "judged")
            r /= size(epoch, phase, torch_row["track"])
        out.append((int(epoch), str(phase), str(quantity), m, r))
    return pd.DataFrame(out, columns=["epoch", "phase", "quantity", "manual", "reference"])


def _curves(base: RunDir, cur: RunDir, t: Thresholds) -> list[Check]:
    joined = _evaluations(base).merge(_evaluations(cur), on=["epoch", "phase", "quantity"], suffixes=("_b", "_c"))
    checks = []
    for (split, quantity), rows in joined.groupby(["phase", "quantity"], sort=False):
        worst = None
        for column, side in (("manual", "manual"), ("reference", "torch")):
            for epoch, b, c in zip(rows["epoch"], rows[f"{column}_b"], rows[f"{column}_c"]):
                (change, regressed) = _change(quantity, float(b), float(c), t)
                if worst is None or change > worst[0]:
                    worst = (change, regressed, side, int(epoch), float(b), float(c))
        change, regressed, side, epoch, b, c = worst
        shown_b, shown_c = _describe(quantity, b, c, change)
        checks.append(Check("curve", f"{split} {quantity} ({side}, worst at epoch {epoch} of "
                                     f"{rows['epoch'].nunique()} compared)", shown_b, shown_c, _limit(quantity, t),
                            regressed))
    return checks

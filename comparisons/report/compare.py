"""``lockstep compare``: has agreement or learning got worse since a known-good run of the same config?

Checks, each against comparisons.report.compare_thresholds:
  gate       the current run fails where the baseline passed
  agreement  per quantity (loss, grad, param, momentum), the worst manual-vs-torch difference
             of single-step rows and of drift rows, against the baseline's
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
from comparisons.errors import InputError
from comparisons.report.sections import percent_of_allowance
from comparisons.record.rundir import RunDir

AGREEMENT_QUANTITIES = ("loss", "grad", "param", "momentum")
KINDS = {"single": "single step", "drift": "drift"}
SIDES = {"manual": "manual", "reference": "torch"}


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
        raise InputError(f"runs of different configs ({'; '.join(refused)}); pass --force to compare them anyway")
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
    """value / tolerance of each row: 0 when not gated (inf), inf for NaN or any value over a zero tolerance."""
    value, tol = rows["rel_diff"].to_numpy(dtype=float), rows["tolerance"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(np.isinf(tol), 0.0, np.where(tol > 0, value / tol, np.where(value > 0, np.inf, 0.0)))
    return np.where(np.isnan(value), np.inf, share)


def worst_by_kind(run: RunDir) -> dict[tuple[str, str], tuple[float, float, bool]]:
    """(quantity, kind) -> (worst value, its share of the allowance, gated at all) over the run's rows.

    Single-step rows: every row of a synced run, rows at step <= 1 of a free run (both sides
    start from one state); drift rows: the rest of a free run.
    """
    frame = run.frame[run.frame["quantity"].isin(AGREEMENT_QUANTITIES)]
    synced = run.summary["config"].get("mode") == "synced"
    single = np.ones(len(frame), bool) if synced else (frame["step"] <= 1).to_numpy()
    out = {}
    for kind, mask in (("single", single), ("drift", ~single)):
        for quantity, rows in frame[mask].groupby("quantity", observed=True):
            share = _shares(rows)
            i = int(np.argmax(share))
            out[(str(quantity), kind)] = (float(rows["rel_diff"].iloc[i]), float(share[i]),
                                          bool(np.isfinite(rows["tolerance"]).any()))
    return out


def _agreement(base: RunDir, cur: RunDir, t: Thresholds) -> list[Check]:
    b, c = worst_by_kind(base), worst_by_kind(cur)
    checks = []
    for quantity in AGREEMENT_QUANTITIES:
        for kind, label in KINDS.items():
            if (quantity, kind) not in b or (quantity, kind) not in c:
                continue
            (bv, bs, bg), (cv, cs, cg) = b[(quantity, kind)], c[(quantity, kind)]
            if not (bg or cg):
                continue    # recorded but never gated (float32 free grad/momentum drift): no allowance to judge by
            floor = t.single_step_floor if kind == "single" else t.drift_floor
            worse = math.isnan(cv) or (cs > floor and cv > t.agreement_factor * bv)
            checks.append(Check("agreement", f"{quantity} ({label})", f"{bv:.1e} ({percent_of_allowance(bs)} of allowed)",
                                f"{cv:.1e} ({percent_of_allowance(cs)} of allowed)",
                                f"> {t.agreement_factor:g}x baseline and > {100 * floor:g}% of allowed", worse))
    return checks


def _change(quantity: str, b: float, c: float, t: Thresholds) -> tuple[float, bool]:
    """How much worse ``c`` is than ``b`` (relative rise for loss, points lost for accuracy); regressed?"""
    if not math.isfinite(c):
        return math.inf, True
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
        for quantity in ("loss", "accuracy"):
            options = []
            for side in ("manual", "torch"):
                b = float(base.summary["final"][split][side][quantity])
                c = float(cur.summary["final"][split][side][quantity])
                options.append((_change(quantity, b, c, t), side, b, c))
            (worse, regressed), side, b, c = max(options, key=lambda o: o[0][0])
            shown_b, shown_c = _describe(quantity, b, c, worse)
            checks.append(Check("final", f"{split} {quantity} ({side})", shown_b, shown_c, _limit(quantity, t),
                                regressed))
    return checks


def _evaluations(run: RunDir) -> pd.DataFrame:
    f = run.frame
    rows = f[(f["phase"] != "step") & (f["epoch"] >= 1) & f["quantity"].isin(("loss", "accuracy"))]
    return rows[["epoch", "phase", "quantity", "manual", "reference"]].astype({"phase": str, "quantity": str})


def _curves(base: RunDir, cur: RunDir, t: Thresholds) -> list[Check]:
    joined = _evaluations(base).merge(_evaluations(cur), on=["epoch", "phase", "quantity"], suffixes=("_b", "_c"))
    checks = []
    for (split, quantity), rows in joined.groupby(["phase", "quantity"], sort=False):
        worst = None
        for column, side in SIDES.items():
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

"""What the report says about one run, as Tables: verdict, worst differences, final metrics, setup."""
import json
import math

from comparisons.errors import setting, spoken
from comparisons.report.tables import Table

QUANTITY_ORDER = ("init", "out", "loss", "accuracy", "disagreements", "dx", "grad", "update", "state", "buffer")


def verdict(summary: dict) -> str:
    """One line: PASSED, FAILED with the first failure, or INTERRUPTED."""
    if summary["status"] == "passed":
        return "PASSED: every check within tolerance"
    if summary["status"] == "interrupted":
        return f"INTERRUPTED after step {summary['steps']}: the record so far, not a verdict"
    message = (summary.get("first_failure") or {}).get("message", "")
    return f"FAILED: {message}" if message else "FAILED"


def cause(summary: dict) -> str:
    """The diagnosis's first finding (the first place the manual side's own values stop explaining its
    result, named when a relation or a known slip reproduces it), or "" when there is none."""
    value = summary.get("diagnosis")
    findings = value.get("findings") if isinstance(value, dict) else None
    if summary["status"] != "failed" or not findings:
        return ""
    return f"Cause: {findings[0] if isinstance(findings, list) else findings}"


def next_steps(summary: dict) -> str:
    """What to do next, from the run's status and config; in the words of whoever renders it (the command
    line's flags and commands inside errors.cli_words(), the Python API's calls and arguments outside)."""
    config = summary.get("config") or {}
    manual = config.get("manual", "builtin")
    if summary["status"] == "passed":
        return ("Next: nothing to fix. Keep this run as a baseline and gate later versions with "
                "`lockstep compare BASELINE_DIR NEW_DIR`" + spoken("", " (in a terminal)") + ".")
    if summary["status"] == "interrupted":
        return "Next: run it again to the end; this record is not a verdict."
    steps = []
    model = config.get("model") or ""
    mlp = all(t.split(":")[0].strip().lower() in ("linear", "relu") for t in model.split(",")) if model else True
    if manual != "builtin" and mlp:        # audit checks MLP classes (linear and relu layers) only
        call = spoken(f"lockstep audit --manual {manual}", f"comparisons.audit(manual={manual!r})")
        steps.append(f"run `{call}` to check each derivation against autograd and finite differences on edge cases")
    if config.get("dtype") != "float64" or config.get("mode") != "synced":
        again = spoken("re-run with", "run it again with")
        steps.append(f"{again} `{setting('dtype', 'float64')}{spoken(' ', ', ')}{setting('mode', 'synced')}`: "
                     "each step judged from one state, with rounding out of the way")
    steps.append("fix the stage the cause names, then run again")
    return "Next: " + "; ".join(steps) + "."


def head(summary: dict) -> list[tuple[str, str, bool]]:
    """What a report leads with, in order: (kind, text, emphasised) for the verdict, the cause when there
    is one, and the next step."""
    found = cause(summary)
    return [("verdict", verdict(summary), True), *([("cause", found, True)] if found else []),
            ("next", next_steps(summary), False)]


KNOWN_DIAGNOSIS_KEYS = ("where", "first_divergence", "findings", "kink_flips")


def diagnosis(summary: dict) -> list[str]:
    """The run's ``diagnosis`` (or its first failure's) as lines. Written by comparisons.explain.diagnosis
    as {where, first_divergence, findings, kink_flips}; a string or a list of strings also reads."""
    value = summary.get("diagnosis") or (summary.get("first_failure") or {}).get("diagnosis")
    if not value:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v if isinstance(v, str) else json.dumps(v) for v in value]
    if not isinstance(value, dict):
        return [json.dumps(value)]
    lines = []
    if value.get("where") or value.get("first_divergence"):
        lines.append(f"{value.get('where') or 'the run'}: first divergence at "
                     f"{value.get('first_divergence') or 'none found'}")
    findings = value.get("findings") or []
    lines += [findings] if isinstance(findings, str) else [str(f) for f in findings]
    if value.get("kink_flips") is not None:
        lines.append(f"branch points where the referee followed the manual side (within rounding): {value['kink_flips']}")
    lines += [f"{k}: {json.dumps(v)}" for k, v in value.items() if k not in KNOWN_DIAGNOSIS_KEYS]
    return lines


def place(entry: dict) -> str:
    """Where a worst value or a failure was found: ``step 12 > hidden.weight`` or ``valid after step 60``."""
    phase = entry.get("phase")
    text = f"step {entry['step']}" if phase == "step" else f"{phase} after step {entry['step']}"
    return text + (f" > {entry['name']}" if entry.get("name") else "") + _yours(entry)


def _yours(entry: dict) -> str:
    """`` (your W1)``: a --manual class's own name for the entry's array, where the run recorded it."""
    return f" (your {entry['yours']})" if entry.get("yours") else ""


def failure_place(failure: dict) -> str:
    """``step 1 > grad > hidden.weight``, ``valid after step 60 > loss``."""
    return (place({**failure, "name": "", "yours": ""}) + f" > {failure.get('quantity', '')}"
            + (f" > {failure['name']}" if failure.get("name") else "") + _yours(failure))


def format_value(value, metric: str, samples=None) -> str:
    if value is None:
        return "-"
    if metric == "count":
        return f"{value:.0f}/{samples:.0f}" if samples else f"{value:.0f}"
    return f"{value:.1e}"


def share(value, tolerance) -> str:
    """The share of its allowance a value uses: what the gate looks at."""
    if value is None or tolerance is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if math.isinf(tolerance):
        return "not gated"
    return percent_of_allowance(value / tolerance if tolerance else (math.inf if value else 0.0))


def percent_of_allowance(used: float) -> str:
    """``used`` (value / tolerance) as text: 40%, 12x, > 1e6x (a slip's size is no more precise than
    that), or over (nothing was allowed)."""
    if math.isinf(used):
        return "over"
    return "> 1e6x" if used > 1e6 else f"{used:.0f}x" if used >= 10 else f"{100 * used:.2g}%"


def overview(summary: dict) -> Table:
    rows = [("verdict", verdict(summary)), ("steps", str(summary["steps"]))]
    failure = summary.get("first_failure")
    if failure:
        rows.append(("first failure", failure_place(failure)))
    if summary.get("stopped"):            # why it ended early: an interruption, a NaN, a crash, a full disk
        rows.append(("stopped", str(summary["stopped"])))
    rows += [("diagnosis" if i == 0 else "", line) for i, line in enumerate(diagnosis(summary))]
    seconds = summary.get("seconds") or {}
    if seconds:
        rows.append(("time", ", ".join(f"{k} {v:.1f} s" for k, v in seconds.items())))
    return Table("Summary", ("", ""), tuple(rows))


def worst_table(summary: dict) -> Table:
    worst = summary["worst"]
    order = [q for q in QUANTITY_ORDER if q in worst] + [q for q in worst if q not in QUANTITY_ORDER]
    rows = []
    for q in order:
        w = worst[q]
        metric = w.get("metric", "")
        allowed = w.get("tolerance")
        rows.append((q, format_value(w.get("value"), metric, w.get("samples")),
                     "inf" if allowed is not None and math.isinf(allowed) else format_value(allowed, metric),
                     share(w.get("value"), allowed), metric, place(w)))
    return Table("Worst difference per quantity", ("quantity", "worst", "allowed", "of allowance", "metric", "where"),
                 tuple(rows))


def final_table(summary: dict) -> Table:
    rows = []
    for split, sides in summary["final"].items():
        m, t = sides.get("manual", {}), sides.get("torch", {})
        rows.append((split, f"{m.get('loss', math.nan):.6f}", f"{t.get('loss', math.nan):.6f}",
                     f"{m.get('accuracy', math.nan):.4f}", f"{t.get('accuracy', math.nan):.4f}"))
    return Table("Final evaluation", ("split", "manual loss", "torch loss", "manual acc", "torch acc"), tuple(rows))


def setup_table(summary: dict) -> Table:
    def joined(d: dict) -> str:
        return ", ".join(f"{k}={json.dumps(v) if isinstance(v, (dict, list)) else v}" for k, v in d.items())
    return Table("Setup", ("", ""), (("config", joined(summary["config"])), ("data", joined(summary["data"])),
                                     ("versions", joined(summary["versions"]))))


def tables(summary: dict) -> list[Table]:
    return [overview(summary), worst_table(summary), final_table(summary), setup_table(summary)]

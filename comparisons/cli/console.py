"""The table a run prints at its end: both sides' final metrics, worst differences, verdict."""
from comparisons.record.recorder import STEPS, SUMMARY
from comparisons.report.sections import format_value, place


def print_outcome(result) -> None:
    """``result``: a comparisons.lockstep.RunResult."""
    s = result.summary
    lines = ["", f"{'split':<8}{'manual loss':>13}{'torch loss':>13}{'manual acc':>12}{'torch acc':>11}"]
    for split, sides in s["final"].items():
        m, t = sides["manual"], sides["torch"]
        lines.append(f"{split:<8}{m['loss']:>13.6f}{t['loss']:>13.6f}{m['accuracy']:>12.4f}{t['accuracy']:>11.4f}")
    lines += ["", f"{'quantity':<15}{'worst':>10}{'allowed':>10}  metric   where"]
    for quantity, w in s["worst"].items():   # disagreements (metric "count"): samples, out of how many
        value = format_value(w["value"], w["metric"], w["samples"])
        allowed = format_value(w["tolerance"], w["metric"])
        lines.append(f"{quantity:<15}{value:>10}{allowed:>10}  {w['metric']:<8} {place(w)}")
    sec = s["seconds"]
    lines += ["", f"time: manual {sec['manual']:.1f} s, torch {sec['torch']:.1f} s, "
                  f"compare+record {sec['compare']:.1f} s over {s['steps']} steps"]
    verdict = {"passed": "PASSED: every check within tolerance",
               "failed": "FAILED: " + (result.first_failure or {}).get("message", ""),
               "interrupted": "INTERRUPTED: the record so far is complete and valid"}[result.status]
    lines.append(verdict)
    if s.get("stopped") and s["stopped"] != (result.first_failure or {}).get("message"):
        lines.append(f"STOPPED: {s['stopped']}")
    if s.get("diagnosis"):
        from comparisons.explain.diagnosis import diagnosis_text
        lines.append(diagnosis_text(s["diagnosis"]))
    if result.out is not None:
        lines.append(f"record: {result.out / STEPS}  {result.out / SUMMARY}")
    print("\n".join(lines))

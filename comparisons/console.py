"""The table a run prints at its end: both sides' final metrics, worst differences, verdict."""

def print_outcome(result) -> None:
    """``result``: a comparisons.lockstep.RunResult."""
    s = result.summary
    lines = ["", f"{'split':<8}{'manual loss':>13}{'torch loss':>13}{'manual acc':>12}{'torch acc':>11}"]
    for split, sides in s["final"].items():
        m, t = sides["manual"], sides["torch"]
        lines.append(f"{split:<8}{m['loss']:>13.6f}{t['loss']:>13.6f}{m['accuracy']:>12.4f}{t['accuracy']:>11.4f}")
    lines += ["", f"{'quantity':<15}{'worst':>10}{'allowed':>10}  metric   where"]
    for quantity, w in s["worst"].items():
        place = f"step {w['step']}" if w["phase"] == "step" else f"{w['phase']} after step {w['step']}"
        if w["name"]:
            place += f" > {w['name']}"
        if w["metric"] == "count":    # disagreements: samples, out of how many
            value, allowed = f"{w['value']:.0f}/{w['samples']:.0f}", f"{w['tolerance']:.0f}"
        else:
            value, allowed = f"{w['value']:.1e}", f"{w['tolerance']:.1e}"
        lines.append(f"{quantity:<15}{value:>10}{allowed:>10}  {w['metric']:<8} {place}")
    sec = s["seconds"]
    lines += ["", f"time: manual {sec['manual']:.1f} s, torch {sec['torch']:.1f} s, "
                  f"compare+record {sec['compare']:.1f} s over {s['steps']} steps"]
    verdict = {"passed": "PASSED: every check within tolerance",
               "failed": "FAILED: " + (result.first_failure or {}).get("message", ""),
               "interrupted": "INTERRUPTED: the record so far is complete and valid"}[result.status]
    lines.append(verdict)
    if s.get("stopped"):
        lines.append(f"STOPPED: {s['stopped']}")
    if s.get("diagnosis"):
        from comparisons.diagnosis import diagnosis_text
        lines.append(diagnosis_text(s["diagnosis"]))
    if result.out is not None:
        lines.append(f"record: {result.out / 'steps.csv'}  {result.out / 'summary.json'}")
    print("\n".join(lines))

"""A Comparison as Markdown: the verdict first, then what regressed, what changed, every check."""
from comparisons.report.compare import Comparison
from comparisons.report.tables import Table, to_markdown

HEADER = ("check", "what", "baseline", "current", "regression when")


def _row(check) -> tuple[str, ...]:
    return (check.kind, check.subject, check.baseline, check.current, check.limit)


def _run_line(role: str, run) -> str:
    s = run.summary
    return f"- {role}: `{run.path}` ({s['status']}, {s['steps']} steps)"


def render(comparison: Comparison) -> str:
    regressions = comparison.regressions
    n = len(regressions)
    title = (f"REGRESSION: {n} check{'s' if n > 1 else ''} worse than the baseline" if n
             else "no regression: every check within its threshold")
    parts = [f"# lockstep compare: {title}\n",
             "\n".join([_run_line("baseline", comparison.baseline), _run_line("current", comparison.current)]) + "\n"]
    if regressions:
        parts.append(to_markdown(Table("Regressions", HEADER, tuple(_row(c) for c in regressions))))
    if comparison.changes:
        parts.append("## Changed between the runs\n\n" + "\n".join(f"- {c}" for c in comparison.changes) + "\n")
    rows = tuple((*_row(c), "REGRESSED" if c.regressed else "ok") for c in comparison.checks)
    parts.append(to_markdown(Table("All checks", (*HEADER, "verdict"), rows)))
    return "\n".join(parts)

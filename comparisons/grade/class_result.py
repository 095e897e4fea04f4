"""A graded class from Python: ``load(DIR)`` reads what ``lockstep grade ... --out DIR`` wrote into a
ClassResult, which shows itself in one line (``repr``) and, in a notebook, as the class report's tables
(comparisons.grade.report: verdicts per check, pass rate per derivation, the most common diagnoses and
errors, one row per submission)."""
from dataclasses import dataclass
from pathlib import Path

from comparisons.errors import InputError
from comparisons.grade import report, results


@dataclass(frozen=True)
class ClassResult:
    results: tuple[dict, ...]      # each submission's result.json, sorted by name (as grade orders them)
    out: Path

    @property
    def passed(self) -> int:
        """How many submissions passed every check."""
        return sum(r["verdict"] == "passed" for r in self.results)

    def pass_rate(self) -> str:
        """``10/24 (42%)``."""
        return report.rate(self.passed, len(self.results))

    def __repr__(self) -> str:
        return (f"ClassResult({len(self.results)} submissions, passed {self.pass_rate()}: "
                f"{report.headline(list(self.results))}, out={str(self.out)!r})")

    def _repr_html_(self) -> str:
        import html

        from comparisons.report.tables import to_html
        tables = "".join(to_html(t, level=4) for t in report.class_tables(list(self.results)))
        return (f"<div><p><strong>{len(self.results)} submissions, passed every check: "
                f"{html.escape(self.pass_rate())}</strong> ({html.escape(report.headline(list(self.results)))})</p>"
                f"{tables}<p>report: <code>{html.escape(str(self.out / report.HTML))}</code></p></div>")


def load(out: str | Path) -> ClassResult:
    """The class graded into ``out``; InputError if ``out`` is not a grade's output folder or holds no
    submission's result yet."""
    out = Path(out)
    if not (out / results.MARKER).is_file():
        raise InputError(f"{out}: not a grade's output folder (it has no {results.MARKER})")
    graded = out / results.SUBMISSIONS
    folders = [d for d in graded.iterdir() if d.is_dir()] if graded.is_dir() else []
    found = [r for d in folders if (r := results.load(d)) is not None]
    if not found:
        raise InputError(f"{out}: no submission has been graded into it yet")
    return ClassResult(tuple(sorted(found, key=lambda r: r["name"])), out)

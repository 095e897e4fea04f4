"""pytest plugin (entry point ``pytest11: lockstep``): gate a test suite on lockstep agreement.

    from comparisons.pytest_plugin import assert_lockstep

    def test_backprop_matches_torch(lockstep_run):
        assert_lockstep(lockstep_run(dtype="float64", mode="synced", epochs=1))

Loading the plugin imports nothing heavy: torch, pandas and matplotlib load when a run
or a report is made.
"""
import itertools
from pathlib import Path

import pytest

__all__ = ["assert_lockstep", "lockstep_run"]


def _failure_message(summary: dict, out: Path | None, report: Path | None, report_error: str | None) -> str:
    failure = summary.get("first_failure") or {}
    if summary.get("status") == "interrupted":    # it stopped before it could prove anything either way
        lines = [f"Lockstep run interrupted after step {summary.get('steps')}: the sides were not compared "
                 "to the end.", "", summary.get("stopped") or "interrupted"]
        if failure:
            lines.append(f"before that, a check failed: {failure.get('message')}")
    else:
        lines = ["Lockstep sides are not close!", "", failure.get("message") or f"status {summary.get('status')}"]
    from comparisons.record.recorder import STEPS, SUMMARY
    from comparisons.report.sections import diagnosis
    found = diagnosis(summary)
    if found:
        lines += ["", "Diagnosis:"] + [f"  {line}" for line in found]
    if out is not None:
        lines += ["", f"Run directory: {out}", f"  record: {out / STEPS}", f"  summary: {out / SUMMARY}"]
        if report is not None:
            lines.append(f"  report: {report}")
        elif report_error:
            lines.append(f"  report: not written ({report_error})")
    return "\n".join(lines)


def assert_lockstep(result, *, report: bool = True) -> None:
    """Raise AssertionError unless the lockstep run passed.

    ``result``: a RunResult (from ``lockstep_run`` or ``comparisons.run``) or a run directory.
    On failure the message gives the first failure as lockstep prints it and, for a run
    written to disk, the directory with its CSV and (``report``) a freshly written HTML report.
    """
    __tracebackhide__ = True
    if isinstance(result, (str, Path)):
        from comparisons.record.rundir import load_run
        run = load_run(result)
        summary, out = run.summary, run.path
    else:
        summary, out = result.summary, result.out
    if summary.get("status") == "passed":
        return
    html, error = None, None
    if report and out is not None:
        from comparisons.errors import InputError
        from comparisons.report.write import write_report
        try:
            html = write_report(out).html
        except InputError as e:
            error = str(e)
    raise AssertionError(_failure_message(summary, out, html, error))


def _fields(fields: dict, here: Path) -> dict:
    """The fixture's keyword arguments as Config values, taking what the CLI takes: ``hidden=64`` or
    ``hidden=[64, 32]``, ``tol={"grad": 1e-3}``, and ``manual="adapter.py:Adapter"`` relative to the test
    file's folder (where a course keeps its adapter) when the file is there."""
    from dataclasses import fields as config_fields

    from comparisons import Config
    known = {f.name for f in config_fields(Config)}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise TypeError(f"lockstep_run: unknown field {unknown[0]!r}; the fields are {', '.join(sorted(known))}")
    out = dict(fields)
    if isinstance(out.get("hidden"), int):
        out["hidden"] = (out["hidden"],)
    elif isinstance(out.get("hidden"), list):
        out["hidden"] = tuple(out["hidden"])
    if isinstance(out.get("tol"), dict):
        out["tol"] = tuple(out["tol"].items())
    manual = out.get("manual")
    if isinstance(manual, str) and ".py:" in manual:
        path, _, cls = manual.rpartition(":")
        if not Path(path).is_absolute() and (here / path).is_file():
            out["manual"] = f"{(here / path).resolve()}:{cls}"
    return out


@pytest.fixture
def lockstep_run(tmp_path, request):
    """Call it to run lockstep: ``lockstep_run(config=None, *, data=None, manual_loss=None, **fields)``.

    ``fields`` override the config's (``epochs=1``, ``dtype="float64"``, ``hidden=64``...), with the
    values the CLI takes; a ``manual="adapter.py:Adapter"`` path is found beside the test file first.
    Each call writes a new run directory under the test's ``tmp_path`` (``lockstep-1``, ``lockstep-2``,
    ...) and returns the RunResult; failing checks do not raise, pass it to ``assert_lockstep``.
    """
    counter = itertools.count(1)
    here = Path(str(request.fspath)).parent

    def run(config=None, *, data=None, manual_loss=None, **fields):
        from dataclasses import replace

        from comparisons import Config
        from comparisons import run as lockstep
        config = replace(config if config is not None else Config(), **_fields(fields, here))
        return lockstep(config, data, out=tmp_path / f"lockstep-{next(counter)}", manual_loss=manual_loss)

    return run

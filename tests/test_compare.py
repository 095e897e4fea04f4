"""lockstep compare: no regression against itself; a worse manual side or fewer epochs regress (exit 1)."""
import copy
import dataclasses
import json

import pytest

from comparisons.cli.main import main
from comparisons.report.compare import compare_runs
from comparisons.report.compare_thresholds import DEFAULT
from comparisons.record.recorder import revive_nonfinite
from comparisons.record.rundir import load_run
from tiny_runs import ForgetsOneOverN, make_run


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("compare")
    make_run(root / "base")
    make_run(root / "again")
    make_run(root / "worse", manual_loss=ForgetsOneOverN())
    make_run(root / "fewer", epochs=1)
    return root


def _compare(capsys, *argv):
    code = main(["compare", *map(str, argv)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("current", ["base", "again"], ids=["itself", "identical-rerun"])
def test_same_run_is_no_regression(runs, capsys, current):
    code, out, err = _compare(capsys, runs / "base", runs / current)
    assert (code, err) == (0, "")
    assert out.startswith("# lockstep compare: no regression: every check within its threshold\n")
    assert "REGRESSED" not in out and "## Changed between the runs" not in out
    rows = out.split("## All checks")[1].strip().splitlines()[2:]
    assert len(rows) == 19 and all(row.endswith("| ok |") for row in rows)   # gate, 6 agreement, 6 final, 6 curve


def test_worse_manual_side_regresses(runs, capsys):
    code, out, _ = _compare(capsys, runs / "base", runs / "worse")
    assert code == 1
    assert out.startswith("# lockstep compare: REGRESSION: ")
    regressions = out.split("## Regressions")[1].split("## All checks")[0]
    assert "| gate | verdict | passed | failed: step 1 > dx > loss: rel_l2 9.9e+01" in regressions
    assert "| agreement | grad |" in regressions
    assert "| final | test accuracy" in regressions


def test_fewer_epochs_is_refused_unless_forced_then_regresses(runs, capsys):
    code, out, err = _compare(capsys, runs / "base", runs / "fewer")
    assert (code, out) == (2, "")
    assert err == "lockstep: error: runs of different configs (epochs 3 vs 1); pass --force to compare them anyway\n"
    code, out, _ = _compare(capsys, runs / "base", runs / "fewer", "--force")
    assert code == 1
    assert "- config epochs 3 vs 1 (compared anyway: --force)" in out
    assert "| final | test accuracy (manual) | 0.2500 | 0.1100 (-14.00 points) | drop > 1 point | REGRESSED |" in out


def test_interrupted_run_is_unusable(runs, tmp_path, capsys):
    import shutil
    cut = tmp_path / "cut"
    shutil.copytree(runs / "base", cut)
    summary = json.loads((cut / "summary.json").read_text())
    (cut / "summary.json").write_text(json.dumps({**summary, "status": "interrupted", "passed": False}))
    code, out, err = _compare(capsys, runs / "base", cut)
    assert (code, out) == (2, "")
    assert err == f"lockstep: error: current {cut}: interrupted after step 9; compare needs finished runs\n"


def _with_share(run, quantity, share):
    """The run with ``quantity``'s worst row at ``share`` of its allowance."""
    frame = run.frame.copy()
    rows = (frame["quantity"] == quantity) & (frame["track"] == "judged") & (frame["step"] == 2)
    frame.loc[rows, "value"] = share * frame.loc[rows, "tolerance"]
    return dataclasses.replace(run, frame=frame)


@pytest.mark.parametrize("quantity,share,regressed", [
    # the baseline's worst grad uses 9.2% of its allowance, its worst update 63%
    pytest.param("grad", 0.45, False, id="5x-the-baseline-under-half-the-allowance"),
    pytest.param("grad", 0.95, True, id="10x-the-baseline-past-half-the-allowance"),
    pytest.param("update", 0.9, False, id="past-half-but-not-10x-the-baseline"),
])
def test_agreement_regresses_past_both_factor_and_floor(runs, quantity, share, regressed):
    base = load_run(runs / "base")
    comparison = compare_runs(base, _with_share(base, quantity, share))
    [check] = [c for c in comparison.checks if c.subject == quantity]
    assert check.regressed is regressed and comparison.regressed is regressed


def _with_final(run, split, quantity, change):
    summary = copy.deepcopy(run.summary)
    summary["final"][split]["manual"][quantity] = change(summary["final"][split]["manual"][quantity])
    return dataclasses.replace(run, summary=summary)


@pytest.mark.parametrize("quantity,change,regressed", [
    pytest.param("accuracy", lambda a: a - 0.005, False, id="accuracy-half-a-point-lower"),
    pytest.param("accuracy", lambda a: a - 0.02, True, id="accuracy-two-points-lower"),
    pytest.param("accuracy", lambda a: a + 0.05, False, id="accuracy-higher"),
    pytest.param("loss", lambda v: v * 1.05, False, id="loss-5pct-higher"),
    pytest.param("loss", lambda v: v * 1.15, True, id="loss-15pct-higher"),
    pytest.param("loss", lambda v: float("nan"), True, id="loss-nan"),
])
def test_final_metrics_regress_beyond_their_thresholds(runs, quantity, change, regressed):
    base = load_run(runs / "base")
    comparison = compare_runs(base, _with_final(base, "test", quantity, change))
    [check] = [c for c in comparison.checks if c.kind == "final" and c.subject.startswith(f"test {quantity}")]
    assert check.regressed is regressed


def test_a_value_non_finite_in_both_runs_is_no_change(runs):
    """A free twin that diverged in the baseline and again now (NaN both times) is not a regression."""
    base = load_run(runs / "base")
    nan_base = _with_final(base, "test", "loss", lambda v: float("nan"))
    comparison = compare_runs(nan_base, _with_final(base, "test", "loss", lambda v: float("nan")))
    [check] = [c for c in comparison.checks if c.kind == "final" and c.subject.startswith("test loss")]
    assert not check.regressed


def test_curve_deviation_mid_run_regresses(runs):
    base = load_run(runs / "base")
    frame = base.frame.copy()
    rows = (frame["quantity"] == "loss") & (frame["phase"] == "valid") & (frame["epoch"] == 1)
    frame.loc[rows, "manual"] *= 1 + 2 * DEFAULT.loss_rise
    comparison = compare_runs(base, dataclasses.replace(base, frame=frame))
    [check] = comparison.regressions
    assert (check.kind, check.subject) == ("curve", "valid loss (manual, worst at epoch 1 of 3 compared)")


def test_library_versions_are_listed_not_judged(runs):
    base = load_run(runs / "base")
    summary = copy.deepcopy(base.summary)
    summary["versions"]["torch"] = "9.9.9"
    comparison = compare_runs(base, dataclasses.replace(base, summary=summary))
    assert not comparison.regressed
    assert f"version torch: {base.summary['versions']['torch']} -> 9.9.9" in comparison.changes


def test_implementation_under_test_may_differ(runs):
    base = load_run(runs / "base")
    summary = copy.deepcopy(base.summary)
    summary["config"]["manual"] = "student.py:MLP"
    comparison = compare_runs(base, dataclasses.replace(base, summary=summary))
    assert any(c.startswith("config manual ") and "student.py:MLP" in c for c in comparison.changes)


def _final_entries(run, edit):
    summary = copy.deepcopy(run.summary)
    for split in summary["final"].values():
        for entry in split.values():
            edit(entry)
    return dataclasses.replace(run, summary=summary)


def test_final_metrics_a_run_does_not_have_are_not_compared(runs):
    """No accuracy (a regression run's summary; or one side's missing): the loss alone is compared. It was a
    KeyError traceback (found by the slow property run on a mutated summary.json)."""
    base = load_run(runs / "base")
    no_accuracy = _final_entries(base, lambda e: e.pop("accuracy", None))
    for pair in ((no_accuracy, no_accuracy), (base, no_accuracy)):
        finals = [c.subject for c in compare_runs(*pair).checks if c.kind == "final"]
        assert finals and all(" loss " in f"{s} " for s in finals), finals


def test_a_loss_stored_as_null_is_read_as_its_non_finite_kind(runs):
    """summary.json keeps a non-finite loss as null with loss_nonfinite beside it, and the reader revives it
    (revive_nonfinite, as load_run does): inf now is a regression."""
    base = load_run(runs / "base")
    stored = _final_entries(base, lambda e: e.update(loss=None, loss_nonfinite="inf"))
    inf_now = dataclasses.replace(stored, summary=revive_nonfinite(stored.summary))
    [check] = [c for c in compare_runs(base, inf_now).checks if c.subject == "test loss (manual)"]
    assert check.regressed and check.current == "inf"

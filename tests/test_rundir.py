"""Unusable run directories: one line naming the file and the problem, exit 2, nothing written."""
import json
import shutil

import pytest

from comparisons.cli.main import main
from comparisons.record.rundir import READABLE_SCHEMA, load_run
from tiny_runs import make_run


@pytest.fixture(scope="module")
def good_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("rundir") / "good"
    make_run(out)
    return out


def _edit_json(path, change):
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def _keep_lines(path, keep):
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(keep(lines)))


BREAKAGES = [
    pytest.param(lambda d: shutil.rmtree(d), "no such directory", id="no-directory"),
    pytest.param(lambda d: (shutil.rmtree(d), d.write_text("")), "not a directory", id="a-file"),
    pytest.param(lambda d: (d / "summary.json").unlink(),
                 "missing summary.json; not a complete lockstep run directory", id="no-summary"),
    pytest.param(lambda d: (d / "steps.csv").unlink(), "missing steps.csv", id="no-steps"),
    pytest.param(lambda d: (d / "summary.json").write_text("{\"schema_version\": 1,"), "summary.json: not valid JSON",
                 id="invalid-json"),
    pytest.param(lambda d: (d / "summary.json").write_text("[1, 2]"), "summary.json: not a JSON object",
                 id="json-list"),
    pytest.param(lambda d: _edit_json(d / "summary.json", lambda s: s.update(schema_version=READABLE_SCHEMA + 1)),
                 f"schema_version {READABLE_SCHEMA + 1} is newer than this lockstep reads ({READABLE_SCHEMA}); "
                 "upgrade lockstep", id="newer-schema"),
    pytest.param(lambda d: _edit_json(d / "summary.json", lambda s: s.pop("schema_version")),
                 "no valid schema_version (got None)", id="no-schema-version"),
    pytest.param(lambda d: _edit_json(d / "summary.json", lambda s: s.pop("worst")), "does not match summary.schema.json at $: 'worst' is a required property",
                 id="missing-field"),
    pytest.param(lambda d: _edit_json(d / "summary.json", lambda s: s.update(status="great")),
                 "at $.status: 'great' is not one of ['passed', 'failed', 'interrupted']", id="bad-status"),
    pytest.param(lambda d: (d / "steps.csv").write_bytes((d / "steps.csv").read_bytes()[:-7]),
                 "steps.csv: truncated (the last line is incomplete)", id="cut-mid-line"),
    pytest.param(lambda d: _keep_lines(d / "steps.csv", lambda lines: lines[:len(lines) // 2]),
                 "steps.csv: truncated: it ends at step 5, summary.json reports 9 steps", id="cut-at-a-line"),
    pytest.param(lambda d: _keep_lines(d / "steps.csv", lambda lines: lines[:1]),
                 "truncated: it has no rows, summary.json reports 9 steps", id="header-only"),
    pytest.param(lambda d: _keep_lines(d / "steps.csv", lambda lines: lines[:-8]),   # trained checks, test evaluations
                 "truncated: the final evaluation on test is missing", id="no-final-evaluation"),
    pytest.param(lambda d: (d / "steps.csv").write_text("a,b\n1,2\n"), "not a lockstep steps.csv (no column step",
                 id="foreign-csv"),
    pytest.param(lambda d: _keep_lines(d / "steps.csv", lambda lines: lines[:2] + ["x" + lines[2]] + lines[3:]),
                 "steps.csv: row 2 (line 3): step 'x0' is not an integer >= 0", id="garbage-row"),
    pytest.param(lambda d: _keep_lines(d / "steps.csv", lambda lines: lines[:3] + lines[2:]),   # the report's
                 "steps.csv: data row 3 repeats step 0 step judged init", id="a-repeated-row"),  # figures raised
    pytest.param(lambda d: _edit_json(d / "summary.json", lambda s: s.update(steps=3)),
                 "reaches step 9 but summary.json reports 3 steps; the two files are from different runs",
                 id="files-of-two-runs"),
]


@pytest.mark.parametrize("break_it,message", BREAKAGES)
def test_unusable_run_directory_is_one_line_and_exit_2(good_run, tmp_path, capsys, break_it, message):
    run_dir = tmp_path / "run"
    shutil.copytree(good_run, run_dir)
    break_it(run_dir)
    assert main(["report", str(run_dir)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"lockstep: error: run {run_dir}") and err.count("\n") == 1, err
    assert message in err
    assert not list(tmp_path.glob("run/report*")), "nothing is written for unusable input"


@pytest.mark.parametrize("which", ["baseline", "current"])
def test_compare_names_the_unusable_side(good_run, tmp_path, capsys, which):
    broken = tmp_path / "broken"
    shutil.copytree(good_run, broken)
    (broken / "summary.json").unlink()
    argv = ["compare", str(broken), str(good_run)] if which == "baseline" else ["compare", str(good_run), str(broken)]
    assert main(argv) == 2
    assert capsys.readouterr().err == f"lockstep: error: {which} {broken}: missing summary.json; " \
                                      "not a complete lockstep run directory\n"


def test_a_good_run_reads_back_with_the_used_columns(good_run):
    run = load_run(good_run)
    assert run.summary["steps"] == 9 and run.frame["step"].max() == 9
    assert run.frame["name"].isna().sum() == 0     # scalar rows have the name ""
    assert set(run.frame["phase"].astype(str)) == {"step", "train", "valid", "test"}

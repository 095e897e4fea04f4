"""lockstep run: exit codes, one-line errors, and the files it leaves."""
import re
import json
import struct
import subprocess
import sys

import numpy as np
import pytest

from comparisons.cli.main import build_parser, main
from comparisons.config import Config

FAST = ["--hidden", "16", "--epochs", "1", "--batch-size", "1000", "--quiet"]


def test_every_config_field_has_a_flag():
    help_text = build_parser()._subparsers._group_actions[0].choices["run"].format_help()
    for name in Config.field_names():
        assert f"--{name.replace('_', '-')}" in help_text


@pytest.mark.parametrize("argv,message", [
    pytest.param(["run", "--out", "x", "--bogus"], "unrecognized arguments: --bogus", id="unknown-flag"),
    pytest.param(["run"], "the following arguments are required: --out", id="missing-out"),
    pytest.param(["run", "--out", "x", "--dtype", "float16"], "invalid choice: 'float16'", id="bad-dtype"),
    pytest.param(["run", "--out", "x", "--mode", "loose"], "invalid choice: 'loose'", id="bad-mode"),
    pytest.param(["run", "--out", "x", "--epochs", "0"], "epochs must be >= 1, got 0", id="zero-epochs"),
    pytest.param(["run", "--out", "x", "--hidden", "10,x"], "expected comma-separated integers", id="bad-hidden"),
    pytest.param(["run", "--out", "x", "--hidden", "0"], "hidden must be positive integers", id="zero-hidden"),
    pytest.param(["run", "--out", "x", "--momentum", "1.5"], "momentum must be in [0, 1), got 1.5", id="momentum"),
    pytest.param(["run", "--out", "x", "--lr", "nan"], "lr must be finite, got nan", id="nan-lr"),
    pytest.param(["run", "--out", "x", "--lr", "-1"], "lr must be > 0, got -1.0", id="negative-lr"),
    pytest.param(["run", "--out", "x", "--batch-size", "-5"], "batch_size must be >= 0", id="batch-size"),
    pytest.param(["run", "--out", "x", "--tol", "speed=1"], "unknown tolerance 'speed'", id="tol-unknown"),
    pytest.param(["run", "--out", "x", "--tol", "grad=abc"], "expected QUANTITY=VALUE, got 'grad=abc'", id="tol-value"),
    pytest.param(["run", "--out", "x", "--tol", "grad"], "tolerance for grad must be a finite number", id="tol-missing"),
    pytest.param(["run", "--out", "x", "--tol", "grad=-1"], "tolerance for grad must be a finite number >= 0",
                 id="tol-negative"),
    pytest.param(["run", "--out", "x", "--tol", "grad=1e-3", "--tol", "grad=1e-2"],
                 "tolerance for grad given more than once", id="tol-twice"),
    pytest.param(["run", "--out", "x", "--data", "/no/such/file.npz"], "/no/such/file.npz: file or directory not found",
                 id="missing-data"),
])
def test_bad_usage_is_one_line_and_exit_2(argv, message, capfd, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and err.startswith("lockstep: error: ")
    assert message in err
    assert not (tmp_path / "x").exists()          # validated before any work: nothing written


def test_groupnorm_and_a_split_of_one_sample_is_one_line_and_exit_2(tmp_path, capfd):
    """Torch's group_norm refuses one value per group in evaluation too, where a split is one batch: refused
    before the run (found by review: its ValueError mid-run)."""
    labels = np.array([0] * 5 + [1] * 4 + [2] * 4, np.uint8)     # class 0's 5: 1 valid, 1 test (k // 5)
    (tmp_path / "d-images-idx3-ubyte").write_bytes(struct.pack(">iiii", 2051, len(labels), 28, 28)
                                                   + bytes(len(labels) * 28 * 28))
    (tmp_path / "d-labels-idx1-ubyte").write_bytes(struct.pack(">ii", 2049, len(labels)) + labels.tobytes())
    assert main(["run", "--out", str(tmp_path / "run"), "--data", str(tmp_path / "d-images-idx3-ubyte"),
                 "--model", "linear:4,groupnorm:4,relu,linear", "--epochs", "1", "--quiet"]) == 2
    err = capfd.readouterr().err
    assert err == ("lockstep: error: model token 'groupnorm:4' (gn1): groupnorm with one value per group needs "
                   "batches of 2 samples or more; the valid split, evaluated in one batch, has 1 sample\n")
    assert not (tmp_path / "run").exists()


def test_output_under_a_file_is_refused(tmp_path, capfd):
    (tmp_path / "f").write_text("")
    assert main(["run", "--out", str(tmp_path / "f" / "run"), *FAST]) == 2
    assert "cannot create output directory" in capfd.readouterr().err


def test_an_existing_run_is_never_clobbered_without_overwrite(tmp_path, capfd):
    out = tmp_path / "run"
    assert main(["run", "--out", str(out), *FAST]) == 0
    before = (out / "steps.csv").read_bytes(), (out / "summary.json").read_bytes()
    assert main(["run", "--out", str(out), *FAST, "--seed", "1"]) == 2
    assert "already holds a run (steps.csv, summary.json); choose another --out or pass --overwrite" \
        in capfd.readouterr().err
    assert ((out / "steps.csv").read_bytes(), (out / "summary.json").read_bytes()) == before
    assert main(["run", "--out", str(out), *FAST, "--seed", "1", "--overwrite"]) == 0
    assert json.loads((out / "summary.json").read_text())["config"]["seed"] == 1


def test_pass_prints_the_table_and_leaves_the_files(tmp_path, capfd):
    assert main(["run", "--out", str(tmp_path), *[a for a in FAST if a != "--quiet"]]) == 0
    out = capfd.readouterr().out
    for text in ("manual loss", "torch acc", "worst", "PASSED", "steps.csv", "summary.json"):
        assert text in out
    assert (tmp_path / "steps.csv").stat().st_size > 0


def test_failure_exits_1_with_an_assert_close_style_message(tmp_path, capfd):
    assert main(["run", "--out", str(tmp_path), *FAST, "--tol", "update=0"]) == 1
    err = capfd.readouterr().err.strip()
    assert err.startswith("step 1 > update > fc1.weight: rel_l2 ") and "(allowed 0.0e+00 by the override rule)" in err
    assert "elements differ" not in err and "greatest abs diff" in err
    assert json.loads((tmp_path / "summary.json").read_text())["status"] == "failed"


def test_divergence_to_nan_exits_1_naming_step_and_side(tmp_path, capfd):
    assert main(["run", "--out", str(tmp_path), *FAST, "--lr", "1e30", "--epochs", "3"]) == 1
    err = capfd.readouterr().err
    assert re.fullmatch(r"step 2 > out > fc2: non-finite on the manual and torch sides \(manual \S+, torch \S+ "
                        r"\(norms\)\)\n", err), err            # one line: no NumPy warnings


def test_console_script_gives_no_traceback(tmp_path):
    """The installed entry point, as a user runs it."""
    proc = subprocess.run([sys.executable, "-m", "comparisons.cli", "run", "--out", str(tmp_path), "--epochs", "-1"],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr == "lockstep: error: epochs must be >= 1, got -1\n"


def test_version_is_one_line_exit_0(capsys):
    with pytest.raises(SystemExit) as stop:
        build_parser().parse_args(["--version"])
    assert stop.value.code == 0
    from importlib.metadata import version
    assert capsys.readouterr().out == f"lockstep {version('lockstep')}\n"

"""Bad input is one line and exit 2, never a traceback (issue 11, items 8, 10, 11, 12, 13, 16, 17).

Every Config field typed and in range; presets of the wrong types or encoding; summary.json
validated against its schema and steps.csv column by column before use; compare needs every
config field; --data a regular file or directory, read with bounds; summary.json strict JSON.
"""
import contextlib
import dataclasses
import gzip
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from comparisons import config as config_module
from comparisons.cli.main import main
from comparisons.config import Config
from comparisons.data import loaders
from comparisons.errors import InputError
from comparisons.record import rundir
from comparisons.record.recorder import revive_nonfinite, strict_json
from comparisons.report.compare import compare_runs
from tiny_runs import BreaksAtCall, make_run

ROOT = Path(__file__).parents[1]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("validation")
    make_run(root / "good")
    make_run(root / "seed1", seed=1)
    make_run(root / "nan", manual_loss=BreaksAtCall(2, "nan"))
    return root


def one_line_exit_2(capfd, argv, *fragments):
    """main(argv) exits 2 with exactly one line on stderr holding every fragment; returns that line."""
    assert main([str(a) for a in argv]) == 2
    err = capfd.readouterr().err
    assert err.startswith("lockstep: error: ") and err.count("\n") == 1, err
    for fragment in fragments:
        assert fragment in err, err
    return err


@pytest.fixture
def no_training(monkeypatch):
    """Bad input must be refused before training: should a config get through, the test fails at
    once instead of training it (10**6 epochs would not end). The stand-in for the worker process
    does in this process what the worker does before training: the config again, then the data."""
    import comparisons.cli.parent
    from comparisons.cli.main import config_from_args
    from comparisons.data import BUILTIN, load_data

    def reached(argv, args):
        if args.command == "run":
            config = config_from_args(args)
            if config.data not in BUILTIN:
                load_data(config.data)
        raise AssertionError(f"accepted and training started: {argv}")
    monkeypatch.setattr(comparisons.cli.parent, "contain", reached)


@contextlib.contextmanager
def deadline(seconds: int):
    """Fail instead of hanging (an open() of a FIFO blocks until a writer comes)."""
    def expire(signum, frame):
        raise TimeoutError(f"still running after {seconds} s")
    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


# --- item 8: every Config field with its type and range ------------------------------------------

@pytest.mark.parametrize("argv,fragment", [
    pytest.param(["--seed", "-1"], "seed must be >= 0, got -1", id="negative-seed"),
    pytest.param(["--seed", str(2**63)], "seed must be <= 9223372036854775807", id="seed-beyond-int64"),
    pytest.param(["--epochs", "1000001"], "epochs must be <= 1000000", id="epochs-beyond-bound"),
    pytest.param(["--batch-size", str(2**31)], "batch_size must be <= 2147483647", id="batch-beyond-bound"),
    pytest.param(["--hidden", f"10,{2**31}"], "hidden width must be <= 2147483647", id="width-beyond-bound"),
    pytest.param(["--lr", "1e400"], "lr must be finite, got inf", id="lr-overflows-float"),
    pytest.param(["--tol", "grad=inf"], "tolerance for grad must be a finite number >= 0", id="infinite-tol"),
])
def test_out_of_range_flags_are_one_line_exit_2(tmp_path, capfd, no_training, argv, fragment):
    one_line_exit_2(capfd, ["run", "--out", tmp_path / "out", *argv], fragment)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("seed,fragment", [("-1", "seed must be >= 0, got -1"),
                                           (str(2**63), "seed must be <= 9223372036854775807"),
                                           ("x", "expected an integer, got 'x'")])
def test_audit_seed_is_checked_like_configs(capfd, seed, fragment):
    one_line_exit_2(capfd, ["audit", "--seed", seed], "argument --seed: " + fragment)


@pytest.mark.parametrize("field,value,fragment", [
    pytest.param("hidden", (True,), "hidden must be a tuple of ints, got (True,)", id="bool-width"),
    pytest.param("hidden", [32], "hidden must be a tuple of ints, got [32]", id="list-hidden"),
    pytest.param("epochs", True, "epochs must be an integer, got True", id="bool-epochs"),
    pytest.param("epochs", 2.0, "epochs must be an integer, got 2.0", id="float-epochs"),
    pytest.param("seed", np.int64(3), "seed must be an integer, got np.int64(3)", id="numpy-seed"),
    pytest.param("seed", -1, "seed must be >= 0, got -1", id="negative-seed"),
    pytest.param("lr", "0.1", "lr must be a number, got '0.1'", id="string-lr"),
    pytest.param("lr", 10**400, "lr must be finite, got 1000000", id="int-beyond-float"),
    pytest.param("momentum", math.nan, "momentum must be finite, got nan", id="nan-momentum"),
    pytest.param("dtype", "float16", "dtype must be one of float32, float64, got 'float16'", id="unknown-dtype"),
    pytest.param("mode", 1, "mode must be a string without NUL, got 1", id="int-mode"),
    pytest.param("data", "runs/a\0b", "data must be a string without NUL", id="nul-in-path"),
    pytest.param("tol", (("grad",),), "tol must be a tuple of (str, float) pairs, got (('grad',),)", id="short-pair"),
    pytest.param("tol", (("grad", "x"),), "tol must be a tuple of (str, float) pairs", id="string-tolerance"),
    pytest.param("fail_fast", 1, "fail_fast must be true or false, got 1", id="int-fail-fast"),
])
def test_config_refuses_wrong_types_and_ranges(field, value, fragment):
    with pytest.raises(InputError) as e:
        dataclasses.replace(Config(), **{field: value}).validate()
    assert fragment in str(e.value) and "\n" not in str(e.value)


def test_every_config_field_is_type_checked():
    """A value of no field's type is refused for every field, naming it (a new field of a type
    validate() cannot check raises TypeError here, asking for the check to be written)."""
    Config().validate()
    for name in Config.field_names():
        with pytest.raises(InputError, match=f"^{name} must be "):
            dataclasses.replace(Config(), **{name: object()}).validate()


def test_schema_holds_every_config_field_with_configs_bounds():
    """summary.schema.json's config part and Config.validate agree: the same fields, the same bounds."""
    config = rundir.summary_validator().schema["properties"]["config"]
    assert config["required"] == Config.field_names() == list(config["properties"])
    p = config["properties"]
    assert p["seed"]["maximum"] == config_module.MAX_SEED
    assert p["epochs"]["maximum"] == config_module.MAX_EPOCHS
    assert p["batch_size"]["maximum"] == config_module.MAX_BATCH_SIZE
    assert p["hidden"]["items"]["maximum"] == config_module.MAX_WIDTH
    assert p["dtype"]["enum"] == list(config_module.DTYPES) and p["mode"]["enum"] == list(config_module.MODES)
    assert p["reduction"]["enum"] == list(config_module.REDUCTIONS)
    from comparisons.check.rules import ROW_QUANTITIES
    assert rundir.summary_validator().schema["$defs"]["quantity"]["enum"] == list(ROW_QUANTITIES)
    assert rundir.summary_validator().schema["$defs"]["override"]["enum"] == list(config_module.QUANTITIES)


# --- item 10: init_velocity / lr in the run's dtype ----------------------------------------------

@pytest.mark.parametrize("argv,fragment", [
    pytest.param(["--init-velocity", "1e37"], "init_velocity / lr = 1e+39 overflows float32", id="v0-1e37"),
    pytest.param(["--lr", "1e-300", "--init-velocity", "1e-5"], "init_velocity / lr = 1e+295 overflows float32",
                 id="tiny-lr"),
    pytest.param(["--dtype", "float64", "--lr", "1e-300", "--init-velocity", "1e10"],
                 "init_velocity / lr = inf overflows float64", id="float64-too"),
    pytest.param(["--init-velocity", "1e39", "--lr", "100"], "init_velocity 1e+39 overflows float32", id="v0-itself"),
    pytest.param(["--lr", "1e-46"], "lr 1e-46 rounds to 0 in float32", id="lr-rounds-to-0"),
    pytest.param(["--lr", "1e39"], "lr 1e+39 overflows float32", id="lr-overflows"),   # found by test_properties
])
def test_velocity_over_lr_must_fit_the_dtype(tmp_path, capfd, no_training, argv, fragment):
    one_line_exit_2(capfd, ["run", "--out", tmp_path / "out", *argv], fragment)


def test_the_velocity_bound_is_where_torch_refuses():
    """Config's bound is float32's largest value, exactly where torch's buffer fill starts to fail."""
    import torch
    largest = float(np.finfo(np.float32).max)
    Config(init_velocity=largest * 0.01, lr=0.01).validate()       # v0 / lr == largest: accepted
    torch.full((1,), largest, dtype=torch.float32)                  # ... and torch takes it
    with pytest.raises(InputError):
        Config(init_velocity=largest * 0.0101, lr=0.01).validate()
    with pytest.raises(RuntimeError, match="overflow"):
        torch.full((1,), largest * 1.01, dtype=torch.float32)


# --- item 9: a model the machine cannot hold -------------------------------------------------------

@pytest.mark.parametrize("hidden,fragment", [
    pytest.param("100000000", "model token 'linear:100000000' (fc1) needs about 14037.3 GiB", id="one-layer"),
    pytest.param("200000", "this run needs about 89.7 GiB", id="activations"),
])
def test_a_run_too_big_for_the_machine_is_refused_before_it_allocates(tmp_path, capfd, monkeypatch, hidden, fragment):
    """The worker refuses it (exit 2, one line) before building either side; 16 GiB available here."""
    from comparisons import memory
    monkeypatch.setattr(memory, "available", lambda: 16 * 2**30)
    from comparisons import run
    with pytest.raises(InputError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        run(Config(hidden=(int(hidden),), epochs=1), out=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_the_memory_estimate_refuses_only_what_cannot_fit(monkeypatch):
    """Refused only when the estimate / MARGIN exceeds what is available; the default run fits in 2 GiB."""
    from comparisons import memory, spec
    monkeypatch.setattr(memory, "available", lambda: 2 * 2**30)
    layers = spec.parse(spec.mlp((1000,)), (784,), 10)            # the default model: accepted
    params = sum(s.size for s in layers)
    assert params == 784 * 1000 + 1000 + 1000 * 10 + 10
    memory.refuse_if_too_big(params, 6000 * (784 + 2010), "default")
    need = memory.estimate(params, 0)
    monkeypatch.setattr(memory, "available", lambda: need / memory.MARGIN * 0.99)
    with pytest.raises(InputError, match="needs about"):
        memory.refuse_if_too_big(params, 0, "x")


def test_the_memory_estimate_counts_a_conv_nets_im2col_columns(monkeypatch, tmp_path):
    """Each conv layer's columns (C·K² per output position, memory.per_sample) enter the estimate: with just
    less memory than the estimate without them allows, a conv run is refused naming its column elements."""
    from comparisons import memory, run, spec
    from comparisons.data.builtin import images
    model = "conv:8:3:1:1,relu,conv:8:5:1:2,flatten,linear"
    data = images(seed=1, sizes=(200, 50, 50))
    layers = spec.parse(model, data.sample_shape, data.n_outputs)
    acts, cols = memory.per_sample(layers, data.sample_shape)
    assert cols == 1 * 3 * 3 * 28 * 28 + 8 * 5 * 5 * 28 * 28
    assert acts == 784 + 4 * 8 * 28 * 28 + 10           # the input, conv1, relu1, conv2, flatten1, fc1
    params = sum(s.size for s in layers)
    without = memory.estimate(params, 200 * acts, 0, 100 * acts)
    monkeypatch.setattr(memory, "available", lambda: without / memory.MARGIN * 1.01)
    with pytest.raises(InputError, match=f"{200 * cols:,} im2col column elements"):
        run(Config(model=model, epochs=1), data, out=tmp_path / "out")
    assert not (tmp_path / "out").exists()


# --- item 11: preset files of the wrong types, encoding or kind ------------------------------------

@pytest.mark.parametrize("content,fragment", [
    pytest.param(b'[tol]\ngrad = "x"\n', "tol must be a table of numbers, e.g. [tol] grad = 1e-3, got {'grad': 'x'}",
                 id="string-tolerance"),
    pytest.param(b"tol = [1, 2]\n", "tol must be a table of numbers", id="tol-array"),
    pytest.param(b'tol = [["grad"]]\n', "tol must be a table of numbers", id="tol-nested-array"),
    pytest.param(b"[tol]\ngrad = [1]\n", "tol must be a table of numbers", id="tol-array-value"),
    pytest.param(b"hidden = [true]\n", "hidden must be an array of integers", id="bool-width"),
    pytest.param(b"epochs = true\n", "epochs must be an integer, got True", id="bool-epochs"),
    pytest.param(b"seed = -1\n", "seed must be >= 0, got -1", id="negative-seed"),
    pytest.param(b"lr = nan\n", "lr must be finite, got nan", id="nan-lr"),
    pytest.param(b"lr = 1979-05-27\n", "lr must be a number, got datetime.date(1979, 5, 27)", id="date-lr"),
    pytest.param(b"epochs = 2 # caf\xe9\n", "not UTF-8 (byte 0xe9 at offset 16)", id="latin-1"),
    pytest.param(b"\xff\xfe" + "epochs = 2\n".encode("utf-16-le"), "not UTF-8 (byte 0xff at offset 0)", id="utf-16"),
    pytest.param(b"seed = " + b"9" * 5000 + b"\n", "not usable TOML: Exceeds the limit (4300 digits)", id="huge-int"),
    pytest.param(b"a = " + b"[" * 3000 + b"]" * 3000 + b"\n", "not usable TOML: nested too deeply", id="deep"),
    pytest.param(b"# " + b"x" * (64 * 1024) + b"\n", "larger than 64 KiB", id="huge-file"),
])
def test_bad_preset_is_one_line_exit_2(tmp_path, capfd, no_training, content, fragment):
    preset = tmp_path / "p.toml"
    preset.write_bytes(content)
    one_line_exit_2(capfd, ["run", "--out", tmp_path / "out", "--preset", preset], fragment)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("make,fragment", [
    pytest.param(lambda p: p.mkdir(), "is a directory", id="directory"),
    pytest.param(os.mkfifo, "not a regular file (a FIFO, device or socket)", id="fifo"),
    pytest.param(lambda p: p.symlink_to("/dev/zero"), "not a regular file (a FIFO, device or socket)", id="dev-zero"),
])
def test_preset_that_is_not_a_regular_file(tmp_path, capfd, no_training, make, fragment):
    make(tmp_path / "p.toml")
    with deadline(20):      # before: a FIFO blocked for ever, /dev/zero was read until memory ran out
        one_line_exit_2(capfd, ["run", "--out", tmp_path / "o", "--preset", tmp_path / "p.toml"], fragment)


def test_preset_arrays_of_pairs_are_tolerances_too(tmp_path):
    from comparisons.data.presets import load_preset
    preset = tmp_path / "p.toml"
    preset.write_text('tol = [["grad", 0.5]]\nlr = 1\n')
    assert load_preset(str(preset)) == {"tol": (("grad", 0.5),), "lr": 1.0}


# --- item 12: summary.json against its schema, steps.csv column by column --------------------------

def _edit_summary(run_dir: Path, change) -> None:
    summary = json.loads((run_dir / "summary.json").read_text())
    change(summary)
    (run_dir / "summary.json").write_text(json.dumps(summary))


SUMMARY_BREAKAGES = [
    pytest.param(lambda s: s.update(steps="sixty"), "at $.steps: 'sixty' is not of type 'integer'", id="steps-text"),
    pytest.param(lambda s: s["worst"].update(loss="x"), "at $.worst.loss: 'x' is not of type 'object'", id="worst-text"),
    pytest.param(lambda s: s.update(first_failure="oops"), "at $.first_failure: 'oops' is not of type 'object', 'null'",
                 id="failure-text"),
    pytest.param(lambda s: s["final"]["train"].update(manual=5), "at $.final.train.manual: 5 is not of type 'object'",
                 id="final-number"),
    pytest.param(lambda s: s["worst"]["grad"].update(value="big"), "at $.worst.grad.value: 'big' is not of type",
                 id="worst-value-text"),
    pytest.param(lambda s: s["final"].update(holdout=s["final"]["test"]), "at $.final: 'holdout' is not one of",
                 id="unknown-split"),
    pytest.param(lambda s: s.update(passed=False), "at $.passed: True was expected", id="passed-disagrees"),
    pytest.param(lambda s: s.update(status="failed", passed=False), "at $.first_failure: None is not of type 'object'",
                 id="failed-without-failure"),
    pytest.param(lambda s: s["config"].update(seed=-1), "at $.config.seed: -1 is less than the minimum of 0",
                 id="negative-seed"),
    pytest.param(lambda s: s["worst"]["loss"].update(value=None), "at $.worst.loss: 'value_nonfinite' is a required",
                 id="null-without-reason"),
]


@pytest.mark.parametrize("change,fragment", SUMMARY_BREAKAGES)
def test_summary_violating_the_schema_is_one_line_naming_file_and_path(runs, tmp_path, capfd, change, fragment):
    broken = tmp_path / "broken"
    shutil.copytree(runs / "good", broken)
    _edit_summary(broken, change)
    line = one_line_exit_2(capfd, ["report", broken], f"run {broken / 'summary.json'}: does not match "
                                                       "summary.schema.json", fragment)
    assert not list(broken.glob("report*"))
    assert one_line_exit_2(capfd, ["compare", runs / "good", broken]) == line.replace("run ", "current ", 1)


def _edit_cell(run_dir: Path, row: int, column: str, value: str) -> None:
    import csv
    import io
    path = run_dir / "steps.csv"
    lines = path.read_text().splitlines(keepends=True)
    header = next(csv.reader([lines[0]]))
    cells = next(csv.reader([lines[row]]))       # quoted fields (an argmax "(0, 0)") stay whole
    cells[header.index(column)] = value
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(cells)
    lines[row] = buffer.getvalue()
    path.write_text("".join(lines))


@pytest.mark.parametrize("column,value,fragment", [
    ("phase", "warmup", "row 1 (line 2): phase 'warmup' is not one of step, train, valid, test"),
    ("quantity", "speed", "row 1 (line 2): quantity 'speed' is not one of init, out, loss, accuracy"),
    ("metric", "rel_linf", "row 1 (line 2): metric 'rel_linf' is not one of rel_l2, rel_l2_grid, abs_l2, rel, count, test, check"),
    ("passed", "maybe", "row 1 (line 2): passed 'maybe' is not one of True, False"),
    ("passed", "", "row 1 (line 2): passed '' is not one of True, False"),
    ("step", "-1", "row 1 (line 2): step '-1' is not an integer >= 0"),
    ("epoch", "1.5", "row 1 (line 2): epoch '1.5' is not an integer >= 0"),
    ("step", "9" * 30, "row 1 (line 2): step '999999999999999999999999999999' is not an integer >= 0"),
    ("manual", "lots", "row 1 (line 2): manual 'lots' is not a number"),
    ("tolerance", "-1", "row 1 (line 2): tolerance '-1' is not a number >= 0 (inf: not gated)"),
])
def test_bad_steps_csv_cell_is_one_line_naming_row_and_column(runs, tmp_path, capfd, column, value, fragment):
    broken = tmp_path / "broken"
    shutil.copytree(runs / "good", broken)
    _edit_cell(broken, 1, column, value)
    one_line_exit_2(capfd, ["report", broken], f"run {broken / 'steps.csv'}: {fragment}")


def test_steps_csv_not_utf8_is_one_line(runs, tmp_path, capfd):
    broken = tmp_path / "broken"
    shutil.copytree(runs / "good", broken)
    _edit_cell(broken, 1, "name", "caf\xe9")
    (broken / "steps.csv").write_bytes((broken / "steps.csv").read_bytes().replace("é".encode(), b"\xe9"))
    one_line_exit_2(capfd, ["report", broken], "steps.csv: unreadable (")


# --- item 13: compare needs every config field on both sides ---------------------------------------

@pytest.mark.parametrize("change,fragment", [
    pytest.param(lambda s: s["config"].pop("seed"), "at $.config: 'seed' is a required property", id="no-seed"),
    pytest.param(lambda s: s.update(config={}), "at $.config: 'model' is a required property", id="empty-config"),
])
def test_compare_refuses_a_baseline_config_lacking_fields(runs, tmp_path, capfd, change, fragment):
    """Before: the missing field was listed, the seeds never compared, and 'no regression' came out."""
    baseline = tmp_path / "baseline"
    shutil.copytree(runs / "good", baseline)
    _edit_summary(baseline, change)
    one_line_exit_2(capfd, ["compare", baseline, runs / "seed1"], f"baseline {baseline / 'summary.json'}", fragment)


def test_compare_runs_refuses_configs_lacking_fields_from_any_reader(runs):
    base, current = rundir.load_run(runs / "good"), rundir.load_run(runs / "seed1")
    del base.summary["config"]["seed"]
    with pytest.raises(InputError, match="the baseline's config lacks seed; compare needs every config field"):
        compare_runs(base, current)


# --- item 16: --data a regular file or a directory, every read bounded -----------------------------

def test_data_fifo_is_refused_without_hanging(tmp_path, capfd):
    os.mkfifo(tmp_path / "fifo")
    with deadline(60):
        one_line_exit_2(capfd, ["run", "--out", tmp_path / "out", "--data", tmp_path / "fifo"],
                        "not a regular file or a directory (a FIFO, device or socket)")


def test_a_fifo_in_the_images_place_is_refused_on_the_open_descriptor(tmp_path):
    os.mkfifo(tmp_path / "t10k-images-idx3-ubyte")
    with deadline(20), pytest.raises(InputError, match="not a regular file"):
        loaders._read(tmp_path / "t10k-images-idx3-ubyte")


def test_data_dev_zero_is_refused_before_reading(tmp_path):
    """In a child process under a 2 GB address-space limit: before the fix it read /dev/zero until
    MemoryError (a traceback); here the harness's machine is never at risk."""
    script = ("import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))\n"
              "from comparisons.data.loaders import load\nfrom comparisons.errors import InputError\n"
              "try:\n    load('/dev/zero')\nexcept InputError as e:\n    print(e); sys.exit(2)\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert (proc.returncode, proc.stdout) == (2, "/dev/zero: not a regular file or a directory (a FIFO, device "
                                                 "or socket); expected an npz, an IDX images file or a directory "
                                                 "holding one\n"), proc.stderr


@pytest.fixture
def small_bound(monkeypatch):
    """loaders.MAX_BYTES at 1 MiB, so that files past the bound are cheap to make."""
    monkeypatch.setattr(loaders, "MAX_BYTES", 2**20)
    return 2**20


def test_a_file_beyond_the_bound_is_refused(tmp_path, small_bound):
    big = tmp_path / "t10k-images-idx3-ubyte"
    big.write_bytes(b"\0" * (small_bound + 1))
    with pytest.raises(InputError, match="larger than 1 MiB"):
        loaders.load(big)


def test_a_gzip_bomb_is_refused(tmp_path, small_bound):
    bomb = tmp_path / "t10k-images-idx3-ubyte.gz"
    bomb.write_bytes(gzip.compress(b"\0\0\x08\x03" + b"\0" * (small_bound + 1)))
    assert bomb.stat().st_size < 10_000
    with pytest.raises(InputError, match="decompresses to more than 1 MiB; not an MNIST IDX file"):
        loaders.load(bomb)


def test_an_npz_bomb_is_refused(tmp_path, small_bound):
    bomb = tmp_path / "notMNIST.npz"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("images.npy", b"\0" * (small_bound + 1))
    with pytest.raises(InputError, match=f"npz members decompress to {small_bound + 1} bytes, more than 1 MiB"):
        loaders.load(bomb)


def test_the_bound_is_far_above_the_largest_real_file():
    mnist_train_images = 60000 * 28 * 28 + 16       # train-images-idx3-ubyte, raw
    assert loaders.MAX_BYTES > 5 * mnist_train_images


# --- item 17: summary.json is strict JSON --------------------------------------------------------

def _strict_loads(text: str):
    def refuse(token):
        raise ValueError(f"{token} is not JSON")
    return json.loads(text, parse_constant=refuse)


def test_a_nan_run_writes_strict_json_with_reasons(runs):
    text = (runs / "nan" / "summary.json").read_text()
    summary = _strict_loads(text)           # JavaScript's JSON.parse would reject NaN / Infinity
    rundir.summary_validator().validate(summary)
    nonfinite = [(q, w["value"], w["value_nonfinite"]) for q, w in summary["worst"].items() if "value_nonfinite" in w]
    assert ("loss", None, "nan") in nonfinite
    read = rundir.load_run(runs / "nan").summary
    assert math.isnan(read["worst"]["loss"]["value"]) and "value_nonfinite" not in read["worst"]["loss"]


def test_readers_work_on_a_nan_run(runs, tmp_path, capfd):
    assert main(["report", str(runs / "nan"), "--out", str(tmp_path), "--quiet"]) == 0
    assert main(["compare", str(runs / "good"), str(runs / "nan")]) == 1
    assert "| gate | verdict | passed | failed: step 2 > loss: non-finite" in capfd.readouterr().out


def test_strict_json_round_trip():
    data = {"a": math.nan, "b": [1.0, math.inf, [-math.inf, 2]], "c": {"x": math.inf, "y": None}, "d": "nan"}
    written = strict_json(data)
    assert written == {"a": None, "a_nonfinite": "nan", "b": [1.0, None, [None, 2]],
                       "b_nonfinite": [None, "inf", ["-inf", None]], "c": {"x": None, "x_nonfinite": "inf", "y": None},
                       "d": "nan"}
    json.dumps(written, allow_nan=False)
    back = revive_nonfinite(written)
    assert math.isnan(back["a"]) and back["b"][1] == math.inf and back["b"][2][0] == -math.inf
    assert back["c"] == {"x": math.inf, "y": None} and back["d"] == "nan"


def test_an_older_summary_with_infinity_tokens_still_reads(runs, tmp_path):
    """Runs written before summaries were strict (same schema version) hold NaN / Infinity tokens."""
    old = tmp_path / "old"
    shutil.copytree(runs / "nan", old)
    summary = revive_nonfinite(json.loads((old / "summary.json").read_text()))
    (old / "summary.json").write_text(json.dumps(summary, allow_nan=True))
    assert "NaN" in (old / "summary.json").read_text()
    assert math.isnan(rundir.load_run(old).summary["worst"]["loss"]["value"])


@pytest.mark.parametrize("path", sorted((ROOT / "baselines").glob("*/summary.json")),
                         ids=lambda p: p.parent.name)
def test_committed_baselines_are_strict_json(path):
    rundir.summary_validator().validate(_strict_loads(path.read_text()))

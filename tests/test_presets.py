"""Presets: TOML files of Config fields; flags override them."""
import pytest

from comparisons.cli.main import build_parser, config_from_args, main
from comparisons.data.presets import load_preset, names


def config_of(*argv):
    return config_from_args(build_parser().parse_args(["run", "--out", "x", *argv]))


def test_assignment_preset_is_the_course_recipe():
    c = config_of("--preset", "assignment")
    assert (c.hidden, c.epochs, c.batch_size, c.lr, c.momentum, c.init_velocity, c.reduction) == \
        ((1000,), 200, 0, 1e-5, 0.99, 1e-5, "sum")


def test_flags_override_the_preset_and_the_rest_stays():
    c = config_of("--preset", "assignment", "--epochs", "3", "--dtype", "float64", "--tol", "grad=0.5")
    assert (c.epochs, c.dtype, c.lr, c.tol) == (3, "float64", 1e-5, (("grad", 0.5),))


def test_preset_file_with_tolerances(tmp_path):
    f = tmp_path / "mine.toml"
    f.write_text('epochs = 2\nlr = 1\n[tol]\ngrad = 0.25\nloss = 1e-3\n')
    c = config_of("--preset", str(f), "--tol", "loss=2e-3")
    assert c.epochs == 2 and c.lr == 1.0 and dict(c.tol) == {"grad": 0.25, "loss": 2e-3}


def test_every_shipped_preset_loads_and_validates():
    assert "assignment" in names()
    for name in names():
        config_of("--preset", name)


@pytest.mark.parametrize("content,message", [
    pytest.param("epochs = 2\nspeed = 3\n", "unknown field 'speed'", id="unknown-field"),
    pytest.param("epochs = 'many'\n", "epochs must be an integer, got 'many'", id="wrong-type"),
    pytest.param("hidden = 1000\n", "hidden must be an array of integers, e.g. hidden = [1000], got 1000", id="scalar-hidden"),
    pytest.param("epochs = = 2\n", "not valid TOML", id="bad-toml"),
    pytest.param("epochs = 0\n", "epochs must be >= 1, got 0", id="invalid-value"),
])
def test_bad_preset_file_is_one_line_exit_2(tmp_path, capsys, content, message):
    f = tmp_path / "bad.toml"
    f.write_text(content)
    assert main(["run", "--out", str(tmp_path / "out"), "--preset", str(f)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("preset,message", [
    pytest.param("coursework", "unknown preset 'coursework'; choose from assignment", id="unknown-name"),
    pytest.param("/no/such.toml", "preset /no/such.toml: No such file or directory", id="missing-file"),
])
def test_unknown_preset(capsys, preset, message):
    assert main(["run", "--out", "x", "--preset", preset]) == 2
    assert message in capsys.readouterr().err


def test_load_preset_returns_config_types():
    values = load_preset("assignment")
    assert values["hidden"] == (1000,) and isinstance(values["lr"], float)


def test_model_table_in_a_preset_is_the_spec(tmp_path):
    path = tmp_path / "zoo.toml"
    path.write_text('loss = "cross_entropy"\n[model]\nlayers = ["linear:64", "batchnorm", "relu", "dropout:0.2", "linear"]\n')
    config = config_from_args(build_parser().parse_args(["run", "--out", "x", "--preset", str(path)]))
    assert config.model == "linear:64,batchnorm,relu,dropout:0.2,linear"


@pytest.mark.parametrize("table,fragment", [
    ('[model]\nlayers = []\n', "layers must be a non-empty array of layer tokens"),
    ('[model]\nlayers = ["linear:64,relu"]\n', "layers must be a non-empty array of layer tokens"),
    ('[model]\nlayers = [3]\n', "layers must be a non-empty array of layer tokens"),
    ('[model]\nlayer = ["relu"]\n', "[model] takes only layers = [...], got key 'layer'"),
    ('[model]\nlayers = ["linear:64", "nope"]\n', "unknown kind 'nope'"),
])
def test_bad_model_table_is_one_line_exit_2(tmp_path, capfd, table, fragment):
    path = tmp_path / "bad.toml"
    path.write_text(table)
    assert main(["run", "--out", str(tmp_path / "out"), "--preset", str(path), "--epochs", "1"]) == 2
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and fragment in err, err


COURSE_PRESETS = ["cs231n-fc", "dls-deep", "nnfs"]


@pytest.mark.parametrize("dtype,mode", [("float64", "synced"), ("float32", "free")])
@pytest.mark.parametrize("preset", COURSE_PRESETS)
def test_course_presets_pass_on_a_short_run(preset, dtype, mode):
    """Each course recipe, as shipped, trains correct code without a false alarm (2 epochs on a small
    built-in set of the preset's task: the full recipes are `lockstep run --preset NAME`)."""
    from comparisons import Config, run
    from comparisons.data.builtin import synthetic
    values = load_preset(preset)
    task = "binary" if values.get("data") == "builtin:binary" else "class"
    config = Config(**(values | {"epochs": 2, "dtype": dtype, "mode": mode}))
    result = run(config, synthetic(seed=3, sizes=(300, 60, 60), task=task))
    assert result.passed, result.first_failure
    if values.get("lr_schedule"):       # nnfs: the book's decay, the lr each step used on a state row
        lr = result.frame[result.frame.name == "lr"]
        assert len(lr) == 6 and lr.manual.is_monotonic_decreasing, lr

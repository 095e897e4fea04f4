"""Bring-your-own implementations: the adapter, its error messages, and lockstep audit."""
from pathlib import Path
import numpy as np
import pytest

from comparisons import Config, run
from comparisons.explain.audit import audit
from comparisons.cli.main import main

HERE = __file__
STUDENT = "examples/student_adapter.py:Adapter"


class NoBackward:
    def __init__(self, sizes, config):
        pass

    def parameters(self):
        return {}

    def forward(self, x, y):
        return 0.0, x


class Transposed:
    """Declares (in, out) weights but stores them (out, in)."""
    weight_layout = "in_out"

    def __init__(self, sizes, config):
        n_in, n_h, n_out = sizes
        self.p = {"W1": np.zeros((n_h, n_in)), "b1": np.zeros(n_h), "W2": np.zeros((n_out, n_h)), "b2": np.zeros(n_out)}

    def parameters(self):
        return self.p

    def forward(self, x, y):
        return 0.0, np.zeros((len(x), 10))

    def backward(self):
        return self.p


class BadNames(Transposed):
    weight_layout = "out_in"
    names = {"W1": "hidden.weight", "b1": "hidden.bias", "W2": "output.weight", "bias2": "output.bias"}


class NaNBackward(Transposed):
    weight_layout = "out_in"

    def backward(self):
        return {k: np.full_like(v, np.nan) for k, v in self.p.items()}


@pytest.mark.parametrize("cls,message", [
    pytest.param("NoBackward", "NoBackward has no method backward (needs parameters, forward, backward", id="missing-method"),
    pytest.param("Transposed", "parameters() 'W1' has shape (16, 784), expected (784, 16) for fc1.weight "
                               "(in_out layout) (transposed?)", id="transposed"),
    pytest.param("BadNames", "BadNames.names does not map parameters() onto", id="names"),
    pytest.param("Nowhere", "has no class Nowhere", id="no-class"),
])
def test_byo_problems_are_one_line_exit_2(cls, message, capfd, tmp_path):
    argv = ["run", "--out", str(tmp_path / "o"), "--manual", f"{HERE}:{cls}", "--hidden", "16", "--epochs", "1"]
    assert main(argv) == 2
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "o").exists()                  # refused before anything was written


def test_audit_refuses_a_nan_derivation(capfd):
    assert main(["audit", "--manual", f"{HERE}:NaNBackward"]) == 2
    assert "NaNBackward.backward() returned non-finite values for fc1.weight on finite inputs" \
        in capfd.readouterr().err


def test_student_implementation_passes_lockstep_in_both_dtypes(tiny_data):
    for dtype in ("float32", "float64"):
        result = run(Config(hidden=(32,), epochs=1, lr=0.05, init_velocity=1e-3, dtype=dtype, manual=STUDENT),
                     tiny_data)
        assert result.passed, result.first_failure


def test_seed_runs_and_its_quirks_are_diagnosed(tiny_data):
    result = run(Config(hidden=(32,), epochs=1, batch_size=0, lr=1e-3, momentum=0.99, init_velocity=1e-5,
                        reduction="sum", dtype="float64", mode="synced", manual="seed"), tiny_data)
    assert result.status == "failed"
    findings = " ".join(result.summary["diagnosis"]["findings"])
    assert result.summary["diagnosis"]["first_divergence"] == "forward > loss > probs"
    assert "ε = 1e-05" in findings and "global max of the matrix" in findings
    assert "approximately 1/(N·K) = 1/3000 (not exactly)" in findings      # averageCE: a mean over N·K, ε in the log
    assert "every gradient checked follows from the manual side's own forward values" in findings
    assert "dL/dscores is p - y from the manual side's own probabilities" in findings


def test_audit_of_the_seed_traces_each_finding_to_a_formula(capfd):
    assert main(["audit", "--manual", "seed"]) == 1
    out = capfd.readouterr().out
    assert "dL/dO = p - y" in out and "dL/dW_h = x^T ((p - y) W_o^T * [z > 0])" in out
    assert "(≈ N·K = 80)" in out                                  # 8 samples x 10 classes: averageCE's mean
    assert "the claim keeps only its diagonal" in out          # dp/dO = p(1 - p)
    assert "adds ε = 1e-05 to its denominator after shifting by the global max" in out
    assert "FAILED: dlogits, fc1.weight, fc1.bias, fc2.weight, fc2.bias, dp/dO" in out


def test_audit_passes_a_correct_implementation_and_names_a_wrong_one():
    rows, notes = audit(STUDENT)
    assert all(r.verdict == "ok" for r in rows) and all(r.fd_err < 1e-6 and r.autograd_err < 1e-12 for r in rows)
    assert not notes           # the adapter builds its dict anew and wraps a module of its own: autograd reaches it
    rows, _ = audit("tests/mutants.py:MissingOneOverN")
    assert all(r.verdict == "FAIL" for r in rows)


MUTANTS = "tests/mutants.py"


@pytest.mark.parametrize("name,reduction", [("InplaceProbs", "mean"), ("InplaceGradStep", "mean"),
                                            ("SummedLoss", "sum")])
def test_correct_but_unusual_classes_pass(tiny_data, name, reduction):
    """Found in review: in-place edits of returned arrays, and a summed loss, are not errors."""
    result = run(Config(hidden=(32,), epochs=1, lr=0.05 if reduction == "mean" else 5e-4, init_velocity=1e-3,
                        dtype="float64", mode="synced", reduction=reduction, manual=f"{MUTANTS}:{name}"), tiny_data)
    assert result.passed, result.first_failure


def test_a_velocity_in_buffer_form_is_named(tiny_data):
    result = run(Config(hidden=(32,), epochs=1, lr=0.05, init_velocity=1e-3, dtype="float64", mode="synced",
                        manual=f"{MUTANTS}:BufferForm"), tiny_data)
    assert result.status == "failed"
    assert "- 0.045·the state momentum_buffer before the step (= -0.9 × the learning rate 0.05)" \
        in result.summary["diagnosis"]["findings"][0]


@pytest.mark.parametrize("name,message", [
    ("CopyParams", "CopyParams.parameters() must return the class's own arrays, not copies"),
    ("VectorLoss", "VectorLoss.forward() must return a scalar loss, got ndarray of shape (2,)"),
])
def test_unusable_classes_are_refused_before_anything_is_written(tmp_path, capfd, name, message):
    out = tmp_path / "o"
    assert main(["run", "--out", str(out), "--manual", f"{MUTANTS}:{name}", "--hidden", "16", "--epochs", "1"]) == 2
    assert message in capfd.readouterr().err
    assert not out.exists()


# --- what a class declares: model, loss, penalty, conventions; hooks for dropout and batchnorm -----

CS231N = "examples/cs231n/adapter.py"


class DeclaresModel(Transposed):
    weight_layout = "out_in"
    model = "linear:16,relu,linear"


class DeclaresBadConvention(DeclaresModel):
    dropout_p = "kept"


class DropoutNoMode(DeclaresModel):
    model = "linear:16,relu,dropout:0.5,linear"


class BatchnormNoBuffers(DeclaresModel):
    model = "linear:16,batchnorm,relu,linear"
    bias_shape = "flat"

    def __init__(self, sizes, config):
        super().__init__(sizes, config)
        self.p = {"W1": self.p["W1"], "b1": self.p["b1"], "g": np.ones(16), "be": np.zeros(16),
                  "W2": self.p["W2"], "b2": self.p["b2"]}

    def mode(self, training, masks):
        pass


def test_declarations_become_the_run_config():
    from comparisons.sides.byo import declared, load_class
    cls = load_class(f"{CS231N}:Adapter")
    config = declared(Config(manual=f"{CS231N}:Adapter"), cls)
    assert config.model == ("linear:100,batchnorm:cs231n:biased,relu,dropout:0.5:keep,linear:100,batchnorm:cs231n:"
                            "biased,relu,dropout:0.5:keep,linear")
    assert config.reg_convention == "cs231n"
    # the preset spells the same layers its own way: the same meaning is no conflict
    same = declared(Config(model="linear:100,batchnorm:0.9:cs231n:biased,relu,dropout:0.5:keep,linear:100,"
                                 "batchnorm:0.9:cs231n:biased,relu,dropout:0.5:keep,linear"), cls)
    assert same.model.count("biased") == 2


@pytest.mark.parametrize("extra,message", [
    (["--model", "linear:50,relu,linear"], "DeclaresModel.model = 'linear:16,relu,linear', but the run is given "
                                           "model 'linear:50,relu,linear': give it once"),
    (["--hidden", "8"], "DeclaresModel.model = 'linear:16,relu,linear' fixes the layers; leave --hidden out"),
    (["--loss", "svm", "--model", "linear:16,relu,linear", "--dtype", "float64"], None),
])
def test_a_flag_contradicting_a_declaration_is_refused(tmp_path, capfd, extra, message):
    argv = ["run", "--out", str(tmp_path / "o"), "--manual", f"{HERE}:DeclaresModel", "--epochs", "1", *extra]
    code = main(argv)
    err = capfd.readouterr().err
    if message is None:          # an agreeing --model and an undeclared loss: the run goes on (and fails: zeros)
        assert code == 1, err
        return
    assert code == 2 and err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("cls,message", [
    ("DeclaresBadConvention", "DeclaresBadConvention.dropout_p = 'kept'; choose from drop, keep"),
    ("DropoutNoMode", "DropoutNoMode has no mode(training, masks): the model's drop1 train and evaluate differently"),
    ("BatchnormNoBuffers", "BatchnormNoBuffers has no buffers(): the model keeps bn1.running_mean, bn1.running_var"),
])
def test_missing_hooks_and_unknown_conventions_are_one_line_exit_2(tmp_path, capfd, cls, message):
    assert main(["run", "--out", str(tmp_path / "o"), "--manual", f"{HERE}:{cls}", "--epochs", "1"]) == 2
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and message in err, err


def test_a_contradicting_token_flag_is_refused():
    from comparisons.errors import InputError
    from comparisons.sides.byo import declared

    class Drops(DeclaresModel):
        model = "linear:16,dropout:0.8:keep,linear"
        dropout_p = "drop"
    with pytest.raises(InputError, match="model token 'dropout:0.8:keep' says keep, but Drops.dropout_p = 'drop'"):
        declared(Config(), Drops)


@pytest.mark.parametrize("cls", ["Adapter", "NoBnMomentum", "NoBiasedVar"])
def test_conventions_declared_by_the_class_reach_the_torch_side(tiny_data, cls):
    """The cs231n network passes with its declarations; with bn_momentum or bn_running_var left out
    (tests/undeclared.py) torch keeps other running statistics, and the buffer rows say so."""
    manual = f"{CS231N}:Adapter" if cls == "Adapter" else f"tests/undeclared.py:{cls}"
    result = run(Config(epochs=1, batch_size=100, reg="l2:0.01", optimizer="momentum:form=cs231n,momentum=0.9",
                        init="normal:0.01", dtype="float64", mode="synced", manual=manual), tiny_data)
    if cls == "Adapter":
        assert result.passed, result.first_failure
    else:
        assert (result.first_failure["step"], result.first_failure["quantity"]) == (1, "buffer"), result.first_failure


def test_messages_name_your_array_at_your_index(tiny_data):
    """A failure at fc1.weight (out, in) is the student's W1 (in, out): the index is given both ways."""
    result = run(Config(hidden=(32,), epochs=1, lr=0.05, init_velocity=1e-3, dtype="float64", mode="synced",
                        manual="tests/mutants.py:NoReluDerivative"), tiny_data)
    message = result.first_failure["message"]
    at = message.split(" at (")[-1].split(")")[0]
    i, j = (int(v) for v in at.split(","))
    assert message.endswith(f"(your W1[{j}, {i}])"), message


def test_your_own_optimizer_state_is_compared_and_a_slip_in_it_named(tiny_data):
    """A class with its own Adam (tests/own_optim.py) passes, its exp_avg/exp_avg_sq/step compared every step
    under its own names; without bias correction the update stage names the slip."""
    base = dict(hidden=(32,), epochs=1, lr=1e-3, dtype="float64", mode="synced")
    result = run(Config(**base, manual="tests/own_optim.py:OwnAdam"), tiny_data)
    assert result.passed, result.first_failure
    state = result.frame[result.frame.quantity == "state"]
    assert {"fc1.weight.exp_avg", "fc1.weight.exp_avg_sq", "fc1.weight.step"} <= set(state.name)
    assert "W1.exp_avg_sq" in set(state.yours)
    result = run(Config(**base, manual="tests/own_optim.py:OwnAdamNoBiasCorrection"), tiny_data)
    assert result.first_failure["quantity"] == "update", result.first_failure
    assert "the bias correction is missing" in " ".join(result.summary["diagnosis"]["findings"])


def test_own_step_without_its_state_is_refused(tmp_path, capfd):
    argv = ["run", "--out", str(tmp_path / "o"), "--manual", "tests/mutants.py:InplaceGradStep", "--hidden", "16",
            "--optimizer", "adam", "--epochs", "1"]
    assert main(argv) == 2
    assert "has its own step() but no optimizer_state(): the state of its" in capfd.readouterr().err


def test_a_state_dict_that_does_not_fit_is_refused_before_the_run(tmp_path, capfd):
    argv = ["run", "--out", str(tmp_path / "o"), "--manual", "tests/own_optim.py:OwnAdamBadState", "--hidden", "16",
            "--epochs", "1"]
    assert main(argv) == 2
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and "optimizer_state() 'W1.exp_avg' of 'W1' has shape (16, 784), expected (784, 16)" \
        in err, err
    assert not (tmp_path / "o").exists()


def test_a_convention_of_the_wrong_type_is_one_line():
    from comparisons.errors import InputError
    from comparisons.sides.byo import declared

    class ListConvention(DeclaresModel):
        dropout_p = ["keep"]
    with pytest.raises(InputError, match=r"ListConvention.dropout_p = \['keep'\]; choose from drop, keep"):
        declared(Config(), ListConvention)


def test_errors_name_the_api_argument_from_python_and_the_flag_from_the_command_line(tmp_path, capfd):
    from comparisons.errors import InputError
    with pytest.raises(InputError, match=r"^manual='no_such_module:Cls': cannot import no_such_module: "
                                         r"ModuleNotFoundError"):
        run(Config(manual="no_such_module:Cls"), out=tmp_path / "o")
    assert main(["run", "--out", str(tmp_path / "o"), "--manual", "no_such_module:Cls"]) == 2
    assert capfd.readouterr().err.startswith("lockstep: error: --manual no_such_module:Cls: cannot import "
                                             "no_such_module: ModuleNotFoundError")
    with pytest.raises(InputError, match=r"^out is empty"):       # the command line's words did not stay behind
        run(Config(), out=" ")


def test_a_class_file_rewritten_in_place_is_imported_again(tmp_path, monkeypatch):
    """A notebook rewrites its class with %%writefile and runs again: the new code is the one checked."""
    import os

    from comparisons.sides.byo import load_class
    monkeypatch.chdir(tmp_path)
    source = tmp_path / "net.py"
    source.write_text("class Net:\n    version = 1\n" + "".join(
        f"    def {m}(self, *a):\n        pass\n" for m in ("parameters", "forward", "backward")))
    assert load_class("net.py:Net").version == 1
    source.write_text(source.read_text().replace("version = 1", "version = 2"))
    os.utime(source, ns=(source.stat().st_atime_ns, source.stat().st_mtime_ns + 1_000_000))  # a coarse clock
    assert load_class("net.py:Net").version == 2
    assert load_class("net.py:Net") is load_class("net.py:Net")          # unchanged: imported once


# --- a class that edits arrays in place: intermediates that share memory ---------------------------

INPLACE = str(Path(__file__).resolve().parent / "students" / "inplace_net.py")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("cls", ["Backward", "Forward"])
def test_a_correct_class_that_edits_in_place_passes(cls, dtype, tiny_data):
    """cs231n's relu_backward (dx = dout; dx[x <= 0] = 0) makes the exposed fc2.dx the same array as relu1.dx;
    a ReLU written over Z1 makes fc1.out relu1.out's array. The training is right: the run passes, and the
    value whose array was written over is not compared (found 2026-12-03: both failed at that value)."""
    from comparisons.lockstep import Lockstep
    from comparisons.record.recorder import Recorder
    config = Config(hidden=(16,), epochs=1, batch_size=10, lr=0.05, dtype=dtype, manual=f"{INPLACE}:{cls}")
    lock = Lockstep(config, tiny_data.astype(np.dtype(dtype)))
    lock.recorder = Recorder(None)
    rows = []
    record = lock.record

    def keep(results):
        rows.extend((r.quantity, r.name) for r, _ in results if r.phase == "step")
        return record(results)
    lock.record = keep
    lock.train(bar=type("Bar", (), {"update": lambda self: None})())
    assert lock.tracker.first_failure is None, lock.tracker.first_failure
    gone, kept = (("dx", "fc2"), ("dx", "relu1")) if cls == "Backward" else (("out", "fc1"), ("out", "relu1"))
    assert lock.handed_on == {f"{gone[1]}.{gone[0]}": f"{kept[1]}.{kept[0]}"}
    assert gone not in rows and kept in rows


def test_a_slip_behind_an_in_place_edit_still_fails_and_says_why(tiny_data):
    """dH twice too large, then edited in place into dZ1: relu1.dx (and the gradients) carry the slip."""
    result = run(Config(hidden=(16,), epochs=1, batch_size=10, lr=0.05, dtype="float64",
                        manual=f"{INPLACE}:BackwardSlip"), tiny_data)
    assert not result.passed
    assert result.first_failure["quantity"] in ("dx", "grad")
    from comparisons.explain.diagnosis import diagnosis_text
    text = diagnosis_text(result.summary["diagnosis"])
    assert "a constant factor: manual = 2 × reference" in text
    assert "fc2.dx is not compared: its array is also relu1.dx's (written over in place, or handed on as is)" in text

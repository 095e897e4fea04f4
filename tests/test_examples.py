"""The course examples (examples/cs231n, examples/dls): each student network, unchanged behind its
adapter, passes in both dtypes and modes; its deliberate slip fails at the layer it is in, named."""
from pathlib import Path

import pytest

from comparisons import Config, run
from comparisons.data.builtin import images, sequences, synthetic
from comparisons.data.presets import load_preset

CS231N = "examples/cs231n/adapter.py"
DLS = "examples/dls/adapter.py"
DLS_CNN = "examples/dls/cnn_adapter.py"
DLS_RNN = "examples/dls/rnn_adapter.py"
CASES = {CS231N: ("cs231n-fc", "class", {"epochs": 2}), DLS: ("dls-deep", "binary", {"epochs": 8}),
         DLS_CNN: (None, "images", {"epochs": 1, "batch_size": 50, "lr": 0.05}),
         DLS_RNN: (None, "onehot sequences", {"epochs": 1, "batch_size": 20, "lr": 0.5, "momentum": 0.0})}


def _run(adapter: str, cls: str, out=None, **extra):
    preset, task, settings = CASES[adapter]
    config = Config(**((load_preset(preset) if preset else {}) | settings | {"manual": f"{adapter}:{cls}"} | extra))
    sizes = (300, 60, 60)
    data = (images(seed=3, sizes=sizes) if task == "images" else sequences(seed=3, sizes=sizes, onehot=True)
            if task == "onehot sequences" else synthetic(seed=3, sizes=sizes, task=task))
    return run(config, data, out)


@pytest.mark.parametrize("dtype,mode", [("float64", "synced"), ("float64", "free"), ("float32", "synced"),
                                        ("float32", "free")])
@pytest.mark.parametrize("adapter", [CS231N, DLS, DLS_CNN, DLS_RNN])
def test_course_example_passes(adapter, dtype, mode):
    result = _run(adapter, "Adapter", dtype=dtype, mode=mode)
    assert result.passed, result.first_failure
    frame = result.frame
    assert {"out", "dx", "grad", "update"} <= set(frame.quantity)      # per layer, every step
    if adapter == CS231N:
        assert {"buffer", "state"} <= set(frame.quantity) and "drop2" in set(frame[frame.quantity == "dx"].name)
    yours = frame[frame.quantity == "grad"].set_index("name").yours.to_dict()
    if adapter == DLS_RNN:       # time last, one bias: Wax is rnn1.weight_ih_l0, ba its only bias
        assert yours["rnn1.weight_ih_l0"] == "Wax" and yours["rnn1.bias_ih_l0"] == "ba"
        assert "rnn1.bias_hh_l0" not in set(frame.name) and {"rnn1", "tfc1"} <= set(frame[frame.quantity == "out"].name)
    else:
        first = "conv1" if adapter == DLS_CNN else "fc1"
        assert yours[f"{first}.weight"] == "W1" and yours[f"{first}.bias"] == "b1"
    recorded = result.summary["config"]["manual"]        # absolute: it means the same in a CI artifact
    assert Path(recorded.rpartition(":")[0]).is_absolute() and recorded.endswith(f"{adapter}:Adapter")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cs231n_slip_is_named_at_its_dropout(dtype):
    """fc_net_slip.py: dropout's backward without 1/p (keep 0.5): drop2's dx is half the reference."""
    result = _run(CS231N, "WithSlip", dtype=dtype, epochs=1, fail_fast=True)
    first = result.first_failure
    assert not result.passed and (first["step"], first["quantity"], first["name"]) == (1, "dx", "drop2"), first
    diagnosis = result.summary["diagnosis"]
    assert "drop2 (dropout) > dx" in diagnosis["first_divergence"]
    assert "a constant factor: manual = 0.5 × reference" in diagnosis["findings"][0], diagnosis


def test_the_report_names_the_students_arrays(tmp_path):
    from comparisons.report.write import write_report
    _run(DLS, "WithSlip", out=tmp_path / "run", epochs=1, fail_fast=True)
    report = write_report(tmp_path / "run")
    text = Path(report.markdown).read_text(encoding="utf-8")
    assert "step 1 > grad > fc4.bias (your b4)" in text, text[:2000]
    lines = text.splitlines()
    verdict = next(i for i, line in enumerate(lines) if line.startswith("**FAILED"))
    assert lines[verdict + 2].startswith("**Cause: backward > fc4 (linear) > grad fc4.bias: a constant factor")
    assert "Next: run it again with `dtype='float64', mode='synced'`" in text     # rendered from Python: its words
    assert "lockstep audit" not in text and "comparisons.audit" not in text   # MLP classes only: no advice that fails


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dls_slip_is_named_at_its_bias_gradient(dtype):
    """deep_nn_slip.py: db without 1/m: the last layer's bias gradient is m times the reference, and the
    message names the student's array in its own layout (b4 is (1, 1): index [0, 0])."""
    result = _run(DLS, "WithSlip", dtype=dtype, epochs=1, fail_fast=True)
    first = result.first_failure
    assert (first["step"], first["quantity"], first["name"]) == (1, "grad", "fc4.bias"), first
    assert "(your b4[0, 0])" in first["message"]
    finding = result.summary["diagnosis"]["findings"][0]
    assert "fc4.bias: a constant factor: manual = 300 × reference (= N = 300, the batch size" in finding, finding


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dls_cnn_slip_is_localised_at_its_conv_bias(dtype):
    """cnn_slip.py (NHWC, conv_layout = "nhwc"): db = 1/m sum(dZ) where dZ already has the 1/m: the first
    failure is the last conv's bias gradient, named in the student's (1, 1, 1, C) layout, and the diagnosis
    names the factor 1/N at both conv biases (and nothing else)."""
    result = _run(DLS_CNN, "WithSlip", dtype=dtype, fail_fast=True)
    first = result.first_failure
    assert (first["step"], first["quantity"], first["name"]) == (1, "grad", "conv2.bias"), first
    assert "(your b2[0, 0, 0, " in first["message"], first["message"]
    diagnosis = result.summary["diagnosis"]
    assert diagnosis["first_divergence"] == "backward > conv2 (conv) > grad conv2.bias", diagnosis
    assert [f.split(":")[0] for f in diagnosis["findings"]] == ["backward > conv2 (conv) > grad conv2.bias",
                                                               "backward > conv1 (conv) > grad conv1.bias"]
    assert all("a constant factor: manual = 0.02 × reference (= 1/N = 1/50)" in f for f in diagnosis["findings"])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dls_rnn_slip_is_named_a_sum_over_time_cut_short(dtype):
    """rnn_slip.py (time last, one bias): dWax = dWaxt in the loop where += was meant: the first failure is
    rnn1.weight_ih_l0 (your Wax), and the diagnosis names the first time step's term alone."""
    result = _run(DLS_RNN, "WithSlip", dtype=dtype, fail_fast=True)
    first = result.first_failure
    assert (first["step"], first["quantity"], first["name"], first["yours"]) == (1, "grad", "rnn1.weight_ih_l0",
                                                                                "Wax"), first
    assert result.summary["diagnosis"]["findings"] == [
        "backward > rnn1 (rnn) > grad rnn1.weight_ih_l0: a sum over time cut short: manual = the term of time step "
        "t = 0 (the first) alone, where the reference sums the terms of all T = 12 time steps"]


def test_nhwc_arrays_without_the_declaration_are_refused_naming_the_layout(tmp_path, capfd):
    """The DLS CNN's arrays with conv_layout left at its default: one line naming the array, the layout it
    has and the declaration it needs, exit 2."""
    from comparisons.cli.main import main
    adapter = tmp_path / "undeclared.py"
    adapter.write_text(f"import sys\nsys.path.insert(0, {str(Path(DLS_CNN).resolve().parent)!r})\n"
                       "import cnn_adapter\n\n\nclass Undeclared(cnn_adapter.Adapter):\n    conv_layout = 'nchw'\n")
    code = main(["run", "--data", "builtin:images", "--manual", f"{adapter}:Undeclared", "--epochs", "1",
                 "--out", str(tmp_path / "run")])
    err = capfd.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert "'W1' has shape (3, 3, 1, 4), expected (4, 1, 3, 3) for conv1.weight (nchw layout) (that is the nhwc " \
           "layout: declare conv_layout = 'nhwc'?)" in err[0], err


SOLVER = "examples/cs231n/solver_adapter.py"
RULES = {"SgdMomentum": (1e-2, "the update follows Nesterov momentum where plain momentum is declared"),
         "RMSProp": (1e-2, "the decay and its complement are swapped"),
         "Adam": (1e-3, "the bias correction is missing")}


@pytest.mark.parametrize("dtype,mode", [("float64", "synced"), ("float32", "free")])
@pytest.mark.parametrize("rule", list(RULES))
def test_cs231n_update_rules_pass_with_their_state_compared(rule, dtype, mode, tiny_data):
    """cs231n's optim.py through its Solver's loop (state in config dicts, exposed by optimizer_state())."""
    result = run(Config(lr=RULES[rule][0], epochs=1, dtype=dtype, mode=mode, manual=f"{SOLVER}:{rule}"), tiny_data)
    assert result.passed, result.first_failure
    state = result.frame[(result.frame.quantity == "state") & (result.frame.step > 0)]
    assert len(state) and state.yours.str.startswith("W1.").any()


@pytest.mark.parametrize("rule", list(RULES))
def test_cs231n_update_rule_slips_are_named(rule, tiny_data):
    result = run(Config(lr=RULES[rule][0], epochs=1, dtype="float64", mode="synced", fail_fast=True,
                        manual=f"{SOLVER}:{rule}Slip"), tiny_data)
    first = result.first_failure
    assert (first["step"], first["quantity"]) == (1, "update"), first
    assert RULES[rule][1] in " ".join(result.summary["diagnosis"]["findings"]), result.summary["diagnosis"]

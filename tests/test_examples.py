"""The course examples (examples/cs231n, examples/dls): each student network, unchanged behind its
adapter, passes in both dtypes and modes; its deliberate slip fails at the layer it is in, named."""
from pathlib import Path

import pytest

from comparisons import Config, run
from comparisons.data.builtin import synthetic
from comparisons.data.presets import load_preset

CS231N = "examples/cs231n/adapter.py"
DLS = "examples/dls/adapter.py"
CASES = {CS231N: ("cs231n-fc", "class", {"epochs": 2}), DLS: ("dls-deep", "binary", {"epochs": 8})}


def _run(adapter: str, cls: str, out=None, **extra):
    preset, task, settings = CASES[adapter]
    config = Config(**(load_preset(preset) | settings | {"manual": f"{adapter}:{cls}"} | extra))
    return run(config, synthetic(seed=3, sizes=(300, 60, 60), task=task), out)


@pytest.mark.parametrize("dtype,mode", [("float64", "synced"), ("float64", "free"), ("float32", "synced"),
                                        ("float32", "free")])
@pytest.mark.parametrize("adapter", [CS231N, DLS])
def test_course_example_passes(adapter, dtype, mode):
    result = _run(adapter, "Adapter", dtype=dtype, mode=mode)
    assert result.passed, result.first_failure
    frame = result.frame
    assert {"out", "dx", "grad", "update"} <= set(frame.quantity)      # per layer, every step
    if adapter == CS231N:
        assert {"buffer", "state"} <= set(frame.quantity) and "drop2" in set(frame[frame.quantity == "dx"].name)
    yours = frame[frame.quantity == "grad"].set_index("name").yours.to_dict()
    assert yours["fc1.weight"] == "W1" and yours["fc1.bias"] == "b1"
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
    assert "Next: re-run with `--dtype float64 --mode synced`" in text
    assert "lockstep audit" not in text          # audit checks MLP classes only: no advice that would exit 2


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

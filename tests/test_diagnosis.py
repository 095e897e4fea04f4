"""Wrong implementations are caught at the step where the slip first acts, and the diagnosis
names the right cause or says only where the sides differ: never a wrong cause.

tests/mutants.py holds the slips the first diagnosis was built from; tests/mutants_new.py holds
kinds it lacked, written after the general mechanism (relations between a stage's manual value
and its recomputation from the manual side's own inputs) was in place.
"""
from pathlib import Path

import numpy as np
import pytest

from comparisons import Config, run
from comparisons.explain import relations
from comparisons.explain.relations import Context

HERE = Path(__file__).parent
CONFIG = dict(hidden=(32,), epochs=1, batch_size=100, lr=0.05, momentum=0.9, init_velocity=1e-3)
RUNS = [("float64", "synced"), ("float32", "free"), ("float32", "synced"), ("float64", "free")]

# name -> (step it first acts, first divergence, words the first finding must contain)
MUTANTS = {
    "MissingOneOverN": (1, "backward > fc2 (linear) > grad fc2.weight", "= N = 100, the batch size"),
    "SwappedTargetPrediction": (1, "backward > fc2 (linear) > grad fc2.weight", "a sign flip"),
    "MeanOverNK": (1, "backward > fc2 (linear) > grad fc2.weight", "manual = 0.1 × reference (= 1/K = 1/10"),
    "DiagonalSoftmaxJacobian": (1, "backward > fc2 (linear) > grad fc2.weight",
                                "dL/dscores equal to the reference at the labels' entries (y = 1) and 0 elsewhere"),
    "NoReluDerivative": (1, "backward > fc1 (linear) > grad fc1.weight",
                         "relu1's backward returning its incoming gradient unchanged"),
    "ReluDerivativeIsRelu": (1, "backward > fc1 (linear) > grad fc1.weight",
                             "relu1's backward multiplying its incoming gradient by its output"),
    "BiasAveraged": (1, "backward > fc2 (linear) > grad fc2.bias", "= 1/N = 1/100"),
    "TransposedGradient": (1, "backward > fc2 (linear) > grad fc2.weight", "a reshape where a transpose was meant"),
    "MomentumOnWeightsOnly": (1, "update > fc1.bias > change", "manual = -0.05·the gradient (= -1 × the learning "
                                                                 "rate 0.05), where the reference is"),
    "InitialVelocityIgnored": (0, "init > fc1.weight.momentum_buffer", "the manual value is 0 everywhere"),
    "GradientAscent": (1, "update > fc1.weight > change", "a sign flip"),
    "WeightDecay": (1, "update > fc1.weight > change", "- 0.0005·the parameter (= -0.01 × the learning rate 0.05)"),
    "Nesterov": (1, "update > fc1.weight > change", "manual = -0.095·the gradient - 0.81·the state momentum_buffer"),
    "TorchFormWithoutLr": (1, "update > fc1.weight > change",
                           "- 0.045·the state momentum_buffer before the step (= -0.9 × the learning rate 0.05)"),
    "LossSummed": (0, "forward > loss > value", "manual = 100 × reference (= N = 100, the batch size)"),
}
NEW = {
    "SkipsUpdateAtStep3": (3, "update > fc1.weight > change", "the manual value is 0 everywhere"),
    "LrAppliedTwice": (1, "update > fc1.weight > change", "a constant factor: manual = 0.05 × reference "
                                                          "(= the learning rate 0.05)"),
    "IgnoresConfigLr": (1, "update > fc1.weight > change",     # lr 0.1 = 1 - momentum: both give these numbers
                        "manual = -0.1·the gradient (= 2 × the reference's; = -(1 - momentum = 0.1); "
                        "= -2 × the learning rate 0.05)"),
    "DampenedMomentum": (1, "update > fc1.weight > change", "manual = -0.005·the gradient (= -0.1 × the learning rate"),
    "StaleGradient": (2, "update > fc1.weight > change", "0.05·the previous step's gradient"),
    "HardcodedVelocity": (0, "init > fc1.weight.momentum_buffer", "the manual value is 0.1 everywhere "
                                                                  "(the reference: 0.001 everywhere)"),
    "ClassesPermuted": (1, "backward > fc2 (linear) > grad fc2.weight", "the rows are permuted"),
    "L2GradientOnly": (1, "backward > fc2 (linear) > grad fc2.weight",
                       "an added term: manual = reference + 0.01·the parameter fc2.weight"),
    "DoubleBias": (1, "backward > fc2 (linear) > grad fc2.bias", "manual = 2 × reference"),
    "BackwardInFloat32": (1, "backward > fc2 (linear) > grad fc2.weight", "part of the manual computation runs in "
                                                                          "float32"),
    "DropsLastSample": (1, "backward > fc2 (linear) > grad fc2.weight", None),
    "HiddenBiasMissing": (2, "forward > fc1 (linear) > out", "manual = reference - 1·the parameter fc1.bias (broadcast)"),
    "StaleActivations": (2, "backward > fc2 (linear) > grad fc2.weight", None),
}
ONLY_FLOAT64 = {"BackwardInFloat32"}     # float32 arithmetic is right in a float32 run


def _check(tiny_data, module, name, expected, dtype, mode):
    step, divergence, words = expected
    result = run(Config(**CONFIG, dtype=dtype, mode=mode, manual=f"{HERE / module}:{name}"), tiny_data)
    if name in ONLY_FLOAT64 and dtype == "float32":
        assert result.passed, result.first_failure
        return
    assert result.status == "failed"
    assert result.first_failure["step"] == step, result.first_failure
    diagnosis = result.summary["diagnosis"]
    assert diagnosis["first_divergence"] == divergence, diagnosis
    first = diagnosis["findings"][0]
    assert first.startswith(divergence + ": ")
    if words is None:        # nothing reproduces the numbers: say where and how far, claim nothing
        assert first.split(": ", 1)[1].startswith(("differs throughout", "differs at", "differs only")), first
    else:
        assert words in first, first


@pytest.mark.parametrize("dtype,mode", RUNS, ids=[f"{d}-{m}" for d, m in RUNS])
@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_known_slip_is_caught_where_it_acts_and_named(tiny_data, name, dtype, mode):
    _check(tiny_data, "mutants.py", name, MUTANTS[name], dtype, mode)


@pytest.mark.parametrize("dtype,mode", RUNS, ids=[f"{d}-{m}" for d, m in RUNS])
@pytest.mark.parametrize("name", sorted(NEW))
def test_new_slip_is_caught_where_it_acts_and_never_misnamed(tiny_data, name, dtype, mode):
    _check(tiny_data, "mutants_new.py", name, NEW[name], dtype, mode)


def test_correct_student_implementation_has_no_diagnosis(tiny_data):
    result = run(Config(**CONFIG, dtype="float64", mode="synced", manual="examples/student_adapter.py:Adapter"),
                 tiny_data)
    assert result.passed, result.first_failure
    assert result.summary["diagnosis"] is None


def test_diagnosis_is_written_beside_the_record(tiny_data, tmp_path):
    run(Config(**CONFIG, manual=f"{HERE / 'mutants.py'}:Nesterov"), tiny_data, out=tmp_path)
    text = (tmp_path / "diagnosis.txt").read_text()
    assert text.startswith("diagnosis of step 1: first divergence at update > fc1.weight > change")


# --- the relations on their own ------------------------------------------------------------------

R = np.random.default_rng(0).standard_normal((20, 30))
CTX = Context(constants={"N = 100, the batch size": 100, "1/K = 1/10": 0.1, "2": 2.0})


@pytest.mark.parametrize("m,words", [
    (100 * R, "manual = 100 × reference (= N = 100, the batch size)"),
    (0.1 * R, "(= 1/K = 1/10)"), (-R, "a sign flip"), (3.7 * R, "manual = 3.7 × reference"),
    (np.zeros_like(R), "the manual value is 0 everywhere"),
    (R[::-1], "the rows are permuted"), (R[:, ::-1], "the columns are permuted"),
], ids=["N", "1/K", "sign", "unnamed-factor", "zero", "rows", "columns"])
def test_relations_reproduce_and_name(m, words):
    text, exact = relations.explain(m, R, 1e-12, CTX)
    assert exact and words in text, text


def test_a_factor_that_matches_two_constants_is_reported_as_its_value_with_both():
    ctx = Context(constants={"the learning rate 0.01": 0.01, "1/N = 1/100": 0.01})
    text, exact = relations.explain(0.01 * R, R, 1e-12, ctx)
    assert exact and "manual = 0.01 × reference (= the learning rate 0.01; = 1/N = 1/100)" in text


def test_an_added_multiple_of_an_operand_is_fitted():
    p = np.random.default_rng(1).standard_normal(R.shape)
    text, exact = relations.explain(R + 0.003 * p, R, 1e-12, Context(operands={"the parameter": p}))
    assert exact and "manual = reference + 0.003·the parameter" in text


def test_nothing_is_claimed_when_nothing_reproduces_the_numbers():
    noise = np.random.default_rng(2).standard_normal(R.shape)
    text, exact = relations.explain(R + noise, R, 1e-12, CTX)
    assert not exact and text.startswith("differs throughout")


def test_a_nearly_constant_factor_is_said_to_be_approximate():
    m = 0.1 * R * (1 + 1e-5 * np.random.default_rng(3).standard_normal(R.shape))
    text, exact = relations.explain(m, R, 1e-12, CTX)
    assert not exact and "approximately a factor 0.1" in text and "not exactly" in text

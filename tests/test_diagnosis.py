"""The mutant suite: realistic wrong implementations are caught and their diagnosis names the cause."""
from pathlib import Path

import numpy as np
import pytest

from comparisons import Config, run
from comparisons.explain.diagnosis import describe, describe_loss, describe_softmax, factors

MUTANTS = Path(__file__).parent / "mutants.py"
# name -> (first divergence, words the finding must contain)
EXPECTED = {
    "MissingOneOverN": ("backward > grad > output.weight", "without the 1/N of the mean"),
    "SwappedTargetPrediction": ("backward > grad > output.weight", "target and prediction swapped"),
    "MeanOverNK": ("backward > grad > output.weight", "is (p - y) / (N·K)"),
    "DiagonalSoftmaxJacobian": ("backward > grad > output.weight", "its diagonal p(1 - p) only"),
    "NoReluDerivative": ("backward > grad > hidden.weight", "the ReLU derivative is missing"),
    "ReluDerivativeIsRelu": ("backward > grad > hidden.weight", "replaced by the ReLU itself"),
    "BiasAveraged": ("backward > grad > output.bias", "averaged over the batch instead of summed"),
    "TransposedGradient": ("backward > grad > output.weight", "a reshape where a transpose was meant"),
    "MomentumOnWeightsOnly": ("update > param > hidden.bias", "momentum is applied to the weights only"),
    "InitialVelocityIgnored": ("update > momentum (before step 1)", "the initial velocity is ignored"),
    "GradientAscent": ("update > param > hidden.weight", "gradient ascent"),
    "WeightDecay": ("update > param > hidden.weight", "weight decay λ = 0.01"),
    "Nesterov": ("update > param > hidden.weight", "Nesterov momentum"),
    "TorchFormWithoutLr": ("update > param > hidden.weight", "without lr in the velocity"),
    "LossSummed": ("forward > loss", "the manual loss is the sum over the N samples"),
}
CONFIG = dict(hidden=(32,), epochs=1, batch_size=100, lr=0.05, momentum=0.9, init_velocity=1e-3)


@pytest.mark.parametrize("dtype,mode", [("float64", "synced"), ("float32", "free")], ids=["f64-synced", "f32-free"])
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_mutant_is_caught_and_named(tiny_data, name, dtype, mode):
    result = run(Config(**CONFIG, dtype=dtype, mode=mode, manual=f"{MUTANTS}:{name}"), tiny_data)
    assert result.status == "failed"
    diagnosis = result.summary["diagnosis"]
    divergence, words = EXPECTED[name]
    assert diagnosis["where"] == "step 1"
    assert diagnosis["first_divergence"] == divergence
    assert any(words in finding for finding in diagnosis["findings"]), diagnosis["findings"]


def test_correct_student_implementation_has_no_diagnosis(tiny_data):
    result = run(Config(**CONFIG, dtype="float64", mode="synced", manual="examples/student_adapter.py:Adapter"),
                 tiny_data)
    assert result.passed, result.first_failure
    assert result.summary["diagnosis"] is None


def test_diagnosis_is_written_beside_the_record(tiny_data, tmp_path):
    run(Config(**CONFIG, manual=f"{MUTANTS}:Nesterov"), tiny_data, out=tmp_path)
    text = (tmp_path / "diagnosis.txt").read_text()
    assert text.startswith("diagnosis of step 1: first divergence at update > param > hidden.weight")


CTX = factors(100, 10, 0.05)


@pytest.mark.parametrize("factor,words", [(100.0, "(N = 100, the batch size)"), (0.1, "(1/K = 1/10)"),
                                          (1 / 1000, "(1/(N·K) = 1/1000)"), (-1.0, "a sign flip"),
                                          (3.7, "manual = 3.7 × reference")],
                         ids=["N", "1/K", "1/NK", "sign", "unnamed"])
def test_describe_names_constant_factors(factor, words):
    r = np.random.default_rng(0).standard_normal((20, 30))
    assert words in describe(factor * r, r, CTX)


def test_describe_finds_a_disagreement_confined_to_rows():
    r = np.random.default_rng(0).standard_normal((100, 30))
    m = r.copy()
    m[[4, 57]] *= 3
    assert describe(m, r, CTX).startswith("confined to 2 of 100 rows (4, 57)")


@pytest.mark.parametrize("ratio,reduction,words", [
    (1 / 10, "mean", "the mean over the N·K entries"), (100, "mean", "the sum over the N samples"),
    (1 / 100, "sum", "the mean over the N samples"), (1 / 1000, "sum", "the mean over the N·K entries")])
def test_describe_loss_names_the_reduction(ratio, reduction, words):
    assert words in describe_loss(2.3 * ratio, 2.3, reduction, n=100, k=10)


def test_describe_softmax_fits_the_epsilon_and_the_shift():
    logits = np.random.default_rng(0).standard_normal((50, 10)) * 3
    e = np.exp(logits - logits.max())
    probs = e / (e.sum(axis=1, keepdims=True) + 1e-5)
    text = describe_softmax(probs, logits)
    assert "ε = 1e-05" in text and "the global max of the matrix" in text

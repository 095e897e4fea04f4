"""A slip in a layer's running statistics (batchnorm's running_mean / running_var, the ``buffer`` rows) is
diagnosed as its own stage: recomputed from the manual side's own input to the layer and its buffers
before the step, under the run's declared conventions; a declared alternative of the conventions acting on
the buffer (manual/conventions.py BN_MOMENTUM's forms, BN_RUNNING_VAR's variances, both) that reproduces
the manual value is named with the model token that declares it; a slip that none reproduces is said only
to differ. Never "values the manual side does not expose": the buffer is exposed, and compared.
"""
import numpy as np
import pytest

import manual
from comparisons import Config, run
from comparisons.data.builtin import images, synthetic
from comparisons.explain.diagnosis import Diagnoser

BN = manual.BatchNorm1d
FLAT = "linear:32,{bn},relu,linear"
# 7 x 7 images, 490 values per channel, the batch weighted 0.9: running_var's unbiased factor 490/489 stands
# well clear of float32's rounding (at 28 x 28 with torch's 0.1 it is within it: both pass, rightly)
SPATIAL = "maxpool:4,conv:4:3:1:1,{bn},relu,flatten,linear"
NOT_EXPOSED = "does not expose"


class BiasedRunningVar(BN):
    """np.var in running_var (cs231n's batchnorm_forward) whatever the token declares."""
    def __init__(self, *a, running_var="unbiased", **kw):
        super().__init__(*a, running_var="biased", **kw)


class UnbiasedRunningVar(BN):
    def __init__(self, *a, running_var="unbiased", **kw):
        super().__init__(*a, running_var="unbiased", **kw)


class OtherMomentumForm(BN):
    """The token's momentum number written into the other form: torch's m = 0.1 in cs231n's
    r <- m r + (1 - m) batch (the new value weighted 0.9), or cs231n's 0.9 in torch's."""
    def __init__(self, *a, momentum=0.1, **kw):
        super().__init__(*a, momentum=1 - momentum, **kw)


class OtherFormAndBiased(BN):
    def __init__(self, *a, momentum=0.1, running_var="unbiased", **kw):
        super().__init__(*a, momentum=1 - momentum, running_var="biased", **kw)


class MeanWrongSign(BN):
    """running_mean <- (1 - m) running_mean - m batch mean: no convention does that."""
    def forward(self, x, train=True):
        before = self.buffers["running_mean"].copy()
        out = super().forward(x, train)
        if train:
            mean = x.mean(axis=(0, 2, 3) if x.ndim == 4 else 0)
            self.buffers["running_mean"][...] = (1 - self.momentum) * before - self.momentum * mean
        return out


def _run(monkeypatch, cls, model, dtype):
    monkeypatch.setattr(manual, "BatchNorm1d", cls)
    spatial = model.startswith(("conv", "maxpool"))
    data = images(seed=5, sizes=(40, 10, 10)) if spatial else synthetic(seed=5, sizes=(120, 40, 40))
    result = run(Config(model=model, epochs=1, batch_size=10, lr=0.05, momentum=0.9, dtype=dtype, mode="synced",
                        fail_fast=True), data)
    assert result.status == "failed"
    assert result.first_failure["step"] == 1 and result.first_failure["quantity"] == "buffer", result.first_failure
    diagnosis = result.summary["diagnosis"]
    assert not any(NOT_EXPOSED in f for f in diagnosis["findings"]), diagnosis
    return diagnosis


# (slip, bn token, buffer that first diverges, words its finding must hold)
NAMED = {
    "biased": (BiasedRunningVar, "batchnorm", "running_var",
               ["running_var moves towards the biased batch variance (sum / N", "cs231n's batchnorm_forward",
                "the run declares that running_var moves towards the unbiased batch variance",
                "declares what the manual side computes: batchnorm:biased (this layer's: batchnorm)"]),
    "momentum-form": (OtherMomentumForm, "batchnorm", "running_mean",
                      ["the momentum 0.1 weighs the OLD running value (cs231n's form",
                       "the batch statistic weighted 0.9, the old value 0.1",
                       "the run declares that the momentum 0.1 weighs the NEW batch statistic (torch's form",
                       "declares what the manual side computes: batchnorm:0.1:cs231n (this layer's: batchnorm)"]),
    "cs231n-declared-unbiased": (UnbiasedRunningVar, "batchnorm:cs231n:biased", "running_var",
                                 ["running_var moves towards the unbiased batch variance (sum / (N - 1)",
                                  "the run declares that running_var moves towards the biased batch variance",
                                  "declares what the manual side computes: batchnorm:cs231n "]),
    "cs231n-declared-torch-form": (OtherMomentumForm, "batchnorm:0.9:cs231n", "running_mean",
                                   ["the momentum 0.9 weighs the NEW batch statistic (torch's form",
                                    "the run declares that the momentum 0.9 weighs the OLD running value",
                                    "declares what the manual side computes: batchnorm:0.9 "]),
}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("slip", sorted(NAMED))
def test_a_running_statistics_slip_of_another_convention_is_named(monkeypatch, slip, dtype):
    cls, bn, buffer, words = NAMED[slip]
    diagnosis = _run(monkeypatch, cls, FLAT.format(bn=bn), dtype)
    label = f"buffer > bn1 (batchnorm) > {buffer}"
    assert diagnosis["first_divergence"] == label, diagnosis
    first = diagnosis["findings"][0]
    assert first.startswith(label + ": "), first
    for w in words:
        assert w in first, (w, first)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_both_conventions_at_once_are_named_together_on_running_var(monkeypatch, dtype):
    diagnosis = _run(monkeypatch, OtherFormAndBiased, FLAT.format(bn="batchnorm"), dtype)
    var = next(f for f in diagnosis["findings"] if f.startswith("buffer > bn1 (batchnorm) > running_var: "))
    assert "cs231n's form" in var and "the biased batch variance" in var, var
    assert "batchnorm:0.1:cs231n:biased" in var, var
    mean = next(f for f in diagnosis["findings"] if f.startswith("buffer > bn1 (batchnorm) > running_mean: "))
    assert "batchnorm:0.1:cs231n " in mean and "variance" not in mean, mean    # a variance acts not on the mean


@pytest.mark.parametrize("dtype,cls,buffer,token", [
    ("float64", BiasedRunningVar, "running_var", "batchnorm:0.9:biased"),
    ("float32", BiasedRunningVar, "running_var", "batchnorm:0.9:biased"),
    ("float64", OtherMomentumForm, "running_mean", "batchnorm:0.9:cs231n"),
    ("float32", OtherMomentumForm, "running_mean", "batchnorm:0.9:cs231n"),
], ids=["biased-f64", "biased-f32", "form-f64", "form-f32"])
def test_spatial_batchnorm_running_statistics_slips_are_named(monkeypatch, dtype, cls, buffer, token):
    diagnosis = _run(monkeypatch, cls, SPATIAL.format(bn="batchnorm:0.9"), dtype)
    assert diagnosis["first_divergence"] == f"buffer > bn1 (batchnorm) > {buffer}", diagnosis
    first = diagnosis["findings"][0]
    assert "N = 490 values per channel" in first or "cs231n's form" in first, first
    assert f"{token} (this layer's: batchnorm:0.9)" in first, first


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("model", [FLAT, SPATIAL], ids=["flat", "spatial"])
def test_a_running_statistics_slip_no_convention_reproduces_names_none(monkeypatch, dtype, model):
    diagnosis = _run(monkeypatch, MeanWrongSign, model.format(bn="batchnorm:0.9"), dtype)
    assert diagnosis["first_divergence"] == "buffer > bn1 (batchnorm) > running_mean", diagnosis
    first = diagnosis["findings"][0]
    assert "model token" not in first and "cs231n" not in first and "torch's form" not in first, first
    assert "sign flip" in first, first      # step 1 starts from running_mean = 0: manual = -reference


# --- when every stage checked passes ----------------------------------------------------------------

class _Row:
    def __init__(self, quantity, name):
        self.quantity, self.name = quantity, name


def _nothing_found(results, mv, checked, derived):
    d = Diagnoser.__new__(Diagnoser)
    d.results, d.mv, d.checked, d.derived = results, mv, checked, derived
    return d.nothing_found()


def test_a_failed_row_no_stage_recomputes_is_said_to_differ_not_to_be_unexposed():
    message = "step 3 > state > lr: manual 0.05, torch 0.025"
    found = _nothing_found([(_Row("state", "lr"), message)], {("state", "lr"): np.float64(0.05)},
                           {("update", "fc1.weight")}, derived={("out", "fc1"): np.zeros(2)})
    assert len(found) == 1 and NOT_EXPOSED not in found[0], found
    assert found[0].startswith("state > lr: manual 0.05, torch 0.025"), found


def test_not_exposed_is_said_only_when_a_stage_input_was_not_exposed():
    row = (_Row("grad", "fc1.weight"), "step 1 > grad > fc1.weight: rel_l2 ...")
    mv, checked = {("grad", "fc1.weight"): np.zeros(2)}, {("grad", "fc1.weight")}
    assert NOT_EXPOSED in _nothing_found([row], mv, checked, derived={("out", "fc1"): np.zeros(2)})[0]
    everything_exposed = _nothing_found([row], mv, checked, derived={})
    assert NOT_EXPOSED not in everything_exposed[0] and "grad fc1.weight" in everything_exposed[0], everything_exposed


@pytest.mark.parametrize("cls,buffer,declaration", [
    ("NoBnMomentum", "running_mean", 'a class declares it with bn_momentum = "cs231n"'),
    ("NoBiasedVar", "running_var", 'a class declares it with bn_running_var = "biased"'),
])
def test_a_class_missing_its_batchnorm_declaration_is_told_the_attribute(tiny_data, cls, buffer, declaration):
    """The cs231n example with bn_momentum or bn_running_var left out (tests/undeclared.py): the diagnosis names
    the convention its running statistics follow and the class attribute that declares it."""
    result = run(Config(epochs=1, batch_size=100, reg="l2:0.01", optimizer="momentum:form=cs231n,momentum=0.9",
                        init="normal:0.01", dtype="float64", mode="synced", manual=f"tests/undeclared.py:{cls}",
                        fail_fast=True), tiny_data)
    diagnosis = result.summary["diagnosis"]
    assert diagnosis["first_divergence"] == f"buffer > bn1 (batchnorm) > {buffer}", diagnosis
    assert declaration in diagnosis["findings"][0], diagnosis

"""The referee's own rounding, measured by its step on the samples in another order (explain/referee.py).

1. The permuted step computes the same step: for every layer kind and loss of the zoo (the specs of
   test_zoo, which cover them all), every value of the permuted referee is within float64 rounding of
   the referee's. A kind that treated the samples differently (or a dropout mask not reordered with
   them) would make the permuted step a different computation, and its distance an allowance for
   slips: the control shows this test catching that.
2. It is needed: in float64, torch's batchnorm is less accurate than its float32 kernel scaled by
   2^-29, so the float32 probes miss most of the float64 referee's own rounding; the permuted step
   sees it.
"""
import sys
from pathlib import Path

import numpy as np
import pytest

from comparisons import run
from comparisons.check import rules
from comparisons.explain import referee as referee_mod
from comparisons.lockstep import Lockstep

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_zoo import SPECS, config, data  # noqa: E402


def _every_step_refereed(monkeypatch):
    """Every row to the referee, and every referee call with all its probes."""
    monkeypatch.setattr(rules, "DIRECT", {k: -1.0 for k in rules.DIRECT})

    def refereed(recompute, rejudge):
        recomputed = recompute(referee_mod.PERTURBED)
        return recomputed, rejudge(recomputed)
    monkeypatch.setattr(Lockstep, "refereed", staticmethod(refereed))


def _spy(monkeypatch):
    """The probes of every referee step and evaluation that ran its permuted step."""
    seen = []
    collect = referee_mod.Referee._collect

    def spying(self, runs, *args):
        recomputed = collect(self, runs, *args)
        if any(role == "permuted" for role, _ in runs):
            seen.append(recomputed.probes)
        return recomputed
    monkeypatch.setattr(referee_mod.Referee, "_collect", spying)
    return seen


def _distances(probes, key) -> tuple[float, float]:
    """(the permuted referee's distance from the referee, the float32 probe's from its partner, unscaled)."""
    (p32, partner, scale), *_ = probes
    permuted, ref, _ = probes[-1]                  # Referee._runs yields the permuted referee last
    return rules.rel64(permuted[key], ref[key]), rules.rel64(p32[key], partner[key])


def _worst(seen) -> tuple[float, tuple]:
    """The greatest ratio of the permuted referee's distance to the float32 probe's (unscaled), and where."""
    worst, where = 0.0, None
    for probes in seen:
        for key in probes[0][0]:
            own, f32 = _distances(probes, key)
            ratio = own / f32 if f32 > 0 else (0.0 if own == 0 else np.inf)
            if ratio > worst:
                worst, where = ratio, key
    return worst, where


@pytest.mark.parametrize("name", list(SPECS))
def test_the_permuted_step_is_the_same_step(name, monkeypatch):
    _every_step_refereed(monkeypatch)
    seen = _spy(monkeypatch)
    run(config(name, 0, "float64", "synced", epochs=1), data(SPECS[name][2]))
    assert seen, "the referee never ran its permuted step"
    worst, where = _worst(seen)
    # A value's distance between the two float64 orders against its float32 rounding: the same step is
    # float64 rounding against float32's, ~2^-29 (95 x that at the most, bn1.running_mean in float64
    # spatial norms); a value that is only rounding (a bias before a batchnorm, whose gradient is 0) is
    # that too. Measured 2026-12-03 over these specs: <= 1.1e-5 (mse's loss, a scalar whose float32
    # probe happened to land close); the control below, another computation: 1.1e7.
    assert worst <= 1e-3, f"{where}: the permuted referee is {worst:.1e} x the float32 rounding away"


def test_a_mask_not_reordered_is_caught(monkeypatch):
    """Control: the permuted step with the dropout masks left in the batch's order is another computation,
    and the check above sees it."""
    _every_step_refereed(monkeypatch)
    seen = _spy(monkeypatch)
    monkeypatch.setattr(referee_mod.Referee, "_masks", lambda self: [])
    run(config("dropout", 0, "float64", "synced", epochs=1), data(SPECS["dropout"][2]))
    worst, _ = _worst(seen)
    assert worst > 1.0


def test_it_measures_what_the_float32_probes_miss(monkeypatch):
    """float64, spatial batchnorm on batches of 100 28x28 images: the permuted referee's distance from the
    referee is far above what the float32 probes measure, scaled, for bn1's batch statistics."""
    _every_step_refereed(monkeypatch)
    seen = _spy(monkeypatch)
    run(config("spatial norms", 5, "float64", "synced", epochs=1), data(SPECS["spatial norms"][2]))
    key = ("buffer", "bn1.running_mean")
    own, f32 = _distances(next(p for p in seen if key in p[0][0]), key)       # step 1
    scaled = f32 * rules.EPS["float64"] / rules.EPS["float32"]
    # Measured 2026-12-03: float32 probe 1.1e-16 (scaled), permuted referee 8e-15.
    assert own > 10 * scaled, (own, scaled)


def test_a_probe_that_overflowed_is_left_out():
    """A float32 probe of values beyond float32's range measures nothing (NaN or Inf); the other probes
    decide, whatever their order; none finite: NaN (the row fails)."""
    import math
    ok = (np.array([1.5]), np.array([1.0]), 1e-9)
    overflowed = (np.array([np.inf]), np.array([1e87]), 2.0 ** -29)
    assert referee_mod.rounding([overflowed, ok]) == referee_mod.rounding([ok, overflowed]) == 0.5e-9
    assert math.isnan(referee_mod.rounding([overflowed]))

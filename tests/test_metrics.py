"""The difference metrics on cases whose answers are known exactly."""
import math

import numpy as np
import pytest

from comparisons.check.metrics import count_differing, scalar_diff, tensor_diff


@pytest.fixture
def r():
    return np.random.default_rng(3).standard_normal((40, 30))


def test_identical_tensors(r):
    d = tensor_diff(r.copy(), r)
    assert (d.rel_l2, d.max_abs_diff, d.cosine, d.scale) == (0.0, 0.0, 1.0, 1.0)


@pytest.mark.parametrize("factor", [2.0, 0.5, 1e4], ids=["x2", "x0.5", "x1e4"])
def test_scaled_tensor_reports_the_scale(r, factor):
    d = tensor_diff(factor * r, r)
    assert d.scale == pytest.approx(factor, rel=1e-12)
    assert d.cosine == pytest.approx(1.0, abs=1e-12)
    assert d.rel_l2 == pytest.approx(abs(factor - 1), rel=1e-12)
    assert d.manual_norm == pytest.approx(factor * np.linalg.norm(r), rel=1e-12)


def test_sign_flip(r):
    d = tensor_diff(-r, r)
    assert (d.cosine, d.scale, d.rel_l2) == (pytest.approx(-1), pytest.approx(-1), pytest.approx(2))


def test_greatest_difference_and_its_index(r):
    m = r.copy()
    m[12, 7] += 5.0
    d = tensor_diff(m, r)
    assert d.argmax == (12, 7) and d.max_abs_diff == pytest.approx(5.0)


def test_orthogonal_tensors_have_zero_cosine():
    d = tensor_diff(np.array([1.0, 0.0]), np.array([0.0, 1.0]))
    assert d.cosine == pytest.approx(0.0) and d.scale == 0.0


def test_cosine_keeps_precision_in_float32_when_tensors_nearly_agree():
    """Naive <m,r>/(|m||r|) in float32 loses ~1e-4; the derived form stays at ~1e-12 here."""
    rng = np.random.default_rng(0)
    r = rng.standard_normal(100_000).astype(np.float32)
    m = r + (1e-4 * rng.standard_normal(r.size)).astype(np.float32)
    exact = float(np.dot(m.astype(np.float64), r) / np.linalg.norm(m.astype(np.float64)) / np.linalg.norm(r.astype(np.float64)))
    assert abs(tensor_diff(m, r).cosine - exact) < 1e-10


@pytest.mark.parametrize("m,r,expected", [
    pytest.param(np.zeros(3), np.zeros(3), 0.0, id="both-zero"),
    pytest.param(np.ones(3), np.zeros(3), math.inf, id="zero-reference"),
])
def test_relative_error_is_guarded(m, r, expected):
    d = tensor_diff(m, r)
    assert d.rel_l2 == expected and math.isnan(d.cosine)


def test_float32_overflow_of_squares_falls_back_to_float64():
    m = np.full(4, 3e20, dtype=np.float32)
    d = tensor_diff(m, m * np.float32(0.5))
    assert d.rel_l2 == pytest.approx(1.0) and d.scale == pytest.approx(2.0)


def test_nan_propagates(r):
    m = r.copy()
    m[0, 0] = np.nan
    assert math.isnan(tensor_diff(m, r).rel_l2)


def test_shape_mismatch_is_an_error(r):
    with pytest.raises(ValueError, match=r"shapes differ: manual \(30, 40\), reference \(40, 30\)"):
        tensor_diff(r.T.copy(), r)


@pytest.mark.parametrize("m,r,abs_,rel_", [
    pytest.param(1.5, 1.0, 0.5, 0.5, id="plain"),
    pytest.param(0.0, 0.0, 0.0, 0.0, id="zeros"),
    pytest.param(1.0, 0.0, 1.0, math.inf, id="zero-reference"),
])
def test_scalar_diff(m, r, abs_, rel_):
    d = scalar_diff(m, r)
    assert (d.abs_diff, d.rel_diff) == (abs_, rel_)


def test_count_differing_uses_assert_close_rule():
    r = np.array([1.0, 1.0, 100.0])
    m = np.array([1.0 + 2e-5, 1.0 + 5e-6, 100.0 + 5e-5])
    # allowed: atol 1e-5 + rtol 1e-6 * |r| -> 1.1e-5, 1.1e-5, 1.1e-4
    assert count_differing(m, r, rtol=1e-6, atol=1e-5) == 1


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_reference_scale_equals_comparing_the_scaled_tensor(r, dtype):
    """Momentum is compared as v vs lr * buf without materialising lr * buf."""
    m, buf, lr = (r * 0.01 + 1e-6).astype(dtype), r.astype(dtype), 0.01
    folded, explicit = tensor_diff(m, buf, lr), tensor_diff(m, buf * dtype(lr))
    for field in ("rel_l2", "cosine", "scale", "manual_norm", "reference_norm", "max_abs_diff"):
        assert getattr(folded, field) == pytest.approx(getattr(explicit, field), rel=1e-4), field
    assert folded.argmax == explicit.argmax

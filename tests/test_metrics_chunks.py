"""tensor_diff walks big tensors in chunks and per-core shares: the answers must not
depend on where the cuts fall (forced here to many small chunks over 3 threads)."""
import math

import numpy as np
import pytest

import manual.rows
from comparisons import metrics


@pytest.fixture(params=["as-shipped", "small-chunks-3-threads"])
def cuts(request, monkeypatch):
    if request.param != "as-shipped":
        monkeypatch.setattr(metrics, "CHUNK", 7)
        monkeypatch.setattr(metrics, "_buffers", type(metrics._buffers)())
        monkeypatch.setattr(manual.rows, "MIN_ELEMENTS", 0)
        monkeypatch.setattr(manual.rows, "cores", lambda: 3)
    return request.param


def reference(m, r, scale=1.0):
    """The definitions, in float64, one pass each."""
    m64, r64 = m.astype(np.float64), r.astype(np.float64) * scale
    d = m64 - r64
    flat = int(np.argmax(np.abs(d)))
    cos = float(m64.ravel() @ r64.ravel() / np.linalg.norm(m64) / np.linalg.norm(r64))
    return {"rel_l2": np.linalg.norm(d) / np.linalg.norm(r64), "max_abs_diff": abs(float(d.flat[flat])),
            "argmax": tuple(int(i) for i in np.unravel_index(flat, m.shape)), "cosine": cos,
            "scale": float(m64.ravel() @ r64.ravel() / (r64.ravel() @ r64.ravel()))}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("scale", [1.0, 0.01])
def test_chunked_metrics_match_the_definitions(cuts, dtype, scale):
    rng = np.random.default_rng(4)
    r = rng.standard_normal((13, 11)).astype(dtype)
    m = (r * scale + 1e-3 * rng.standard_normal(r.shape)).astype(dtype)
    got, want = metrics.tensor_diff(m, r, scale), reference(m, r, scale)
    assert got.argmax == want["argmax"]
    assert got.max_abs_diff == pytest.approx(want["max_abs_diff"], rel=1e-6)
    for key in ("rel_l2", "cosine", "scale"):
        assert getattr(got, key) == pytest.approx(want[key], rel=1e-5), key


def test_greatest_difference_ties_keep_the_first_occurrence(cuts):
    r = np.zeros(50)
    m = r.copy()
    m[[9, 23, 41]] = [-2.0, 2.0, -2.0]        # equal |d| in different chunks and shares, negative first
    d = metrics.tensor_diff(m, r)
    assert (d.max_abs_diff, d.argmax) == (2.0, (9,))


def test_the_first_nan_is_the_greatest_difference(cuts):
    r = np.ones(50)
    m = r.copy()
    m[3], m[30], m[44] = 100.0, np.nan, np.nan
    d = metrics.tensor_diff(m, r)
    assert math.isnan(d.max_abs_diff) and d.argmax == (30,) and math.isnan(d.rel_l2)


def test_a_big_float32_tensor_keeps_its_precision():
    """784,000 elements (two shares of three chunks): rel_l2 of 1e-6 to ~1e-4 relative."""
    rng = np.random.default_rng(0)
    r = rng.standard_normal((1000, 784)).astype(np.float32)
    m = r + (1e-6 * rng.standard_normal(r.shape)).astype(np.float32)
    got, want = metrics.tensor_diff(m, r), reference(m, r)
    assert got.rel_l2 == pytest.approx(want["rel_l2"], rel=1e-4)
    assert got.argmax == want["argmax"] and got.max_abs_diff == pytest.approx(want["max_abs_diff"], rel=1e-6)

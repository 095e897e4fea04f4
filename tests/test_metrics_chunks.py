"""tensor_diff walks big tensors in per-core shares, with the compiled walk
(comparisons/check/_walk.c, in blocks of 512) or the NumPy walk (in chunks): the answers
must not depend on the walk or on where the cuts fall (forced here to many small
chunks over 3 threads)."""
import math
import os
import shutil
import sys

import numpy as np
import pytest

import comparisons.check.shares as shares_module
from comparisons.check import fastwalk, metrics

WALKS = ["compiled", "numpy"]


@pytest.fixture(params=[(walk, cut) for walk in WALKS for cut in ("as-shipped", "small-chunks-3-threads")],
                ids=lambda p: "-".join(p))
def cuts(request, monkeypatch):
    walk, cut = request.param
    if walk == "compiled" and not fastwalk.AVAILABLE:
        pytest.skip("the compiled walk was not built (no C compiler at install): NumPy walk only")
    if walk == "numpy":
        monkeypatch.setattr(fastwalk, "_FUNCTIONS", {})
    if cut != "as-shipped":
        monkeypatch.setattr(metrics, "CHUNK", 7)
        monkeypatch.setattr(metrics, "_buffers", type(metrics._buffers)())
        monkeypatch.setattr(shares_module, "MIN_ELEMENTS", 0)
        monkeypatch.setattr(shares_module, "cores", lambda: 3)
    return request.param


def big(cuts) -> int:
    """Elements enough for shares and many blocks: as shipped, shares start at 2**18."""
    return 300_000 if cuts[1] == "as-shipped" else 3_000


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


def test_a_big_float32_tensor_keeps_its_precision(cuts):
    """784,000 elements (two shares of three chunks): rel_l2 of 1e-6 to ~1e-4 relative."""
    rng = np.random.default_rng(0)
    r = rng.standard_normal((1000 if cuts[1] == "as-shipped" else 10, 784)).astype(np.float32)
    m = r + (1e-6 * rng.standard_normal(r.shape)).astype(np.float32)
    got, want = metrics.tensor_diff(m, r), reference(m, r)
    assert got.rel_l2 == pytest.approx(want["rel_l2"], rel=1e-4)
    assert got.argmax == want["argmax"] and got.max_abs_diff == pytest.approx(want["max_abs_diff"], rel=1e-6)


def test_ties_across_blocks_and_shares_keep_the_first_occurrence(cuts):
    """Equal |d| in different 512-element blocks of the compiled walk and in both shares."""
    n = big(cuts)
    r = np.zeros(n, np.float32)
    m = r.copy()
    m[[100, 700, 1600, n // 2 + 1, n - 1]] = [-2.0, 2.0, -2.0, 2.0, -2.0]
    d = metrics.tensor_diff(m, r)
    assert (d.max_abs_diff, d.argmax) == (2.0, (100,))


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan], ids=["inf", "-inf", "nan"])
def test_non_finite_values_in_a_big_tensor(cuts, bad):
    """The compiled walk hands non-finite input to the NumPy walk: a NaN is the greatest
    difference wherever it is; an Inf is, unless a NaN comes first."""
    n = big(cuts)
    r = np.ones(n, np.float32)
    m = r.copy()
    m[5] = 1e30
    m[2 * n // 3] = bad
    d = metrics.tensor_diff(m, r)
    assert d.argmax == (2 * n // 3,) and not math.isfinite(d.max_abs_diff) and not math.isfinite(d.rel_l2)


def test_float32_squares_that_overflow_are_redone_in_float64(cuts):
    n = big(cuts)
    r = np.zeros(n, np.float32)
    m = r.copy()
    m[[10, n - 7]] = [3e20, -4e20]         # squares overflow float32 (max ~3.4e38)
    d = metrics.tensor_diff(m, r + 1)
    assert d.rel_l2 == pytest.approx(5e20 / math.sqrt(n), rel=1e-6) and d.argmax == (n - 7,)


@pytest.mark.skipif(sys.platform != "linux" or not shutil.which("cc"), reason="no C compiler here to build the walk")
def test_the_compiled_walk_was_built_where_a_compiler_is():
    """setup.py builds it as optional: an install with a compiler that silently fell back
    to the NumPy walk would lose the comparison's speed without a word."""
    if os.environ.get("LOCKSTEP_NUMPY_WALK", "") not in ("", "0"):
        pytest.skip("LOCKSTEP_NUMPY_WALK is set: the NumPy walk was asked for")
    assert fastwalk.AVAILABLE, "comparisons/check/_walk.c was not built: reinstall (pip install -e .) and read its output"
    import comparisons.check._walk       # the walks are the extension module's own functions
    assert callable(comparisons.check._walk.walk_based_f32)


@pytest.mark.skipif(not fastwalk.AVAILABLE, reason="the compiled walk was not built: nothing to compare")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("scale", [1.0, 0.01, 3.0], ids=["s1", "s0.01", "s3"])
def test_the_compiled_walk_agrees_with_the_numpy_walk_on_any_range(dtype, scale):
    """Sums to rounding, the greatest |d| and its index exactly, over ranges that start and
    end anywhere (as shares do), with ties planted inside and across 512-element blocks."""
    rng = np.random.default_rng(7)
    dt = np.dtype(dtype)
    for case in range(60):
        n = int(rng.integers(0, 3000))
        r = rng.standard_normal(n).astype(dtype)
        m = (r * dtype(scale) + 1e-3 * rng.standard_normal(n)).astype(dtype)
        if n > 10:
            at = rng.choice(n, size=3, replace=False)
            m[at] = r[at] * dtype(scale) + dtype(5.0)      # the same |d| three times
        lo = int(rng.integers(0, n + 1))
        hi = int(rng.integers(lo, n + 1))
        got = fastwalk.walk(m, r, scale, dt, lo, hi)
        want = metrics._walk(m, r, scale, dt, lo, hi)
        assert got[3:] == want[3:], (case, n, lo, hi)
        (dd, dr, rr), (dd0, dr0, rr0) = got[:3], want[:3]
        assert (dd, rr) == pytest.approx((dd0, rr0), rel=1e-5, abs=1e-12), (case, n, lo, hi)
        assert abs(dr - dr0) <= 1e-5 * math.sqrt(dd0 * rr0) + 1e-12, (case, n, lo, hi)   # <d,r> may cancel


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_an_update_against_its_base_is_the_walk_of_the_two_update_arrays(cuts, dtype):
    """tensor_diff(m, t, base=b) (the update rows: the compiled walk reads m, t and b once) gives
    exactly what tensor_diff(m - b, t - b) gives with the update arrays built, ties and NaN included."""
    rng = np.random.default_rng(11)
    n = big(cuts)
    b = rng.standard_normal(n).astype(dtype)
    t = b - (1e-3 * rng.standard_normal(n)).astype(dtype)
    m = t + (1e-9 * rng.standard_normal(n)).astype(dtype)
    m[[17, n // 2 + 3]] = t[[17, n // 2 + 3]] + dtype(0.5)     # the greatest |d|: 0.5 give or take rounding
    for mm, tt, bb in [(m, t, b), (m.reshape(-1, 3), t.reshape(-1, 3), b.reshape(-1, 3))]:    # n: 3 divides it
        got, want = metrics.tensor_diff(mm, tt, base=bb), metrics.tensor_diff(mm - bb, tt - bb)
        assert got.argmax == want.argmax and got.max_abs_diff == want.max_abs_diff
        for key in ("rel_l2", "cosine", "scale", "manual_norm", "reference_norm"):
            assert getattr(got, key) == pytest.approx(getattr(want, key), rel=1e-6), key
    m[n - 5] = np.nan
    got = metrics.tensor_diff(m, t, base=b)
    assert got.argmax == (n - 5,) and math.isnan(got.max_abs_diff)


@pytest.mark.skipif(not fastwalk.AVAILABLE, reason="the compiled walk was not built: nothing to compare")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_compiled_update_walk_agrees_with_the_numpy_walk_of_the_update_arrays(dtype):
    """walk_based over any range: the greatest |d| and its index exactly, the sums to rounding, against
    the NumPy walk of (m - b) and (t - b) built in the same dtype."""
    rng = np.random.default_rng(8)
    dt = np.dtype(dtype)
    for case in range(60):
        n = int(rng.integers(0, 3000))
        b = rng.standard_normal(n).astype(dtype)
        t = (b + 1e-2 * rng.standard_normal(n)).astype(dtype)
        m = (t + 1e-6 * rng.standard_normal(n)).astype(dtype)
        if n > 10:
            at = rng.choice(n, size=3, replace=False)
            m[at] = (t[at] - b[at]) + b[at] + dtype(0.25)
        lo = int(rng.integers(0, n + 1))
        hi = int(rng.integers(lo, n + 1))
        got = fastwalk.walk_based(m, t, b, dt, lo, hi)
        want = metrics._walk(m - b, t - b, 1.0, dt, lo, hi)
        assert got[3:] == want[3:], (case, n, lo, hi)
        (dd, dr, rr), (dd0, dr0, rr0) = got[:3], want[:3]
        assert (dd, rr) == pytest.approx((dd0, rr0), rel=1e-5, abs=1e-12), (case, n, lo, hi)
        assert abs(dr - dr0) <= 1e-5 * math.sqrt(dd0 * rr0) + 1e-12, (case, n, lo, hi)


@pytest.mark.skipif(not fastwalk.AVAILABLE, reason="the compiled walk was not built")
def test_the_compiled_walk_refuses_a_range_outside_its_arrays():
    a = np.zeros(10, np.float32)
    with pytest.raises(ValueError):
        fastwalk.walk(a, a, 1.0, a.dtype, 0, 11)
    with pytest.raises(ValueError):
        fastwalk.walk_based(a, a, a[:5], a.dtype, 0, 6)

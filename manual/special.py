"""erf, erfc and the normal cdf in NumPy (NumPy has none, and scipy is not a dependency): the exact
GELU's Φ(z) = (1 + erf(z / √2)) / 2 without a Python call per element (math.erf over a list took
~22 ms for 100x1000 values; docs/benchmarks.md).

For a = |x|:  erfc(a) / 2 = exp(-a²) · t · H(t - 1),  t = 2 / (1 + P a),
H a polynomial in s = t - 1 ∈ (-1, 1] (Horner), smooth and bounded on a ∈ [0, ∞]. Its coefficients
are our own, fitted by `python -m benchmarks.fit_erf` (Chebyshev least squares against mpmath at 40
digits, refined twice, turned into powers of s), one set per dtype, evaluated in that dtype:
float32 is the fast path (degree 10), float64 the accurate one (degree 24).

Errors measured by `python -m benchmarks.fit_erf` (2026-12-03) against mpmath, in units of the
dtype's eps (1.19e-7 float32, 2.22e-16 float64):
  float32: fit of H 9.0e-9 relative; erf absolute 2.40 (24,001 points on [-6, 6]); erfc relative
           32.2 on [0.5, 9]; Φ(z) relative 5.7 on z ∈ [-5, 0], 31.9 on [-12, 0]
  float64: fit of H 2.2e-16 relative; erf absolute 2.25; erfc relative 32.0; Φ(z) relative 5.0
           on [-5, 0] (5.7 on a review's grid), 33.0 on [-12, 0]
The tails' relative error is exp(-a²)'s: it takes the rounding of a² (~a² eps/2: 36 eps at z = -12).
Φ's tail is far better than torch's 0.5 (1 + erf(z / √2)), whose cancellation for z ≪ 0 loses
most digits (at z = -8, the rounding of erf near -1, 1.1e-16, against Φ = 6.2e-16). The twin test
(float64, <= 1e-12 relative against torch) needs far less.
"""
import math

import numpy as np

P = {np.dtype(np.float32): 0.4, np.dtype(np.float64): 0.4}
H = {
    np.dtype(np.float32): (0.10540318146978153, 0.0804651928827946, 0.045391452618771394, 0.017124948742894008,
                           0.0028356676182516, -0.0008383131873980309, -0.00047973611656692406,
                           4.139249849848134e-05, 6.592908094832954e-05, -2.7007129819175897e-06,
                           -7.016012918072707e-06),
    np.dtype(np.float64): (0.1054031820305718, 0.08046518494391483, 0.045391411664809776, 0.017125114524611452,
                           0.0028361550131938257, -0.0008393044304645169, -0.00048187855223196196,
                           4.3920829868031023e-05, 7.026937153992273e-05, -5.830804877434654e-06,
                           -1.1260477982408542e-05, 1.9533294764002686e-06, 1.8244143837971158e-06,
                           -6.75725579551279e-07, -2.3315873612407852e-07, 1.9679033020693016e-07,
                           -7.42219555101331e-10, -4.539779249018067e-08, 1.399551655775936e-08,
                           7.3982655009057964e-09, -5.420788114735938e-09, -6.368771241340455e-10,
                           1.156884711509152e-09, 1.7368821514923786e-12, -1.175543966337916e-10),
}


C = {dtype: tuple(dtype.type(v) for v in coefficients) for dtype, coefficients in H.items()}   # in the dtype


def _dtype(x: np.ndarray) -> np.dtype:
    if x.dtype not in H:
        raise TypeError(f"erf takes float32 or float64 arrays, not {x.dtype}")
    return x.dtype


def half_erfc_scaled(a: np.ndarray, out: np.ndarray | None = None, work: tuple | None = None) -> np.ndarray:
    """t · H(t - 1) for a = |x| >= 0 (a's dtype): erfc(a) / 2 = exp(-a²) times this. Written into
    ``out`` (a new array by default); ``work``: two arrays of a's shape for t and s (new ones by
    default; t may be ``a`` itself, which it then overwrites)."""
    dtype = _dtype(a)
    c = C[dtype]
    t, s = work if work is not None else (np.empty_like(a), np.empty_like(a))
    with np.errstate(over="ignore"):
        np.multiply(a, dtype.type(P[dtype]), out=t)     # t = 2 / (1 + P a): 0 at a = inf
    t += 1
    np.divide(dtype.type(2), t, out=t)
    np.subtract(t, 1, out=s)
    h = np.multiply(c[-1], s, out=out)   # Horner in s
    for coefficient in reversed(c[1:-1]):
        h += coefficient
        h *= s
    h += c[0]
    h *= t
    return h


def gaussian(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """exp(-z²/2), computed as ``(-0.5 z) z`` then exp, in z's dtype (the GELU's backward keeps it),
    into ``out`` (a new array by default)."""
    with np.errstate(over="ignore"):     # z² beyond the dtype: inf, and exp(-inf) = 0 as it should
        e = np.multiply(z.dtype.type(-0.5), z, out=out)
        e *= z
    return np.exp(e, out=e)


def normal_cdf(z: np.ndarray, out: np.ndarray | None = None, gauss: np.ndarray | None = None,
               work: tuple | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(Φ(z), exp(-z²/2)) for a float32 or float64 array: with h = erfc(|z| / √2) / 2, Φ(z) = h where
    z < 0 and 1 - h where z >= 0 (NaN stays NaN), chosen without a branch as |m - h| with m = (z >= 0)
    as 0 or 1 (0 <= h <= 1/2, so |0 - h| = h and |1 - h| = 1 - h): every operation is exact but the
    one 1 - h. Three passes (compare, subtract, abs: ~25-40 us per 100,000 float32 elements in the
    GELU's pieces, loaded machine); m + (1 - 2m) h, used before, gave the same bits in six. np.where
    over a random sign took ~400 us, a masked copy ~450 us, a masked subtract ~1.3 ms.
    Written into ``out`` and ``gauss`` (new arrays by default); ``work``: two float arrays and one
    bool array of z's shape (new ones by default), for a caller that evaluates it piece by piece."""
    dtype = _dtype(z)
    e = gaussian(z, out=gauss)
    t, s, m = work if work is not None else (np.empty_like(z), np.empty_like(z), np.empty(z.shape, bool))
    np.abs(z, out=t)
    t *= dtype.type(1 / math.sqrt(2))
    cdf = half_erfc_scaled(t, out=out, work=(t, s))
    cdf *= e
    np.greater_equal(z, 0, out=m)
    np.subtract(m, cdf, out=cdf)
    np.abs(cdf, out=cdf)
    return cdf, e


def erfc_nonnegative(a: np.ndarray) -> np.ndarray:
    """erfc(a) for a >= 0, in a's dtype (relative accuracy: the tails stay exact to a few ulps)."""
    h = half_erfc_scaled(a)
    with np.errstate(over="ignore"):     # a² beyond the dtype: inf, and exp(-inf) = 0 as it should
        e = -a * a
    np.exp(e, out=e)
    h *= e
    h *= a.dtype.type(2)
    return h


def erf(x: np.ndarray) -> np.ndarray:
    """erf of every element of a float32 or float64 array, in its dtype (absolute error a few eps: 2.40 and
    2.25 on the fit's grid, 3.12 in float32 at x = -0.0415 on a denser one; module docstring):
    sign(x) (1 - erfc(|x|)), so its relative error near 0 is poor (erf(1e-30) = 0); GELU uses normal_cdf."""
    x = np.asarray(x)
    return np.copysign(1 - erfc_nonnegative(np.abs(x)), x)

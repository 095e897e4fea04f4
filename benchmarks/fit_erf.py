"""Fit the coefficients of manual/special.py's erf and measure its error: `python -m benchmarks.fit_erf`.

The form (manual/special.py): for a = |x| >= 0,

    erfc(a) / 2 = exp(-a^2) * t * H(s),   t = 2 / (1 + P a) in (0, 2],   s = t - 1 in (-1, 1],

where H(s) = erfcx(a) (1 + P a) / 4 (erfcx(a) = exp(a^2) erfc(a); H is smooth and bounded on
[0, inf): 1/4 at a = 0, P / (4 sqrt(pi)) at a = inf) is a polynomial in s, evaluated by Horner.
erfc / 2 is what the GELU's cdf needs (Phi(z) = erfc(-z / sqrt 2) / 2), and t makes the product
vanish at a = inf as erfc does, so the fit's relative error is erfc's everywhere.
Its Chebyshev series is fitted by least squares on CHEB_NODES Chebyshev nodes of s (near-minimax),
the targets taken with mpmath at 40 digits, then turned into powers of s (their absolute sum stays
~1-3, so Horner loses no more than a few ulps). Each dtype has its own degree: the float32 path
(fast) and the float64 path (accurate); P is chosen per dtype among P_CHOICES by the fit's error.

The script then measures what manual/special.py computes with the coefficients it holds, in float64
and in float32, against mpmath over a dense grid and the tails, and prints both the coefficients
(to paste into manual/special.py when they change) and the errors (written next to them there).
"""
import math
import sys

import mpmath as mp
import numpy as np
from numpy.polynomial import chebyshev

CHEB_NODES = 1500
P_CHOICES = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
DEGREES = {"float32": 10, "float64": 24}
REFINE = 2


def half_erfcx(s: float, p) -> mp.mpf:
    """H(s) = erfcx(a) (1 + p a) / 4 at the a whose s = 2 / (1 + p a) - 1 (s = -1: a = inf)."""
    s = mp.mpf(s)
    if s <= -1:
        return p / (4 * mp.sqrt(mp.pi))
    a = (2 / (1 + s) - 1) / p
    return mp.erfc(a) * mp.exp(a * a) * (1 + p * a) / 4


def fit(degree: int, p: float) -> tuple[np.ndarray, float]:
    """Powers of s (lowest first) of H for this degree and P, and the fit's greatest error relative
    to H on the nodes."""
    mp.mp.dps = 40
    nodes = np.cos(np.pi * (np.arange(CHEB_NODES) + 0.5) / CHEB_NODES)
    targets = [half_erfcx(s, mp.mpf(p)) for s in nodes]
    series = chebyshev.chebfit(nodes, np.array([float(v) for v in targets]), degree)
    for _ in range(REFINE):     # least squares in float64 stops at ~2e-15: fit what is left, from mpmath
        left = [t - mp.mpf(float(g)) for t, g in zip(targets, chebyshev.chebval(nodes, series))]
        series = series + chebyshev.chebfit(nodes, np.array([float(v) for v in left]), degree)
    powers = chebyshev.cheb2poly(series)
    got = np.polynomial.polynomial.polyval(nodes, powers)
    error = max(abs(float((mp.mpf(float(g)) - t) / t)) for g, t in zip(got, targets))
    return powers, error


def best(dtype: str) -> tuple[float, np.ndarray, float]:
    fits = [(p, *fit(DEGREES[dtype], p)) for p in P_CHOICES]
    return min(fits, key=lambda f: f[2])


def measured_errors(dtype) -> dict:
    """manual/special.py's erf and normal_cdf against mpmath, in ``dtype``: the greatest absolute error
    of erf over [-6, 6] (a dense grid), the greatest relative error of erfc = 1 - erf in the tail
    (x in [0.5, 9]: where it is representable in ``dtype``) and of normal_cdf (Phi) for z in [-12, 0]
    (the GELU's cdf: relative, as Phi is computed from erfc there)."""
    from manual.special import erf, erfc_nonnegative, normal_cdf
    mp.mp.dps = 30
    x = np.linspace(-6, 6, 24001).astype(dtype)
    got = erf(x)
    want = np.array([float(mp.erf(mp.mpf(float(v)))) for v in x])
    tail = np.linspace(0.5, 9, 4001).astype(dtype)
    tail_want = np.array([float(mp.erfc(mp.mpf(float(v)))) for v in tail])
    keep = tail_want > np.finfo(dtype).tiny / np.finfo(dtype).eps     # normal numbers, not flushed
    tail_got = erfc_nonnegative(tail).astype(np.float64)
    z = np.linspace(-12, 0, 4001).astype(dtype)
    cdf_want = np.array([float(mp.ncdf(mp.mpf(float(v)))) for v in z])
    ok = cdf_want > np.finfo(dtype).tiny / np.finfo(dtype).eps
    cdf_got = normal_cdf(z)[0].astype(np.float64)
    near = z >= -5
    eps = float(np.finfo(dtype).eps)
    return {"erf abs": float(np.max(np.abs(got.astype(np.float64) - want))) / eps,
            "erfc rel (tail)": float(np.max(np.abs(tail_got[keep] / tail_want[keep] - 1))) / eps,
            "Phi rel (z in [-12, 0])": float(np.max(np.abs(cdf_got[ok] / cdf_want[ok] - 1))) / eps,
            "Phi rel (z in [-5, 0])": float(np.max(np.abs(cdf_got[near] / cdf_want[near] - 1))) / eps}


def main() -> int:
    if "--degrees" in sys.argv:      # the fit's error for other degrees (how the degrees were chosen)
        for degree in range(6, 27, 2):
            print(f"# degree {degree}: " + ", ".join(f"P {p}: {fit(degree, p)[1]:.1e}" for p in P_CHOICES))
        return 0
    for dtype in ("float32", "float64"):
        p, powers, error = best(dtype)
        print(f"# {dtype}: degree {DEGREES[dtype]}, P = {p}: fit error (relative, of H) {error:.2e}")
        print(f"P_{dtype.upper()} = {p!r}")
        print(f"H_{dtype.upper()} = (" + ", ".join(repr(float(c)) for c in powers) + ")")
    if "--fit-only" not in sys.argv:
        for dtype in (np.float32, np.float64):
            errors = measured_errors(dtype)
            print(f"# manual/special.py in {np.dtype(dtype).name}, in ulps (eps = {np.finfo(dtype).eps:.3g}): "
                  + ", ".join(f"{k} {v:.2f}" for k, v in errors.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

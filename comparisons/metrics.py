"""How far apart two tensors or two scalars are.

Tensor metrics come from three BLAS dot products on the difference d = m - r
(<d,d>, <d,r>, <r,r>) in the tensors' own dtype: no float64 copy of either.
Cosine and scale are then derived from d, which keeps them exact to ~1e-7
even when m and r agree to the last bits (computing <m,r> / (|m||r|) directly
in float32 would report 0.9999 for tensors that agree to 1e-7).
"""
import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TensorDiff:
    manual_norm: float       # ||m||
    reference_norm: float    # ||r||
    max_abs_diff: float      # max |m - r|
    argmax: tuple            # index of max |m - r|
    rel_l2: float            # ||m - r|| / ||r||  (0 if both are zero, inf if only r is)
    cosine: float            # <m, r> / (||m|| ||r||)
    scale: float             # least-squares s minimising ||m - s r||: <m, r> / <r, r>


@dataclass(frozen=True)
class ScalarDiff:
    manual: float
    reference: float
    abs_diff: float          # |m - r|
    rel_diff: float          # |m - r| / |r|  (0 if both are zero, inf if only r is)


def _ratio(num: float, den: float) -> float:
    if den > 0:
        return num / den
    return 0.0 if num == 0 else math.inf


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a.ravel(), b.ravel()))


def tensor_diff(m: np.ndarray, r: np.ndarray, r_scale: float = 1.0) -> TensorDiff:
    """Compare manual ``m`` with reference ``r_scale * r`` (same shape and dtype).

    ``r_scale`` lets a caller compare against a scaled tensor (torch's momentum
    buffer times lr) without materialising it.
    """
    if m.shape != r.shape:
        raise ValueError(f"shapes differ: manual {m.shape}, reference {r.shape}")
    d = np.multiply(r, -r_scale) if r_scale != 1.0 else -r
    d += m                                           # d = m - r_scale * r, one temporary
    with np.errstate(over="ignore"):
        dd, dr, rr = _dot(d, d), r_scale * _dot(d, r), r_scale ** 2 * _dot(r, r)
    if not all(map(math.isfinite, (dd, dr, rr))):   # float32 overflow of a square: redo wide
        d64, r64 = d.astype(np.float64), r.astype(np.float64) * r_scale
        dd, dr, rr = _dot(d64, d64), _dot(d64, r64), _dot(r64, r64)
    np.abs(d, out=d)
    flat = int(np.argmax(d)) if d.size else 0
    max_abs = float(d.flat[flat]) if d.size else 0.0
    argmax = tuple(int(i) for i in np.unravel_index(flat, m.shape)) if d.size else ()
    mm = max(rr + 2 * dr + dd, 0.0)
    if rr > 0 and mm > 0:
        a, b = dr / rr, dd / rr
        s = math.sqrt(1 + 2 * a + b)            # ||m|| / ||r||
        if 1 + a > 0:   # cos > 0: 1 - cos = (b - a^2) / (s (s + 1 + a)), no cancellation near 1
            cosine = 1.0 - max(b - a * a, 0.0) / (s * (s + 1 + a))
        else:
            cosine = (1 + a) / s
        scale = 1.0 + a
    else:
        cosine = scale = math.nan
    return TensorDiff(
        manual_norm=math.sqrt(mm), reference_norm=math.sqrt(rr), max_abs_diff=max_abs,
        argmax=argmax, rel_l2=_ratio(math.sqrt(dd), math.sqrt(rr)), cosine=cosine, scale=scale,
    )


def scalar_diff(m: float, r: float) -> ScalarDiff:
    diff = abs(m - r)
    return ScalarDiff(float(m), float(r), diff, _ratio(diff, abs(r)))


def count_differing(m: np.ndarray, r: np.ndarray, rtol: float, atol: float) -> int:
    """Elements with |m - r| > atol + rtol |r|, as torch.testing.assert_close counts them."""
    return int(np.count_nonzero(np.abs(m - r) > atol + rtol * np.abs(r)))

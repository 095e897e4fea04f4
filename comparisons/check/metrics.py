"""How far apart two tensors or two scalars are.

Tensor metrics come from three sums over the difference d = m - r (<d,d>,
<d,r>, <r,r>), taken in the tensors' own dtype (the compiled walk adds its
block sums in double; the NumPy walk uses BLAS dot products): no float64 copy
of either tensor.
Cosine and scale are then derived from d, which keeps them exact to ~1e-7
even when m and r agree to the last bits (computing <m,r> / (|m||r|) directly
in float32 would report 0.9999 for tensors that agree to 1e-7).

Cost: the lockstep loop calls this for every gradient, parameter and
velocity at every step, and NumPy makes one pass over memory per operation.
So a big tensor is cut in one share per core (check/shares.py), and each share
is walked once by the compiled walk of comparisons/check/_walk.c (fastwalk.py),
which reads every element once. Where it was not built, the NumPy walk below
does the same work in chunks of CHUNK elements: d = m - r is written into a
small buffer that stays in the core's cache, and its dot products and
extremes are taken there (no |d| written). Measured (medians, same runs,
docs/benchmarks.md): one 784,000-element float32 tensor in cache 0.27-0.33 ms
compiled (one core) against 0.57-0.91 ms NumPy (two cores); compare + record
of a lockstep step at minibatch 500: 8.8% of the step against 12.7%.
"""
import math
import threading
from dataclasses import dataclass
from functools import partial

import numpy as np

from comparisons.check import fastwalk
from comparisons.check.shares import in_parts


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


CHUNK = 1 << 17                # elements: 512 KB of float32, so chunks of m, r and d share a core's L2
_buffers = threading.local()   # per thread: dtype -> a CHUNK-long buffer for d


def _chunk_buffer(dtype) -> np.ndarray:
    kept = _buffers.__dict__.setdefault("by_dtype", {})
    dtype = np.dtype(dtype)
    if dtype not in kept:
        kept[dtype] = np.empty(CHUNK, dtype)
    return kept[dtype]


def _greatest_abs(d: np.ndarray) -> tuple[float, int]:
    """(max |d|, index of its first occurrence), from argmax and argmin of d without
    writing |d|; a NaN, if any, is the answer (both arg functions return the first NaN)."""
    hi, lo = int(np.argmax(d)), int(np.argmin(d))
    top, bottom = abs(float(d[hi])), abs(float(d[lo]))
    if math.isnan(top) or top > bottom:
        return top, hi
    if bottom > top:
        return bottom, lo
    return top, min(hi, lo)


def _walk(m: np.ndarray, r: np.ndarray, r_scale: float, dtype, lo: int, hi: int) -> tuple:
    """Over flat m[lo:hi], r[lo:hi] chunk by chunk: (<d,d>, <d,r>, <r,r>, max |d|, its flat index)
    with d = m - r_scale * r, each chunk of d written into this thread's buffer and reduced there."""
    buffer = _chunk_buffer(dtype)
    dd = dr = rr = 0.0
    max_abs, flat = 0.0, lo
    for start in range(lo, hi, CHUNK):
        ms, rs = m[start:min(start + CHUNK, hi)], r[start:min(start + CHUNK, hi)]
        d = buffer[:len(ms)]
        if r_scale != 1.0:
            np.multiply(rs, -r_scale, out=d)
            d += ms
        else:
            np.subtract(ms, rs, out=d)
        dd += _dot(d, d)
        dr += r_scale * _dot(d, rs)
        rr += r_scale ** 2 * _dot(rs, rs)
        top, at = _greatest_abs(d)
        if _greater(top, max_abs):
            max_abs, flat = top, start + at
    return dd, dr, rr, max_abs, flat


def _in_shares(walk, args: tuple, dtype) -> tuple:
    """``walk(*args, dtype, lo, hi)`` over flat arrays (args[0] first) in one share per core, combined:
    (<d,d>, <d,r>, <r,r>, max |d|, its index)."""
    shares = in_parts(partial(walk, *args, dtype), args[0].size)
    dd, dr, rr = (sum(share[i] for share in shares) for i in range(3))
    max_abs, flat = 0.0, 0
    for share in shares:            # in index order: a tie keeps the first occurrence
        if _greater(share[3], max_abs):
            max_abs, flat = share[3], share[4]
    return dd, dr, rr, max_abs, flat


def _greater(a: float, b: float) -> bool:
    """a ranks above b as the greatest |d|: larger, or the first NaN."""
    return a > b or (math.isnan(a) and not math.isnan(b))


def _unravel(flat: int, shape: tuple) -> tuple:
    """np.unravel_index for one C-order index, as Python ints (a tenth of its cost)."""
    index = []
    for size in reversed(shape):
        flat, i = divmod(flat, size)
        index.append(i)
    return tuple(reversed(index))


def tensor_diff(m: np.ndarray, r: np.ndarray, r_scale: float = 1.0, base: np.ndarray | None = None) -> TensorDiff:
    """Compare manual ``m`` with reference ``r_scale * r`` (same shape and dtype).

    ``r_scale`` lets a caller compare against a scaled tensor (torch's momentum
    buffer times lr) without materialising it. ``base`` (with r_scale 1) compares
    the updates ``m - base`` and ``r - base`` instead, each rounded in the tensors'
    dtype as NumPy rounds it: the compiled walk reads the three tensors once and
    builds neither update array; without it they are built and walked as any pair.
    """
    if m.shape != r.shape or (base is not None and base.shape != r.shape):
        raise ValueError(f"shapes differ: manual {m.shape}, reference {r.shape}"
                         + ("" if base is None else f", base {base.shape}"))
    m_flat, r_flat = m.reshape(-1), r.reshape(-1)
    dtype = r.dtype if r_scale == 1.0 else np.result_type(r, -r_scale)
    walked = None
    if base is not None:
        if r_scale != 1.0:
            raise ValueError("an update against its base is compared at scale 1")
        b_flat = base.reshape(-1)
        if m.dtype == r.dtype == base.dtype and fastwalk.usable(dtype, m_flat, r_flat, b_flat):
            walked = _in_shares(fastwalk.walk_based, (m_flat, r_flat, b_flat), dtype)
        if walked is None or not all(map(math.isfinite, walked[:4])):
            return tensor_diff(m - base, r - base)      # the update arrays, walked as any pair (NaN, overflow)
    elif fastwalk.usable(dtype, m_flat, r_flat):
        walked = _in_shares(fastwalk.walk, (m_flat, r_flat, r_scale), dtype)
        if not all(map(math.isfinite, walked[:4])):
            walked = None      # NaN or Inf: the NumPy walk finds the first NaN and redoes overflowed sums
    if walked is None:
        with np.errstate(over="ignore"):
            walked = _in_shares(_walk, (m_flat, r_flat, r_scale), dtype)
    dd, dr, rr, max_abs, flat = walked
    if not all(map(math.isfinite, (dd, dr, rr))):   # float32 overflow of a square: redo wide
        d64, r64 = m.astype(np.float64) - r.astype(np.float64) * r_scale, r.astype(np.float64) * r_scale
        dd, dr, rr = _dot(d64, d64), _dot(d64, r64), _dot(r64, r64)
    argmax = _unravel(flat, m.shape) if m.size else ()
    mm = max(rr + 2 * dr + dd, 0.0)
    s = math.sqrt(max(1 + 2 * (dr / rr) + dd / rr, 0.0)) if rr > 0 else 0.0      # ||m|| / ||r||
    if rr > 0 and mm > 0 and s > 0:             # s can round to 0 where mm does not (found by a config hunt)
        a, b = dr / rr, dd / rr
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


def _beyond_grid(m: np.ndarray, t: np.ndarray, base: np.ndarray, ulps: float, lo: int, hi: int) -> float:
    """Sum over flat [lo, hi) of max(|m - t| - ulps · spacing(max(|base|, |m|, |t|)), 0)², chunk by chunk:
    the spacing in the arrays' dtype, |m - t| exact (float64)."""
    total = 0.0
    for start in range(lo, hi, CHUNK):
        end = min(start + CHUNK, hi)
        ms, ts, bs = m[start:end], t[start:end], base[start:end]
        grid = np.spacing(np.maximum(np.maximum(np.abs(ms), np.abs(ts)), np.abs(bs))).astype(np.float64)
        left = np.abs(ms.astype(np.float64) - ts)
        left -= ulps * grid
        np.maximum(left, 0.0, out=left)
        total += _dot(left, left)
    return total


def beyond_grid(m: np.ndarray, t: np.ndarray, base: np.ndarray, ulps: float) -> float:
    """||max(|m - t| - ulps · spacing, 0)||: what is left of the difference between two parameter tensors
    after ``ulps`` spacings of the parameters' own grid per element (the spacing of the dtype at the
    largest of |base|, |m|, |t| there); NaN or Inf in, NaN out."""
    if not (m.shape == t.shape == base.shape and m.dtype == t.dtype == base.dtype):
        raise ValueError(f"beyond_grid: shapes or dtypes differ: {m.shape} {t.shape} {base.shape}")
    m, t, base = m.reshape(-1), t.reshape(-1), base.reshape(-1)
    walk = fastwalk.walk_grid if fastwalk.usable(m.dtype, m, t, base) else _beyond_grid
    with np.errstate(invalid="ignore", over="ignore"):
        total = sum(in_parts(partial(walk, m, t, base, ulps), m.size))
    return math.sqrt(total) if math.isfinite(total) else math.nan


def scalar_diff(m: float, r: float) -> ScalarDiff:
    diff = abs(m - r)
    return ScalarDiff(float(m), float(r), diff, _ratio(diff, abs(r)))


def count_differing(m: np.ndarray, r: np.ndarray, rtol: float, atol: float) -> int:
    """Elements with |m - r| > atol + rtol |r|, as torch.testing.assert_close counts them."""
    return int(np.count_nonzero(np.abs(m - r) > atol + rtol * np.abs(r)))

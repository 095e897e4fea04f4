"""The compiled one-pass walks of comparisons/check/_walk.c, when the install built it.

``walk`` gives what metrics._walk gives (<d,d>, <d,r>, <r,r>, max |d|, its flat
index) for d = m - s r over flat m[lo:hi], r[lo:hi], reading each element once
instead of six NumPy passes over it; ``walk_based`` the same for an update
against its base, m - b against r = t - b (metrics._walk_based), without the two
update arrays; ``walk_grid`` the sum metrics.beyond_grid takes (an update row on
the parameters' grid) in one pass instead of ten. They are functions of the extension module, called directly (no
ctypes), and release the GIL on big ranges, so the share of a tensor
metrics.tensor_diff hands to each core runs in parallel without the hand-offs
of the GIL that the NumPy walk pays per chunk.

AVAILABLE is False where the extension was not built (setup.py builds it as
optional: no C compiler, no harm) or when LOCKSTEP_NUMPY_WALK=1 is set (to
measure or debug the NumPy walk); metrics.py then uses its NumPy walk.
"""
import math
import os

import numpy as np

_NAMES = {np.dtype(np.float32): ("walk_f32", "walk_based_f32", "walk_grid_f32"),
          np.dtype(np.float64): ("walk_f64", "walk_based_f64", "walk_grid_f64")}


def _load() -> dict:
    """dtype -> (walk, walk_based, walk_grid) of the extension, or {} when it is absent or disabled."""
    if os.environ.get("LOCKSTEP_NUMPY_WALK", "") not in ("", "0"):
        return {}
    try:
        from comparisons.check import _walk
        return {dtype: tuple(getattr(_walk, name) for name in names) for dtype, names in _NAMES.items()}
    except (ImportError, AttributeError):     # not built, unloadable, or a stale build without these functions
        return {}


_FUNCTIONS = _load()
AVAILABLE = bool(_FUNCTIONS)


def usable(dtype: np.dtype, *arrays: np.ndarray) -> bool:
    """The walk applies to flat, contiguous, aligned arrays of one dtype, when d is computed in that dtype."""
    return dtype in _FUNCTIONS and all(a.dtype == dtype and a.flags.c_contiguous and a.flags.aligned
                                       for a in arrays)


def _answer(walked: tuple, scale: float, lo: int) -> tuple:
    dd, dr, rr, max_abs, at = walked
    if at < 0:      # the block's greatest |d| was not found again (never seen): the NumPy walk redoes it
        return dd, dr, rr, math.nan, lo
    return dd, scale * dr, scale * scale * rr, max_abs, at


def walk(m: np.ndarray, r: np.ndarray, r_scale: float, dtype, lo: int, hi: int) -> tuple:
    """Over flat m[lo:hi], r[lo:hi]: (<d,d>, <d,r_scale r>, <r_scale r, r_scale r>, max |d|, its flat index).

    max |d| is NaN when the index could not be found again (never seen): the caller
    then redoes the walk with NumPy, as it does for non-finite input."""
    return _answer(_FUNCTIONS[dtype][0](m, r, r_scale, lo, hi), r_scale, lo)


def walk_based(m: np.ndarray, t: np.ndarray, b: np.ndarray, dtype, lo: int, hi: int) -> tuple:
    """Over flat m[lo:hi], t[lo:hi], b[lo:hi]: the walk of m - b against r = t - b, with
    d = (m - b) - (t - b), each difference rounded in ``dtype`` as NumPy rounds it."""
    return _answer(_FUNCTIONS[dtype][1](m, t, b, lo, hi), 1.0, lo)


def walk_grid(m: np.ndarray, t: np.ndarray, b: np.ndarray, ulps: float, lo: int, hi: int) -> float:
    """Over flat m[lo:hi], t[lo:hi], b[lo:hi]: the sum of max(|m - t| - ulps spacing(max(|b|, |m|, |t|)), 0)²
    (NaN where an input is not finite)."""
    return _FUNCTIONS[m.dtype][2](m, t, b, float(ulps), lo, hi)

"""The compiled one-pass walk of comparisons/check/_walk.c, when the install built it.

``walk`` gives what metrics._walk gives (<d,d>, <d,r>, <r,r>, max |d|, its flat
index) for d = m - s r over flat m[lo:hi], r[lo:hi], reading each element once
instead of six NumPy passes over it. ctypes releases the GIL during the call,
so the share of a tensor metrics.tensor_diff hands to each core runs in
parallel without the hand-offs of the GIL that the NumPy walk pays per chunk.

AVAILABLE is False where the extension was not built (setup.py builds it as
optional: no C compiler, no harm) or when LOCKSTEP_NUMPY_WALK=1 is set (to
measure or debug the NumPy walk); metrics.py then uses its NumPy walk.
"""
import ctypes
import importlib.util
import math
import os

import numpy as np

_KINDS = {np.dtype(np.float32): ("walk_f32", ctypes.c_float), np.dtype(np.float64): ("walk_f64", ctypes.c_double)}


def _load() -> dict:
    """dtype -> the C function, or {} when the library is absent or disabled."""
    if os.environ.get("LOCKSTEP_NUMPY_WALK", "") not in ("", "0"):
        return {}
    spec = importlib.util.find_spec("comparisons.check._walk")
    if spec is None or not spec.origin:
        return {}
    try:
        lib = ctypes.CDLL(spec.origin)
        functions = {dtype: getattr(lib, name) for dtype, (name, _) in _KINDS.items()}
    except (OSError, AttributeError):     # unloadable, or a stale build without these functions
        return {}
    for dtype, (_, scalar) in _KINDS.items():
        fn = functions[dtype]
        fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, scalar, ctypes.c_void_p,
                       ctypes.POINTER(ctypes.c_size_t)]
        fn.restype = None
    return functions


_FUNCTIONS = _load()
AVAILABLE = bool(_FUNCTIONS)


def usable(m: np.ndarray, r: np.ndarray, dtype: np.dtype) -> bool:
    """The walk applies to flat, contiguous m and r of one dtype, when d is computed in that dtype."""
    return (dtype in _FUNCTIONS and m.dtype == dtype and r.dtype == dtype
            and m.flags.c_contiguous and r.flags.c_contiguous and m.flags.aligned and r.flags.aligned)


NOT_FOUND = 2 ** (8 * ctypes.sizeof(ctypes.c_size_t)) - 1     # _walk.c's (size_t)-1


def walk(m: np.ndarray, r: np.ndarray, r_scale: float, dtype, lo: int, hi: int) -> tuple:
    """Over flat m[lo:hi], r[lo:hi]: (<d,d>, <d,r_scale r>, <r_scale r, r_scale r>, max |d|, its flat index).

    max |d| is NaN when the index could not be found again (never seen): the caller
    then redoes the walk with NumPy, as it does for non-finite input."""
    out = np.empty(4)
    at = ctypes.c_size_t()
    step = m.itemsize
    _FUNCTIONS[dtype](m.ctypes.data + lo * step, r.ctypes.data + lo * step, hi - lo, r_scale,
                      out.ctypes.data, ctypes.byref(at))
    dd, dr, rr, max_abs = out.tolist()
    if at.value == NOT_FOUND:
        return dd, dr, rr, math.nan, lo
    return dd, r_scale * dr, r_scale ** 2 * rr, max_abs, lo + at.value

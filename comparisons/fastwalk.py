"""The compiled one-pass walk of comparisons/_walk.c, when the install built it.

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
import os

import numpy as np

_KINDS = {np.dtype(np.float32): ("walk_f32", ctypes.c_float), np.dtype(np.float64): ("walk_f64", ctypes.c_double)}


def _load() -> dict:
    """dtype -> the C function, or {} when the library is absent or disabled."""
    if os.environ.get("LOCKSTEP_NUMPY_WALK", "") not in ("", "0"):
        return {}
    spec = importlib.util.find_spec("comparisons._walk")
    if spec is None or not spec.origin:
        return {}
    try:
        lib = ctypes.CDLL(spec.origin)
    except OSError:
        return {}
    functions = {}
    for dtype, (name, scalar) in _KINDS.items():
        fn = getattr(lib, name)
        fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, scalar, ctypes.c_void_p,
                       ctypes.POINTER(ctypes.c_size_t)]
        fn.restype = None
        functions[dtype] = fn
    return functions


_FUNCTIONS = _load()
AVAILABLE = bool(_FUNCTIONS)


def usable(m: np.ndarray, r: np.ndarray, dtype: np.dtype) -> bool:
    """The walk applies to flat, contiguous m and r of one dtype, when d is computed in that dtype."""
    return (dtype in _FUNCTIONS and m.dtype == dtype and r.dtype == dtype
            and m.flags.c_contiguous and r.flags.c_contiguous)


def walk(m: np.ndarray, r: np.ndarray, r_scale: float, dtype, lo: int, hi: int) -> tuple:
    """Over flat m[lo:hi], r[lo:hi]: (<d,d>, <d,r_scale r>, <r_scale r, r_scale r>, max |d|, its flat index)."""
    out = np.empty(4)
    at = ctypes.c_size_t()
    step = m.itemsize
    _FUNCTIONS[dtype](m.ctypes.data + lo * step, r.ctypes.data + lo * step, hi - lo, r_scale,
                      out.ctypes.data, ctypes.byref(at))
    dd, dr, rr, max_abs = out.tolist()
    return dd, r_scale * dr, r_scale ** 2 * rr, max_abs, lo + at.value

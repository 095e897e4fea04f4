"""The harness: shared init, lockstep training, checks, record, CLI.

Imports both sides (``manual``, ``torch_ref``); neither imports it.
``run`` and ``RunResult`` load torch on first use, so the CLI can reject bad
input before paying for that import.
"""
import os

# OpenBLAS workers spin after each NumPy call and slow the next torch call
# (measured: 1.61x on a torch matmul right after a NumPy one; 0.82x with this).
# Must be set before NumPy loads.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "1")

from comparisons.config import Config  # noqa: E402
from comparisons.errors import InputError, NonFiniteError  # noqa: E402

__all__ = ["Config", "InputError", "NonFiniteError", "RunResult", "run"]


def __getattr__(name):
    if name in ("run", "RunResult"):
        from comparisons import lockstep
        return getattr(lockstep, name)
    raise AttributeError(f"module 'comparisons' has no attribute {name!r}")

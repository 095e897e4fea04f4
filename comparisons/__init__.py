"""The harness: shared init, lockstep training, checks, record, CLI.

Imports both sides (``manual``, ``torch_ref``); neither imports it.
"""
import os

# OpenBLAS workers spin after each NumPy call and slow the next torch matmul
# (measured: ~60% on the step that follows). Must be set before NumPy loads.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "1")

from comparisons.config import Config  # noqa: E402
from comparisons.errors import InputError, NonFiniteError  # noqa: E402
from comparisons.lockstep import RunResult, run  # noqa: E402

__all__ = ["Config", "InputError", "NonFiniteError", "RunResult", "run"]

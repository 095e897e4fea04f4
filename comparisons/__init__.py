"""The harness: shared init, lockstep training, checks, record, CLI.

Imports both sides (``manual``, ``torch_ref``); neither imports it.
``run``, ``RunResult`` and ``audit`` load torch on first use, so the CLI can reject bad
input before paying for that import.
"""
# First, before NumPy or torch load: stop their idle worker threads from spinning
# on the cores the other library is about to use (comparisons/threads.py has the measurements).
from comparisons import threads

threads.configure()

from comparisons.config import Config  # noqa: E402
from comparisons.errors import InputError, NonFiniteError  # noqa: E402

__all__ = ["Config", "InputError", "NonFiniteError", "RunResult", "audit", "run"]


def __getattr__(name):
    if name in ("run", "RunResult"):
        from comparisons import lockstep
        return getattr(lockstep, name)
    if name == "audit":
        from comparisons.explain.audit import audit
        return audit
    raise AttributeError(f"module 'comparisons' has no attribute {name!r}")

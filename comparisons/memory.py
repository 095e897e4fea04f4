"""Refuse a run the machine cannot hold, before it allocates (issue 11, item 9).

The estimate is linear in the two things a run keeps many copies of: parameter elements P
(each side's parameters, gradients, optimizer state and snapshots; the float64 referee's) and
activation elements N·W (N the largest batch a forward pass sees: the training batch or a
whole split at evaluation; W the elements one sample produces across all layers):

    bytes ≈ BASE + PER_ELEMENT · 8 · (P + N·W)

Measured (peak RSS of one process, built-in data 2000/500/500, one epoch, hidden H, free mode):
    H 1000 batch 100 float32     604 MB     estimate 1016 MB (1.7x)
    H 4000 batch 100 float32    1304 MB     estimate 2858 MB (2.2x)
    H 4000 batch 100 float64    1687 MB     estimate 2858 MB (1.7x)
    H 4000 full batch float32   2726 MB     estimate 2858 MB (1.05x)
So the estimate is 1.05-2.2x the peak. A run is refused only when the estimate divided by
MARGIN (2.5, above the largest measured over-estimate) still exceeds the memory available:
such a run cannot fit, and no run that fits is refused.
"""
import math
import os

from comparisons.errors import InputError

BASE = 400 * 2**20        # Python, NumPy, torch and pandas loaded: 329 MB measured before the run
PER_ELEMENT = 16          # copies of each element, in float64 bytes (fit above)
MARGIN = 2.5


def _machine() -> float:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return math.inf


def _cgroup() -> float:
    """What the process's cgroup (v2: a container, a CI job) still allows; inf without a limit."""
    try:
        with open("/proc/self/cgroup") as f:
            path = next(line.split(":", 2)[2].strip() for line in f if line.startswith("0::"))
        base = os.path.join("/sys/fs/cgroup", path.lstrip("/"))
        with open(os.path.join(base, "memory.max")) as f:
            limit = f.read().strip()
        if limit == "max":
            return math.inf
        with open(os.path.join(base, "memory.current")) as f:
            return int(limit) - int(f.read().strip())
    except (OSError, ValueError, StopIteration, IndexError):
        return math.inf


def available() -> float:
    """Bytes this process can still get: the machine's MemAvailable, or its cgroup's limit less what
    the cgroup uses, whichever is smaller (inf when neither is known)."""
    return min(_machine(), _cgroup())


def estimate(params: int, activations: int) -> float:
    return BASE + PER_ELEMENT * 8 * (params + activations)


def _gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB"


def refuse_if_too_big(params: int, activations: int, what: str) -> None:
    """InputError when ``params`` parameter and ``activations`` activation elements cannot fit."""
    need, have = estimate(params, activations), available()
    if need / MARGIN > have:
        parts = f"{params:,} parameters" + (f", {activations:,} activation elements in the largest forward "
                                            f"pass" if activations else "")
        raise InputError(f"{what} needs about {_gib(need)} of memory ({parts}); {_gib(have)} is available "
                         f"(estimate and its measurements: comparisons/memory.py): use a smaller model, "
                         f"batch or dataset")

"""A big tensor walked in one share per CPU core (metrics.tensor_diff).

The compiled walk and NumPy's reductions release the GIL, so the shares run in
parallel on a small thread pool. Below MIN_ELEMENTS the hand-off costs more
than it saves (0.07-0.12 ms measured, docs/benchmarks.md) and the caller's
thread does it alone.
"""
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

MIN_ELEMENTS = 1 << 18      # smaller arrays stay on the calling thread: a hand-off costs 0.07-0.12 ms

_lock = threading.Lock()
_pool: tuple[int, int, ThreadPoolExecutor] | None = None    # (pid, workers, pool): a forked child makes its own


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _executor(workers: int) -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None or _pool[0] != os.getpid() or _pool[1] < workers:
            _pool = (os.getpid(), workers, ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lockstep-shares"))
        return _pool[2]


def in_parts(fn, n: int, elements_per_item: int = 1) -> list:
    """[fn(lo, hi) for one contiguous share of range(n) per core], in order; the shares run
    in parallel when n * elements_per_item >= MIN_ELEMENTS, else fn(0, n) runs alone.

    The caller's NumPy floating-point error state (np.errstate) applies in the workers.
    """
    if n < 2 or n * elements_per_item < MIN_ELEMENTS or (workers := cores()) == 1:
        return [fn(0, n)]
    workers = min(workers, n)
    errstate = np.geterr()

    def part(lo: int, hi: int):
        with np.errstate(**errstate):
            return fn(lo, hi)

    bounds = [n * i // workers for i in range(workers + 1)]
    futures = [_executor(workers - 1).submit(part, lo, hi) for lo, hi in zip(bounds[1:-1], bounds[2:])]
    return [part(bounds[0], bounds[1])] + [f.result() for f in futures]

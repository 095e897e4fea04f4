"""Keep NumPy's and torch's thread pools from fighting over the cores.

Both BLAS runtimes keep worker threads that busy-wait after a call in case
another call follows. In lockstep the other library's call follows, and the
spinning workers take a core from it. Measured on the 2-core machine of
docs/benchmarks.md (CPU time the process burns while it sleeps 0.2-0.3 s right
after one call, median of 20):

    after a NumPy matmul (OpenBLAS workers)   130 ms    with OPENBLAS_THREAD_TIMEOUT=1: 0.08 ms
    after a torch matmul (libgomp workers)    7.7 ms    with GOMP_SPINCOUNT=10000:     1.5 ms

Without the settings, a torch matmul (6000x784 by 784x1000) right after a
NumPy one took 1.82x its time alone (1.11x with them; medians of 15), and at
minibatch 100 the manual step right after a torch step took 1.9x its time
alone (6.96 ms vs 3.64 ms, medians).

- ``OPENBLAS_THREAD_TIMEOUT=1``: OpenBLAS workers sleep after 2^4 cycles (its minimum).
- ``GOMP_SPINCOUNT=10000``: libgomp (torch's OpenMP on Linux) workers spin
  ~1.5 ms, then sleep: long enough to bridge the gaps between the ops of one
  torch step. ``OMP_WAIT_POLICY=PASSIVE`` (no spin at all) made torch alone
  slower at minibatch 100: 3.6 ms against 3.1 ms by default and 3.0 ms with
  this setting (medians over 6 processes each). Issue 6 reports that
  ``OMP_WAIT_POLICY=ACTIVE`` and ``OMP_NUM_THREADS=1`` make lockstep slower
  (not re-measured: OMP_NUM_THREADS also halves OpenBLAS's threads).

Both libraries read these when they load, so ``configure`` (called first
thing by comparisons/__init__.py) sets them in the environment unless the
user already has. If NumPy was imported before ``comparisons`` (a notebook
importing numpy first), OpenBLAS has read its settings already:
``configure`` makes it read them again and restarts its workers, through two
functions the loaded OpenBLAS exports (skipped if they are absent). torch's
OpenMP runtime cannot be reconfigured once loaded: ``configure`` warns.
"""
import ctypes
import os
import sys
import warnings

SETTINGS = {"OPENBLAS_THREAD_TIMEOUT": "1", "GOMP_SPINCOUNT": "10000"}


def configure() -> None:
    """Set SETTINGS (keeping the user's values); apply them to libraries already loaded."""
    unset = {k: v for k, v in SETTINGS.items() if k not in os.environ}
    os.environ.update(unset)
    if "OPENBLAS_THREAD_TIMEOUT" in unset and "numpy" in sys.modules:
        restart_openblas_workers()
    if "GOMP_SPINCOUNT" in unset and "torch" in sys.modules:
        warnings.warn("torch was imported before comparisons: torch's OpenMP threads keep busy-waiting ~8 ms "
                      "after each call, which makes the NumPy side's steps up to 1.9x slower in lockstep "
                      "(measured at minibatch 100); the results are the same. Only if speed matters: import "
                      "comparisons before torch, or set GOMP_SPINCOUNT=10000 before Python starts",
                      RuntimeWarning, stacklevel=3)


def _loaded_openblas() -> ctypes.CDLL | None:
    """The OpenBLAS library mapped into this process (NumPy's), or None."""
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "openblas" in line.rsplit("/", 1)[-1].lower()}
    except OSError:
        return None
    for path in sorted(paths):
        if ".so" in path and os.path.exists(path):
            try:
                return ctypes.CDLL(path, mode=getattr(os, "RTLD_NOLOAD", 0) | os.RTLD_LAZY)
            except OSError:
                continue
    return None


def restart_openblas_workers() -> bool:
    """Make a loaded OpenBLAS re-read its environment and restart its worker threads
    (the next BLAS call starts them with the new settings). False if not possible."""
    lib = _loaded_openblas()
    read_env = getattr(lib, "openblas_read_env", None)
    shutdown = getattr(lib, "blas_thread_shutdown_", None)
    if read_env is None or shutdown is None:
        return False
    read_env()
    shutdown()
    return True

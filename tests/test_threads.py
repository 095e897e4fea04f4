"""comparisons/threads.py: the thread settings reach NumPy and torch whatever the import order.

Each case runs in a fresh interpreter (the settings act when the libraries load).
Timing is not asserted here: `make bench` measures the idle spin they remove.
"""
import json
import os
import subprocess
import sys

import pytest

SETTINGS = {"OPENBLAS_THREAD_TIMEOUT": "1", "GOMP_SPINCOUNT": "10000"}


def _python(code: str, **env) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in SETTINGS}
    return subprocess.run([sys.executable, "-W", "always", "-c", code], capture_output=True, text=True,
                          env=clean | env, timeout=120)


REPORT = ("import os, json; print(json.dumps({k: os.environ.get(k) for k in %r}))" % sorted(SETTINGS))


def test_set_before_numpy_and_torch_load():
    out = _python("import comparisons, numpy, torch; " + REPORT)
    assert json.loads(out.stdout) == SETTINGS and "RuntimeWarning" not in out.stderr


def test_numpy_imported_first_gets_its_workers_restarted():
    code = ("import numpy as np; a = np.random.default_rng(0).random((300, 300)); b = a @ a; "
            "import comparisons; from comparisons import threads; "
            "assert np.array_equal(a @ a, b), 'BLAS gives other results after the restart'; "
            "print(threads.restart_openblas_workers())")
    out = _python(code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True"


def test_the_users_own_values_are_kept():
    out = _python("import comparisons; " + REPORT, OPENBLAS_THREAD_TIMEOUT="3", GOMP_SPINCOUNT="42")
    assert json.loads(out.stdout) == {"GOMP_SPINCOUNT": "42", "OPENBLAS_THREAD_TIMEOUT": "3"}


@pytest.mark.parametrize("first", ["torch", "torch_ref"])
def test_torch_imported_first_is_reported(first):
    out = _python(f"import {first}; import comparisons")
    assert out.returncode == 0
    assert "torch was imported before comparisons" in out.stderr

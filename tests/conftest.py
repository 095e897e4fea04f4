import os

import numpy as np
import pytest

from comparisons.data.builtin import synthetic


@pytest.fixture(autouse=True)
def _environment_restored():
    """Each test ends with the environment it started with. Dask's LocalCluster sets OMP_NUM_THREADS=1
    (and MKL/OPENBLAS) in the process that starts it and leaves it set: a later test's subprocess then
    ran torch on one thread, and `lockstep layers` printed other last digits than the README's."""
    saved = dict(os.environ)
    yield
    if os.environ != saved:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="session")
def tiny_data():
    """The built-in generator at test size: 784 features, 300/100/100 samples."""
    return synthetic(seed=0, sizes=(300, 100, 100))


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (bound, read, released)."""
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port

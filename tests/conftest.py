import numpy as np
import pytest

from comparisons.data.builtin import synthetic


@pytest.fixture(scope="session")
def tiny_data():
    """The built-in generator at test size: 784 features, 300/100/100 samples."""
    return synthetic(seed=0, sizes=(300, 100, 100))


@pytest.fixture
def rng():
    return np.random.default_rng(1234)

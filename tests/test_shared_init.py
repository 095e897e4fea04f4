"""One initialisation for both sides: Xavier statistics, determinism, bit-equal copy."""
import numpy as np
import pytest

import manual
from comparisons.config import Config
from comparisons.sides.shared_init import make_sides


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("hidden", [(1000,), (64, 32)], ids=["784-1000-10", "784-64-32-10"])
def test_torch_starts_bit_equal_and_unaliased(dtype, hidden):
    sizes = (784, *hidden, 10)
    m, t = make_sides(sizes, Config(hidden=hidden, dtype=dtype), np.random.default_rng(0))
    assert list(m.params) == list(t.params)
    for name, p in m.params.items():
        assert p.dtype == t.params[name].dtype == np.dtype(dtype)
        assert np.array_equal(p, t.params[name]) and not np.shares_memory(p, t.params[name])


def test_xavier_variance_is_two_over_fan_in_plus_fan_out():
    w = manual.xavier_normal(np.random.default_rng(0), 1000, 784, np.float64)
    assert w.shape == (1000, 784)
    assert abs(w.mean()) < 3 * np.sqrt(2 / 1784 / w.size)
    assert w.var() == pytest.approx(2 / 1784, rel=0.01)   # 784k draws: sampling error ~0.16%


def test_init_is_deterministic_in_the_generator_and_float32_is_float64_rounded():
    a = manual.init_params((20, 30, 5), np.random.default_rng(7), np.float64)
    b = manual.init_params((20, 30, 5), np.random.default_rng(7), np.float32)
    c = manual.init_params((20, 30, 5), np.random.default_rng(8), np.float64)
    for name in a:
        assert np.array_equal(a[name].astype(np.float32), b[name])
    assert not np.array_equal(a["hidden.weight"], c["hidden.weight"])
    assert not np.any(a["hidden.bias"])

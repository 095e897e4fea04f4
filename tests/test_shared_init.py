"""One initialisation for every side: Xavier statistics, determinism, bit-equal copies."""
import numpy as np
import pytest

import manual
from comparisons import Config, spec
from comparisons.sides import shared_init
from comparisons.sides.builtin import ManualSide
from comparisons.sides.torch_side import TorchSide


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("hidden", [(1000,), (64, 32)], ids=["784-1000-10", "784-64-32-10"])
def test_every_side_starts_bit_equal_and_unaliased(dtype, hidden):
    config = Config(hidden=hidden, dtype=dtype)
    layers = spec.parse(spec.mlp(hidden), (784,), 10)
    m, t, d = ManualSide(layers, config), TorchSide(layers, config), TorchSide(layers, config)
    shared_init.write(shared_init.draw(layers, np.random.default_rng(0), dtype), m, t, d)
    assert list(m.params) == list(t.params) == list(d.params)
    for name, p in m.params.items():
        assert p.dtype == t.params[name].dtype == np.dtype(dtype)
        assert np.array_equal(p, t.params[name]) and not np.shares_memory(p, t.params[name])
        assert not np.shares_memory(t.params[name], d.params[name])


def test_xavier_variance_is_two_over_fan_in_plus_fan_out():
    w = manual.xavier_normal(np.random.default_rng(0), 1000, 784, np.float64)
    assert w.shape == (1000, 784)
    assert abs(w.mean()) < 3 * np.sqrt(2 / 1784 / w.size)
    assert w.var() == pytest.approx(2 / 1784, rel=0.01)   # 784k draws: sampling error ~0.16%


def test_init_is_deterministic_in_the_generator_and_float32_is_float64_rounded():
    layers = spec.parse("linear:30,relu,linear", (20,), 5)
    a = shared_init.draw(layers, np.random.default_rng(7), np.float64)
    b = shared_init.draw(layers, np.random.default_rng(7), np.float32)
    c = shared_init.draw(layers, np.random.default_rng(8), np.float64)
    for name in a:
        assert np.array_equal(a[name].astype(np.float32), b[name])
    assert not np.array_equal(a["fc1.weight"], c["fc1.weight"])
    assert not np.any(a["fc1.bias"])


def test_the_draw_is_the_old_mlp_draw():
    """Weights in layer order from one generator, as before the model spec: baselines stay valid."""
    layers = spec.parse(spec.mlp((30,)), (20,), 5)
    drawn = shared_init.draw(layers, np.random.default_rng(3), np.float64)
    rng = np.random.default_rng(3)
    assert np.array_equal(drawn["fc1.weight"], manual.xavier_normal(rng, 30, 20, np.float64))
    assert np.array_equal(drawn["fc2.weight"], manual.xavier_normal(rng, 5, 30, np.float64))

"""The manual network built from a model spec against the torch twin built from the same spec."""
import numpy as np
import pytest
import torch

from comparisons import Config, spec
from comparisons.errors import InputError
from comparisons.sides import shared_init
from comparisons.sides.builtin import ManualSide
from comparisons.sides.torch_side import TorchSide

AUTOGRAD_RTOL = 1e-12   # float64: measured <= 2e-15 on these networks


def rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))


@pytest.mark.parametrize("model", ["linear:30,relu,linear", "linear:16,relu,linear:8,relu,linear",
                                   "linear:1000,relu,linear", "linear:12:nobias,relu,linear"])
def test_every_intermediate_matches_the_twin(model, rng):
    config = Config(model=model, dtype="float64", lr=0.05, momentum=0.9, init_velocity=1e-3)
    layers = spec.parse(model, (20,), 5)
    m, t = ManualSide(layers, config), TorchSide(layers, config)
    values = shared_init.draw(layers, rng, np.float64)
    for k in values:
        values[k] += 0.1 * rng.standard_normal(values[k].shape)
    shared_init.write(values, m, t)
    x, y = rng.random((7, 20)), rng.integers(0, 5, 7)
    loss_m, scores_m = m.train_step(x, y)
    loss_t, scores_t = t.train_step(x, y)
    assert rel(loss_m, loss_t) <= AUTOGRAD_RTOL and rel(scores_m, scores_t) <= AUTOGRAD_RTOL
    assert list(m.outputs) == list(t.outputs) == [s.name for s in layers]
    assert set(m.input_grads) == set(t.input_grads) == {s.name for s in layers[1:]} | {"loss"}
    for what in ("outputs", "input_grads", "grads", "params"):
        for k, v in getattr(m, what).items():
            assert rel(v, getattr(t, what)[k]) <= AUTOGRAD_RTOL, (what, k)
    for k, (v, s) in m.state.items():
        assert rel(v * s, t.state[k][0] * t.state[k][1]) <= AUTOGRAD_RTOL, k


def test_names_follow_the_torch_twin():
    layers = spec.parse(spec.mlp((1000,)), (784,), 10)
    assert [s.name for s in layers] == ["fc1", "relu1", "fc2"]
    m, t = ManualSide(layers, Config()), TorchSide(layers, Config())
    assert {k: v.shape for k, v in m.params.items()} == {k: tuple(v.shape) for k, v in t.net.state_dict().items()}
    assert list(m.params) == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    assert list(m.state) == [f"{k}.momentum_buffer" for k in m.params]


@pytest.mark.parametrize("model,words", [
    ("linear:10,softmax2,linear", "unknown kind 'softmax2'"),
    ("linear:ten,relu,linear", "out must be int, got 'ten'"),
    ("linear:0,relu,linear", "out must be >= 1"),
    ("linear:10,relu,linear:7", "the network outputs shape (7,) per sample, the data needs (5,); check 'linear:7'"),
    ("linear:10,,linear", "expected comma-separated layer tokens"),
    ("linear:10:5:3,linear", "too many arguments (usage linear:[OUT]:[nobias])"),
])
def test_bad_specs_point_at_the_token(model, words):
    with pytest.raises(InputError, match=None) as e:
        spec.parse(model, (20,), 5)
    assert words in str(e.value)


def test_the_first_layers_dx_is_not_computed(rng):
    layers = spec.parse("linear:4,relu,linear", (3,), 2)
    m = ManualSide(layers, Config(dtype="float64"))
    m.train_step(rng.random((5, 3)), rng.integers(0, 2, 5))
    assert "fc1" not in m.input_grads and m.net.layers["fc1"].need_dx is False

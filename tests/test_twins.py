"""Every layer kind and loss of the registry against its torch twin (tinygrad's test_ops is the model).

One helper builds the manual class and its twin from the same registry entry and the same
parameters, and compares the forward output, dL/dx and every parameter gradient with torch
autograd in float64 (<= AUTOGRAD_RTOL relative), and the manual gradients with central
differences of the manual forward (<= FD_RTOL). Each kind's ``examples`` (token, input shape)
are run on random inputs and on the edge cases every kind gets: a batch of one, and inputs
exactly at 0 (a ReLU's kink, where the derivative is torch's convention: 0).
A new registry entry is picked up here with no change to this file.
"""
import numpy as np
import pytest
import torch

from comparisons import spec
from comparisons.registry import KINDS, LOSSES

AUTOGRAD_RTOL = 1e-12   # float64: measured agreement <= 4e-16 over these cases; 1e-12 leaves room for summation order
FD_RTOL = 1e-6          # central differences, h = 1e-6: truncation O(h^2) + rounding O(eps / h) ~ 1e-10..1e-8
FD_STEP = 1e-6


def rel(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    den = np.linalg.norm(b)
    return float(np.linalg.norm(a - b) / den) if den > 0 else float(np.linalg.norm(a))


def central(f, x: np.ndarray, coords: np.ndarray) -> np.ndarray:
    est = []
    for i in coords:
        old = x.flat[i]
        x.flat[i] = old + FD_STEP
        up = f()
        x.flat[i] = old - FD_STEP
        down = f()
        x.flat[i] = old
        est.append((up - down) / (2 * FD_STEP))
    return np.array(est)


def inputs(shape, rng, case):
    x = rng.standard_normal((1 if case == "batch of one" else 6, *shape))
    if case == "exact zeros":
        x.flat[::3] = 0.0
    return x


CASES = [(token, shape, case) for kind in KINDS.values() for token, shape in kind.examples
         for case in ("random", "batch of one", "exact zeros")]


def test_every_kind_has_an_example():
    assert all(kind.examples for kind in KINDS.values()), [k for k, v in KINDS.items() if not v.examples]


@pytest.mark.parametrize("token,shape,case", CASES, ids=[f"{t}-{c}" for t, _, c in CASES])
def test_layer_matches_its_twin(token, shape, case):
    rng = np.random.default_rng(abs(hash((token, case))) % 2**32)
    layer = spec.layer(token, shape)
    mine = layer.kind.manual(**layer.kwargs, dtype=np.float64)
    twin = layer.kind.twin(**layer.kwargs, dtype=torch.float64)
    for key, p in mine.params.items():
        p[...] = rng.standard_normal(p.shape)
        getattr(twin, key).data.copy_(torch.from_numpy(p))
    x = inputs(shape, rng, case)
    out = mine.forward(x, train=True)
    dout = rng.standard_normal(out.shape)
    dx = mine.backward(dout)

    tx = torch.tensor(x, requires_grad=True)
    tout = twin(tx)
    tout.backward(torch.from_numpy(dout))
    assert out.shape == tuple(tout.shape) and out.dtype == np.float64
    assert rel(out, tout.detach().numpy()) <= AUTOGRAD_RTOL
    assert rel(dx, tx.grad.numpy()) <= AUTOGRAD_RTOL
    assert set(mine.grads) == set(mine.params) == {k for k, _ in twin.named_parameters()}
    for key, p in twin.named_parameters():
        assert rel(mine.grads[key], p.grad.numpy()) <= AUTOGRAD_RTOL, key

    if case != "exact zeros":          # at a kink the derivative is a convention, not a limit
        def loss():
            return float(np.sum(mine.forward(x, train=True) * dout))
        for what, array, grad in [("x", x, dx), *((k, p, mine.grads[k]) for k, p in mine.params.items())]:
            coords = rng.choice(array.size, size=min(20, array.size), replace=False)
            assert rel(grad.ravel()[coords], central(loss, array, coords)) <= FD_RTOL, what


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("token,shape", [(t, s) for k in KINDS.values() for t, s in k.examples])
def test_layer_keeps_its_dtype(token, shape, dtype):
    """No silent upcast: a float32 layer computes in float32, forward and backward."""
    layer = spec.layer(token, shape)
    mine = layer.kind.manual(**layer.kwargs, dtype=dtype)
    x = np.random.default_rng(0).standard_normal((3, *shape)).astype(dtype)
    out = mine.forward(x, train=True)
    dx = mine.backward(np.ones_like(out))
    assert {a.dtype for a in (out, dx, *mine.params.values(), *mine.grads.values())} <= {np.dtype(dtype)}


LOSS_CASES = [(name, reduction, scale, n) for name in LOSSES for reduction in ("mean", "sum")
              for scale in (1.0, 1e3, -1e4) for n in (1, 8)]


@pytest.mark.parametrize("name,reduction,scale,n", LOSS_CASES)
def test_loss_matches_its_twin(name, reduction, scale, n):
    rng = np.random.default_rng(3)
    loss = LOSSES[name]
    scores = rng.standard_normal((n, 10)) * scale
    y = rng.integers(0, 10, n)
    mine = loss.manual(reduction)
    value = mine.forward(scores, y)
    d = mine.backward()
    t = torch.tensor(scores, requires_grad=True)
    ref = loss.twin(reduction)(t, torch.from_numpy(y))
    ref.backward()
    assert np.isfinite(value) and rel(value, ref.item()) <= AUTOGRAD_RTOL
    assert rel(d, t.grad.numpy()) <= AUTOGRAD_RTOL
    if abs(scale) == 1.0:
        coords = np.arange(scores.size)
        assert rel(d.ravel(), central(lambda: mine.forward(scores, y), scores, coords)) <= FD_RTOL

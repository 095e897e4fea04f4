"""Every manual op against torch autograd (float64, <= 1e-12 relative) and central differences."""
import numpy as np
import pytest
import torch

import manual
import torch_ref

AUTOGRAD_RTOL = 1e-12   # float64: measured agreement ~1e-15; 1e-12 leaves 1000x for summation order
FD_RTOL = 1e-6          # central differences, h = 1e-6: truncation O(h^2) + rounding O(eps / h) ~ 1e-10..1e-8


def rel(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300)


def central_diff(f, x: np.ndarray, h=1e-6, n_coords=40, rng=None) -> tuple[np.ndarray, np.ndarray]:
    """d f / d x at ``n_coords`` random coordinates of x: (indices, estimates)."""
    rng = rng or np.random.default_rng(0)
    idx = rng.choice(x.size, size=min(n_coords, x.size), replace=False)
    est = []
    for i in idx:
        old = x.flat[i]
        x.flat[i] = old + h
        fp = f()
        x.flat[i] = old - h
        fm = f()
        x.flat[i] = old
        est.append((fp - fm) / (2 * h))
    return idx, np.array(est)


SIZES = [pytest.param((20, 30, 5), id="20-30-5"), pytest.param((20, 16, 8, 5), id="20-16-8-5"),
         pytest.param((784, 1000, 10), id="784-1000-10")]


@pytest.mark.parametrize("sizes", SIZES)
def test_mlp_gradients_match_autograd(sizes, rng):
    n = 7
    params = manual.init_params(sizes, rng, np.float64)
    for name in params:
        params[name] += 0.1 * rng.standard_normal(params[name].shape)   # nonzero biases too
    x, y = rng.random((n, sizes[0])), rng.integers(0, sizes[-1], n)
    model, loss_fn = manual.MLP(params), manual.SoftmaxCrossEntropy()
    loss = loss_fn.forward(model.forward(x), y)
    grads = model.backward(loss_fn.backward())

    ref = torch_ref.MLP(sizes, dtype=torch.float64)
    ref.load_state_dict({k: torch.from_numpy(v) for k, v in params.items()})
    ref_loss = torch.nn.functional.cross_entropy(ref(torch.from_numpy(x)), torch.from_numpy(y))
    ref_loss.backward()
    assert rel(loss, ref_loss.item()) <= AUTOGRAD_RTOL
    assert list(grads) == list(ref.state_dict())
    for name, p in ref.named_parameters():
        assert grads[name].shape == p.shape
        assert rel(grads[name], p.grad.numpy()) <= AUTOGRAD_RTOL, name


@pytest.mark.parametrize("sizes", SIZES[:2])
def test_mlp_gradients_match_central_differences(sizes, rng):
    params = manual.init_params(sizes, rng, np.float64)
    x, y = rng.random((5, sizes[0])), rng.integers(0, sizes[-1], 5)
    model, loss_fn = manual.MLP(params), manual.SoftmaxCrossEntropy()
    loss_fn.forward(model.forward(x), y)
    grads = model.backward(loss_fn.backward())
    for name, p in params.items():
        idx, est = central_diff(lambda: loss_fn.forward(model.forward(x), y), p, rng=rng)
        assert rel(grads[name].ravel()[idx], est) <= FD_RTOL, name


def test_linear_matches_torch_forward_and_autograd(rng):
    w, b, x = rng.standard_normal((6, 4)), rng.standard_normal(6), rng.standard_normal((3, 4))
    dz = rng.standard_normal((3, 6))
    layer = manual.Linear(w, b)
    z = layer.forward(x)
    dw, db, dx = layer.backward(dz)
    tw, tb, tx = (torch.tensor(a, requires_grad=True) for a in (w, b, x))
    tz = torch.nn.functional.linear(tx, tw, tb)
    (tz * torch.from_numpy(dz)).sum().backward()
    assert rel(z, tz.detach().numpy()) <= AUTOGRAD_RTOL
    for mine, theirs in ((dw, tw), (db, tb), (dx, tx)):
        assert rel(mine, theirs.grad.numpy()) <= AUTOGRAD_RTOL


@pytest.mark.parametrize("z", [
    pytest.param(np.array([[-1.0, 0.0, 2.0], [0.0, 3.0, -0.5]]), id="with-exact-zeros"),
    pytest.param(np.random.default_rng(5).standard_normal((4, 9)), id="random"),
])
def test_relu_backward_matches_autograd_including_the_kink(z):
    relu = manual.ReLU()
    h = relu.forward(z)
    dh = np.arange(1.0, z.size + 1).reshape(z.shape)
    dz = relu.backward(dh.copy())
    tz = torch.tensor(z, requires_grad=True)
    (torch.relu(tz) * torch.from_numpy(dh)).sum().backward()
    assert np.array_equal(h, torch.relu(torch.from_numpy(z)).numpy())
    assert np.array_equal(dz, tz.grad.numpy())   # gradient 0 at z == 0, as torch


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("scale", [pytest.param(1.0, id="unit"), pytest.param(1e3, id="large-logits"),
                                   pytest.param(-1e4, id="huge-negative")])
@pytest.mark.parametrize("n", [pytest.param(1, id="batch-of-one"), pytest.param(8, id="batch-8")])
def test_softmax_cross_entropy_matches_torch(scale, n, reduction, rng):
    logits = rng.standard_normal((n, 10)) * scale
    y = rng.integers(0, 10, n)
    loss_fn = manual.SoftmaxCrossEntropy(reduction)
    loss = loss_fn.forward(logits, y)
    grad = loss_fn.backward()
    t = torch.tensor(logits, requires_grad=True)
    ref = torch.nn.functional.cross_entropy(t, torch.from_numpy(y), reduction=reduction)
    ref.backward()
    assert np.isfinite(loss) and rel(loss, ref.item()) <= AUTOGRAD_RTOL
    assert rel(grad, t.grad.numpy()) <= AUTOGRAD_RTOL


def test_softmax_cross_entropy_matches_central_differences(rng):
    logits, y = rng.standard_normal((6, 10)), rng.integers(0, 10, 6)
    loss_fn = manual.SoftmaxCrossEntropy()
    loss_fn.forward(logits, y)
    grad = loss_fn.backward()
    idx, est = central_diff(lambda: loss_fn.forward(logits, y), logits, n_coords=60)
    assert rel(grad.ravel()[idx], est) <= FD_RTOL


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_every_array_stays_in_its_dtype(dtype, rng):
    """No silent upcast: a float32 network computes in float32 end to end."""
    params = manual.init_params((20, 30, 5), rng, dtype)
    model, loss_fn = manual.MLP(params), manual.SoftmaxCrossEntropy()
    opt = manual.SGDMomentum(params, lr=0.1, momentum=0.9, init_velocity=1e-5)
    logits = model.forward(rng.random((4, 20)).astype(dtype))
    loss_fn.forward(logits, rng.integers(0, 5, 4))
    grads = model.backward(loss_fn.backward())
    opt.step(grads)
    arrays = [logits, *grads.values(), *params.values(), *opt.velocity.values()]
    assert {a.dtype for a in arrays} == {np.dtype(dtype)}


def test_weights_are_out_by_in_with_state_dict_names(rng):
    params = manual.init_params((784, 1000, 10), rng)
    assert {k: v.shape for k, v in params.items()} == {
        k: tuple(v.shape) for k, v in torch_ref.MLP((784, 1000, 10)).state_dict().items()}
    assert list(params) == ["hidden.weight", "hidden.bias", "output.weight", "output.bias"]


@pytest.mark.parametrize("n_hidden", [1, 2, 3], ids=["1-hidden", "2-hidden", "3-hidden"])
def test_layer_names_agree_between_sides(n_hidden):
    assert manual.layer_names(n_hidden) == torch_ref.layer_names(n_hidden)

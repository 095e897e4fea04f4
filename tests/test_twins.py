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


def inputs(shape, rng, case, layer=None):
    """Random float features, or for a kind that takes token ids (embedding) integer ids in [0, V)
    (each id repeated: "exact zeros" makes every third id 0)."""
    n = 1 if case == "batch of one" else 6
    if layer is not None and layer.kind.takes == "ids":
        x = rng.integers(0, layer.kwargs["num_embeddings"], (n, *shape))
    else:
        x = rng.standard_normal((n, *shape))
    if case == "exact zeros":
        x.flat[::3] = 0
    return x


def as_torch(x, grad=True):
    """x as a tensor; float features require their gradient (token ids have none)."""
    t = torch.tensor(x)
    return t.requires_grad_() if grad and t.is_floating_point() else t


CASES = [(token, shape, case) for kind in KINDS.values() for token, shape in kind.examples
         for case in ("random", "batch of one", "exact zeros")]


def test_every_kind_has_an_example():
    assert all(kind.examples for kind in KINDS.values()), [k for k, v in KINDS.items() if not v.examples]


def _pair(token, shape, rng, dtype=torch.float64):
    """The manual layer of ``token`` and its twin, with the same random parameters."""
    layer = spec.layer(token, shape)
    mine = layer.kind.manual(**layer.kwargs, dtype=np.float64)
    twin = layer.kind.twin(**layer.kwargs, dtype=dtype)
    for key, p in mine.params.items():
        p[...] = rng.standard_normal(p.shape)
        getattr(twin, key).data.copy_(torch.from_numpy(p))
    return mine, twin


@pytest.mark.parametrize("token,shape,case", CASES, ids=[f"{t}-{c}" for t, _, c in CASES])
def test_layer_matches_its_twin(token, shape, case):
    rng = np.random.default_rng(abs(hash((token, case))) % 2**32)
    mine, twin = _pair(token, shape, rng)
    x = inputs(shape, rng, case, spec.layer(token, shape))
    tx = as_torch(x)
    try:
        tout = twin(tx)
    except ValueError:                 # torch refuses it (batchnorm on one sample in training): so must we
        with pytest.raises(ValueError):
            mine.forward(x, train=True)
        return
    out = mine.forward(x, train=True)
    dout = rng.standard_normal(out.shape)
    dx = mine.backward(dout)
    tout.backward(torch.from_numpy(dout))
    assert out.shape == tuple(tout.shape) and out.dtype == np.float64
    assert rel(out, tout.detach().numpy()) <= AUTOGRAD_RTOL
    assert (dx is None and tx.grad is None) if not tx.is_floating_point() else rel(dx, tx.grad.numpy()) <= AUTOGRAD_RTOL
    assert set(mine.grads) == set(mine.params) == {k for k, _ in twin.named_parameters()}
    for key, p in twin.named_parameters():
        assert rel(mine.grads[key], p.grad.numpy()) <= AUTOGRAD_RTOL, key
    buffers = {k: b for k, b in twin.named_buffers() if b.is_floating_point()}
    assert set(mine.buffers) == set(buffers)
    for key, b in buffers.items():                 # running statistics after one training step
        assert rel(mine.buffers[key], b.numpy()) <= AUTOGRAD_RTOL, key
    twin.eval()                                    # evaluation: running statistics, no dropout
    with torch.no_grad():
        assert rel(mine.forward(x, train=False), twin(torch.from_numpy(x)).numpy()) <= AUTOGRAD_RTOL

    if case != "exact zeros":          # at a kink the derivative is a convention, not a limit
        def loss():
            return float(np.sum(mine.forward(x, train=True) * dout))
        for what, array, grad in [*((("x", x, dx),) if dx is not None else ()),
                                  *((k, p, mine.grads[k]) for k, p in mine.params.items())]:
            coords = rng.choice(array.size, size=min(20, array.size), replace=False)
            assert rel(grad.ravel()[coords], central(loss, array, coords)) <= FD_RTOL, what


BRANCHED = [(t, s) for k in KINDS.values() if hasattr(k.twin, "decide") and not getattr(k.twin, "per_window", False)
            for t, s in k.examples]
WINDOWED = [(t, s) for k in KINDS.values() if getattr(k.twin, "per_window", False) for t, s in k.examples]


@pytest.mark.parametrize("token,shape", BRANCHED)
def test_branch_layers_can_be_followed(token, shape):
    """decide/margin on the class and on an instance (the diagnosis uses one, the referee the other);
    forward_with its own decisions is its forward; the other branch changes the output where taken
    differs, and the margin is 0 exactly on the branch point."""
    rng = np.random.default_rng(5)
    layer = spec.layer(token, shape)
    twin = layer.kind.twin(**layer.kwargs, dtype=torch.float64)
    x = torch.from_numpy(inputs(shape, rng, "exact zeros"))
    taken = twin.decide(x)
    assert torch.equal(taken, layer.kind.twin.decide(x))
    assert torch.equal(twin.forward_with(x, taken), twin(x))
    flipped = twin.forward_with(x, ~taken)
    assert not torch.equal(flipped[x != 0], twin(x)[x != 0])
    assert torch.equal(twin.margin(x) == 0, x == 0) and torch.equal(layer.kind.twin.margin(x), twin.margin(x))


@pytest.mark.parametrize("token,shape", [(t, s) for k in KINDS.values() for t, s in k.examples])
def test_layer_float32_within_rounding(token, shape):
    """float32 on both sides from the same inputs: within float32 rounding of each other (64 ulps of
    the norm, the gate's floor; measured <= 2e-7 over these cases)."""
    rng = np.random.default_rng(7)
    layer = spec.layer(token, shape)
    mine = layer.kind.manual(**layer.kwargs, dtype=np.float32)
    twin = layer.kind.twin(**layer.kwargs, dtype=torch.float32)
    for key, p in mine.params.items():
        p[...] = rng.standard_normal(p.shape)
        getattr(twin, key).data.copy_(torch.from_numpy(p))
    x = inputs(shape, rng, "random", layer)
    x = x.astype(np.float32) if x.dtype.kind == "f" else x
    out = mine.forward(x, train=True)
    dout = rng.standard_normal(out.shape).astype(np.float32)
    dx = mine.backward(dout)
    tx = as_torch(x)
    tout = twin(tx)
    tout.backward(torch.from_numpy(dout))
    bound = 64 * float(np.finfo(np.float32).eps)
    assert rel(out, tout.detach().numpy()) <= bound
    assert dx is None if tx.grad is None else rel(dx, tx.grad.numpy()) <= bound
    for key, p in twin.named_parameters():
        assert rel(mine.grads[key], p.grad.numpy()) <= bound, key


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("token,shape", [(t, s) for k in KINDS.values() for t, s in k.examples])
def test_layer_keeps_its_dtype(token, shape, dtype):
    """No silent upcast: a float32 layer computes in float32, forward and backward."""
    layer = spec.layer(token, shape)
    mine = layer.kind.manual(**layer.kwargs, dtype=dtype)
    x = inputs(shape, np.random.default_rng(0), "random", layer)
    x = x.astype(dtype) if x.dtype.kind == "f" else x
    out = mine.forward(x, train=True)
    dx = mine.backward(np.ones_like(out))
    assert {a.dtype for a in (out, *(() if dx is None else (dx,)), *mine.params.values(), *mine.grads.values())} \
        <= {np.dtype(dtype)}


@pytest.mark.parametrize("token,shape", WINDOWED)
def test_window_branch_layers_can_be_followed(token, shape):
    """A max-pool's branches (one per window: the index of its maximum): forward_with its own decisions
    is its forward, and its gradient is the twin's; another choice moves the output and the gradient;
    the margin is 0 exactly on a tie."""
    rng = np.random.default_rng(5)
    layer = spec.layer(token, shape)
    twin = layer.kind.twin(**layer.kwargs, dtype=torch.float64)
    x = torch.tensor(inputs(shape, rng, "random"), requires_grad=True)
    taken = twin.decide(x.detach())
    assert taken.shape == twin(x).shape and taken.dtype == torch.int64
    out = twin.forward_with(x, taken)
    assert torch.equal(out, twin(x))
    g_with, = torch.autograd.grad(out.sum(), x)
    g_own, = torch.autograd.grad(twin(x).sum(), x)
    assert torch.equal(g_with, g_own)
    other = (taken + 1) % (layer.kwargs["kernel_size"] ** 2)
    assert not torch.equal(twin.forward_with(x, other), out)
    assert (twin.margin(x.detach()) > 0).all()
    tied = torch.zeros((1, *shape), dtype=torch.float64)
    assert (twin.margin(tied) == 0).all() and (twin.decide(tied) == 0).all()


@pytest.mark.parametrize("stride", [2, 1])
def test_maxpool_ties_go_to_the_first_maximum(stride):
    """Ties: the manual side's gradient goes to the first maximum of each window in row-major order, as
    torch's max_pool2d (and the twin's decide) choose; with overlapping windows a shared maximum sums."""
    x = np.array([[[[1.0, 3.0, 3.0, 0.0],
                    [3.0, 2.0, 5.0, 5.0],
                    [0.0, 0.0, 4.0, 4.0],
                    [0.0, 0.0, 4.0, 4.0]]]])
    layer = spec.layer(f"maxpool:2:{stride}", x.shape[1:])
    mine = layer.kind.manual(**layer.kwargs, dtype=np.float64)
    twin = layer.kind.twin(**layer.kwargs, dtype=torch.float64)
    out = mine.forward(x)
    dout = np.arange(1.0, out.size + 1).reshape(out.shape)
    dx = mine.backward(dout)
    tx = torch.tensor(x, requires_grad=True)
    twin(tx).backward(torch.from_numpy(dout))
    assert np.array_equal(dx, tx.grad.numpy())
    assert np.array_equal(mine.arg, twin.decide(torch.from_numpy(x)).numpy())
    if stride == 2:
        assert dx[0, 0, 0, 1] == 1 and dx[0, 0, 0, 2] == 0 and dx[0, 0, 1, 2] == 2 and dx[0, 0, 2, 2] == 4


LOSS_CASES = [(name, reduction, scale, n) for name in LOSSES for reduction in ("mean", "sum")
              for scale in (1.0, 1e3, -1e4) for n in (1, 8)]


def loss_inputs(loss, n, scale, rng):
    """Scores and targets of the loss's kind: class logits (n, 10) and labels; binary probabilities (after
    a sigmoid: 0 and 1 exactly at large scales) or logits (n, 1) and 0/1 labels; regression (n, 3)."""
    if loss.target == "class":
        return rng.standard_normal((n, 10)) * scale, rng.integers(0, 10, n)
    if loss.target == "sequence":        # (n, T=5, V=6) scores; next-token ids, the last two steps of sample 0 masked
        y = rng.integers(0, 6, (n, 5))
        y[0, 3:] = -1
        return rng.standard_normal((n, 5, 6)) * scale, y
    if loss.target == "binary":
        z = rng.standard_normal((n, 1)) * scale
        return (1 / (1 + np.exp(-z)) if loss.threshold == 0.5 else z), rng.integers(0, 2, n)
    return rng.standard_normal((n, 3)) * scale, rng.standard_normal((n, 3))


@pytest.mark.parametrize("name,reduction,scale,n", LOSS_CASES)
def test_loss_matches_its_twin(name, reduction, scale, n):
    rng = np.random.default_rng(3)
    loss = LOSSES[name]
    scores, y = loss_inputs(loss, n, scale, rng)
    mine = loss.make_manual(reduction)
    value = mine.forward(scores, y)
    d = mine.backward()
    t = torch.tensor(scores, requires_grad=True)
    ref = loss.make_twin(reduction)(t, torch.from_numpy(y))
    ref.backward()
    assert np.isfinite(value) and rel(value, ref.item()) <= AUTOGRAD_RTOL
    assert d.shape == scores.shape and rel(d, t.grad.numpy()) <= AUTOGRAD_RTOL
    if abs(scale) == 1.0:
        coords = np.arange(scores.size)
        assert rel(d.ravel(), central(lambda: mine.forward(scores, y), scores, coords)) <= FD_RTOL
    pred = mine.predict(scores)
    tpred = loss.twin.predict(t.detach())
    assert (pred is None and tpred is None) or np.array_equal(pred, tpred.numpy())


@pytest.mark.parametrize("name", list(LOSSES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_loss_edges_and_dtype(name, dtype):
    """Edge cases: hinge margins exactly 0 (derivative 0, as torch), probabilities exactly 0, 1/2 and 1
    (torch's log clamp and gradient floor; NNFS's clip), large logits; the gradient keeps the dtype."""
    loss = LOSSES[name]
    if loss.target == "class":
        scores = np.array([[0.0, -1.0, 2.0], [3.0, 2.0, 2.0], [1.0, 1.0, 1.0]])   # margins of exactly 0
        y = np.array([0, 0, 2])
    elif loss.target == "binary":
        scores = np.array([[0.0], [1.0], [0.5], [1.0], [0.0], [1e-30]]) if loss.threshold == 0.5 else \
            np.array([[0.0], [50.0], [-50.0], [1e4], [-1e4], [3.0]])
        y = np.array([0, 1, 1, 0, 1, 0])
    elif loss.target == "sequence":     # T = 1; a sample with every step masked; ties; a large logit
        scores = np.array([[[0.0, 0.0, 0.0]], [[1.0, 2.0, 3.0]], [[1e4, 0.0, -1e4]]])
        y = np.array([[1], [-1], [2]])
    else:
        scores, y = np.array([[0.0, 1.0], [1e3, -2.0]]), np.array([[0.0, 2.0], [-1e3, -2.0]])
    scores, y = scores.astype(dtype), (y.astype(dtype) if loss.target == "regression" else y)
    mine = loss.make_manual("mean")
    value = mine.forward(scores, y)
    d = mine.backward()
    t = torch.tensor(scores, requires_grad=True)
    ref = loss.make_twin("mean")(t, torch.from_numpy(y))
    ref.backward()
    bound = AUTOGRAD_RTOL if dtype == np.float64 else 64 * float(np.finfo(np.float32).eps)
    assert d.dtype == dtype
    assert rel(value, ref.item()) <= bound and rel(d, t.grad.numpy()) <= bound


LOSS_BRANCHED = [name for name, loss in LOSSES.items() if hasattr(loss.twin, "decide")]


@pytest.mark.parametrize("name", LOSS_BRANCHED)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_branch_losses_can_be_followed(name, reduction):
    """A loss with branch points (svm's hinges): forward_with its own decisions is its forward, value and
    gradient; the margin is 0 exactly on the hinge; flipping a branch changes the gradient."""
    loss = LOSSES[name]
    s = torch.tensor([[0.0, -1.0, 2.0], [3.0, 2.0, 2.0], [0.3, -0.4, 1.0]], dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0, 0, 2])
    twin = loss.make_twin(reduction)
    taken = twin.decide(s.detach(), y)
    a = twin(s, y)
    ga, = torch.autograd.grad(a, s)
    b = twin.forward_with(s, y, taken)
    gb, = torch.autograd.grad(b, s)
    assert rel(a.item(), b.item()) <= AUTOGRAD_RTOL and rel(ga.numpy(), gb.numpy()) <= AUTOGRAD_RTOL
    assert (twin.margin(s.detach(), y) == 0).sum() >= 2       # (0, 1) and (1, 1)/(1, 2) sit on the hinge
    flipped = taken.clone()
    flipped[0, 1] = ~flipped[0, 1]
    gc, = torch.autograd.grad(twin.forward_with(s, y, flipped), s)
    assert not torch.equal(gc, gb)

"""The optimised manual side computes exactly what the plain formulas compute.

``manual`` reuses arrays between steps and writes in place for speed
(docs/benchmarks.md); none of that may change a single bit. The reference
below is the textbook step, every temporary a new array; the optimised
MLP, loss and optimizer must reproduce its loss, logits, gradients,
parameters and velocities bit for bit, over full batches, minibatches of
changing size and evaluations in between (which resize the kept arrays).
A reordered sum, a fused operation or a changed BLAS call would show here.
"""
import numpy as np
import pytest

import manual
import manual.rows


@pytest.fixture(params=["as-shipped", "threads-forced"])
def row_threads(request, monkeypatch):
    """As shipped (small arrays stay on one thread), and with every element-wise pass
    split over 3 threads in blocks of a few rows, whatever the machine's core count."""
    if request.param == "threads-forced":
        monkeypatch.setattr(manual.rows, "MIN_ELEMENTS", 0)
        monkeypatch.setattr(manual.rows, "BLOCK_BYTES", 4096)
        monkeypatch.setattr(manual.rows, "cores", lambda: 3)
    return request.param


def reference_step(params, velocity, x, y, lr, momentum, reduction):
    """One SGD-momentum step by the formulas: (loss, logits, grads); updates params and velocity."""
    names = [k[: -len(".weight")] for k in params if k.endswith(".weight")]
    inputs, hs = [], []
    h = x
    for i, name in enumerate(names):
        inputs.append(h)
        z = h @ params[f"{name}.weight"].T + params[f"{name}.bias"]
        h = np.maximum(z, 0) if i < len(names) - 1 else z
        hs.append(h)
    logits = h
    shifted = logits - logits.max(axis=1, keepdims=True)
    sums = np.exp(shifted).sum(axis=1, keepdims=True)
    probs = np.exp(shifted) / sums
    rows = np.arange(len(y))
    log_py = logits[rows, y] - logits.max(axis=1) - np.log(sums[:, 0])
    loss = float(-log_py.mean() if reduction == "mean" else -log_py.sum())
    d = probs.copy()
    d[rows, y] -= 1
    if reduction == "mean":
        d = d / len(y)
    grads = {}
    for i in reversed(range(len(names))):
        name = names[i]
        if i < len(names) - 1:
            d = d * (hs[i] > 0)
        grads[f"{name}.weight"] = d.T @ inputs[i]
        grads[f"{name}.bias"] = d.sum(axis=0)
        d = d @ params[f"{name}.weight"]
    for key in params:
        velocity[key] = momentum * velocity[key] + lr * grads[key]
        params[key] = params[key] - velocity[key]
    return loss, logits, grads


def assert_bits_equal(a, b, what):
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape, what
    assert a.tobytes() == b.tobytes(), f"{what}: {np.count_nonzero(a != b)} elements differ"


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("sizes,reduction", [
    pytest.param((784, 300, 10), "mean", id="784-300-10-mean"),
    pytest.param((50, 40, 30, 10), "sum", id="50-40-30-10-sum"),
])
def test_optimised_step_is_bitwise_the_formula(dtype, sizes, reduction, row_threads):
    rng = np.random.default_rng(7)
    params = manual.init_params(sizes, rng, dtype)
    for p in params.values():
        p += (0.05 * rng.standard_normal(p.shape)).astype(dtype)   # nonzero biases
    ref_params = {k: v.copy() for k, v in params.items()}
    lr, momentum, v0 = 1e-2, 0.9, 1e-3
    model = manual.MLP(params)
    loss_fn = manual.SoftmaxCrossEntropy(reduction)
    opt = manual.SGDMomentum(params, lr, momentum, v0)
    ref_velocity = {k: np.full_like(v, v0) for k, v in params.items()}
    data_x = rng.random((600, sizes[0])).astype(dtype)
    data_y = rng.integers(0, sizes[-1], 600)
    # full batch twice, an evaluation of another size, minibatches of changing size, full batch again
    batches = [600, 600, "eval", 128, 128, 77, "eval", 600]
    for step, n in enumerate(batches):
        if n == "eval":
            x = data_x[:250]
            logits = model.forward(x)
            loss_fn.forward(logits, data_y[:250])
            continue
        idx = rng.permutation(600)[:n] if n < 600 else slice(None)
        x, y = data_x[idx], data_y[idx]
        logits = model.forward(x)
        loss = loss_fn.forward(logits, y)
        grads = model.backward(loss_fn.backward())
        opt.step(grads)
        ref_loss, ref_logits, ref_grads = reference_step(ref_params, ref_velocity, x, y, lr, momentum, reduction)
        assert loss == ref_loss or np.isnan(loss) and np.isnan(ref_loss), f"step {step} loss"
        assert_bits_equal(logits, ref_logits, f"step {step} logits")
        for key in params:
            assert_bits_equal(grads[key], ref_grads[key], f"step {step} grad {key}")
            assert_bits_equal(params[key], ref_params[key], f"step {step} param {key}")
            assert_bits_equal(opt.velocity[key], ref_velocity[key], f"step {step} velocity {key}")


def test_returned_arrays_are_not_overwritten_by_the_next_step():
    """Logits and gradients are the caller's: kept buffers stay internal."""
    rng = np.random.default_rng(0)
    params = manual.init_params((20, 30, 5), rng, np.float64)
    model, loss_fn = manual.MLP(params), manual.SoftmaxCrossEntropy()
    x, y = rng.random((8, 20)), rng.integers(0, 5, 8)
    logits = model.forward(x)
    loss_fn.forward(logits, y)
    dlogits = loss_fn.backward()
    grads = model.backward(dlogits)
    kept = [a.copy() for a in (logits, dlogits, *grads.values())]
    logits2 = model.forward(2 * x)
    loss_fn.forward(logits2, y)
    model.backward(loss_fn.backward())
    for before, now in zip(kept, (logits, dlogits, *grads.values())):
        assert np.array_equal(before, now)

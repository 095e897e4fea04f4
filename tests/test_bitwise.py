"""The manual side computes exactly what the plain formulas compute, bit for bit.

The reference below is the textbook step written out; the manual network, loss and optimizer
built from the spec must reproduce its loss, logits, gradients, parameters and velocities bit
for bit over full batches, minibatches of changing size and evaluations in between. The
committed baselines (baselines/) were recorded with these formulas: a reordered sum, a fused
operation or a changed BLAS call would show here.
"""
import numpy as np
import pytest

from comparisons import Config, spec
from comparisons.sides import shared_init
from comparisons.sides.builtin import ManualSide


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


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("hidden,reduction", [((300,), "mean"), ((40, 30), "sum")], ids=["784-300-10-mean", "50-40-30-10-sum"])
def test_manual_step_is_bitwise_the_formula(dtype, hidden, reduction):
    rng = np.random.default_rng(7)
    n_in = 784 if hidden == (300,) else 50
    lr, momentum, v0 = 1e-2, 0.9, 1e-3
    config = Config(hidden=hidden, dtype=dtype, reduction=reduction, lr=lr, momentum=momentum, init_velocity=v0)
    layers = spec.parse(spec.mlp(hidden), (n_in,), 10)
    side = ManualSide(layers, config)
    values = shared_init.draw(layers, rng, dtype)
    for v in values.values():
        v += (0.05 * rng.standard_normal(v.shape)).astype(dtype)   # nonzero biases
    shared_init.write(values, side)
    ref_params = {k: v.copy() for k, v in values.items()}
    ref_velocity = {k: np.full_like(v, v0) for k, v in values.items()}
    data_x = rng.random((600, n_in)).astype(dtype)
    data_y = rng.integers(0, 10, 600)
    for step, n in enumerate([600, 600, "eval", 128, 128, 77, "eval", 600]):
        if n == "eval":
            side.evaluate(data_x[:250], data_y[:250])
            continue
        idx = rng.permutation(600)[:n] if n < 600 else slice(None)
        x, y = data_x[idx], data_y[idx]
        loss, logits = side.train_step(x, y)
        ref_loss, ref_logits, ref_grads = reference_step(ref_params, ref_velocity, x, y, lr, momentum, reduction)
        assert loss == ref_loss, f"step {step} loss"
        assert_bits_equal(logits, ref_logits, f"step {step} logits")
        for key in values:
            assert_bits_equal(side.grads[key], ref_grads[key], f"step {step} grad {key}")
            assert_bits_equal(side.params[key], ref_params[key], f"step {step} param {key}")
            assert_bits_equal(side.state[f"{key}.momentum_buffer"][0], ref_velocity[key], f"step {step} velocity {key}")

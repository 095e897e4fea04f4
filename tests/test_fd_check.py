"""comparisons/explain/fd_check.py: incremental central differences agree with the naive ones and catch slips."""
import numpy as np
import pytest

import manual
from comparisons.explain.fd_check import spot_check


def trained_step(sizes, reduction, dtype=np.float64, n=12, seed=3):
    rng = np.random.default_rng(seed)
    params = manual.init_params(sizes, rng, dtype)
    for p in params.values():
        p += (0.1 * rng.standard_normal(p.shape)).astype(dtype)
    model, loss_fn = manual.MLP(params), manual.SoftmaxCrossEntropy(reduction)
    x, y = rng.random((n, sizes[0])).astype(dtype), rng.integers(0, sizes[-1], n)
    loss_fn.forward(model.forward(x), y)
    grads = model.backward(loss_fn.backward())
    return model, loss_fn, grads, x, y


def naive(model, x, y, reduction, key, index, h):
    """Two full forward passes in float64 with the coordinate moved by +-h."""
    p = model.params[key]
    old = p[index]
    losses = []
    for sign in (1, -1):
        p[index] = old + sign * h
        logits = manual.MLP({k: v.astype(np.float64) for k, v in model.params.items()}).forward(x.astype(np.float64))
        losses.append(manual.SoftmaxCrossEntropy(reduction).forward(logits, y))
    p[index] = old
    return (losses[0] - losses[1]) / (2 * h)


@pytest.mark.parametrize("sizes", [(20, 30, 5), (20, 16, 8, 5)], ids=["1-hidden", "2-hidden"])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_incremental_differences_match_the_gradient_and_the_naive_ones(sizes, reduction):
    model, loss_fn, grads, x, y = trained_step(sizes, reduction)
    checks = spot_check(model, loss_fn, grads, y, n=10, rng=np.random.default_rng(0))
    assert len(checks) == sum(min(10, p.size) for p in model.params.values())
    assert all(c.passed for c in checks), [c for c in checks if not c.passed]
    assert max(c.error for c in checks) < 1e-6
    for c in checks[::7]:
        step = 1e-4 * max(abs(float(model.params[c.name][c.index])), 1.0)
        assert c.numeric == pytest.approx(naive(model, x, y, reduction, c.name, c.index, step), rel=1e-7, abs=1e-10)


def test_a_wrong_gradient_is_flagged_and_nothing_is_changed():
    model, loss_fn, grads, x, y = trained_step((20, 30, 5), "mean")
    before = {k: v.copy() for k, v in model.params.items()}
    h_before = model.relus["hidden"].h.copy()
    wrong = {k: v.copy() for k, v in grads.items()}
    wrong["hidden.weight"] *= 1.05                               # a 5% slip in one layer
    checks = spot_check(model, loss_fn, wrong, y, n=6)
    assert {c.name for c in checks if not c.passed} == {"hidden.weight"}
    assert all(np.array_equal(before[k], model.params[k]) for k in before)
    assert np.array_equal(h_before, model.relus["hidden"].h)


def test_float32_model_is_checked_in_float64():
    model, loss_fn, grads, x, y = trained_step((784, 100, 10), "sum", dtype=np.float32, n=64)
    checks = spot_check(model, loss_fn, grads, y, n=5, coords=None)
    assert all(c.passed for c in checks), [c for c in checks if not c.passed]

"""The assignment's velocity form against torch.optim.SGD's momentum buffer."""
import numpy as np
import pytest
import torch

import manual
import torch_ref

EXACT64 = 1e-13   # float64: the two recurrences differ only by rounding of v / lr; measured ~1e-16


def _run_both(init_velocity, carry_velocity=True, steps=6, lr=0.05, momentum=0.9, seed=0):
    """Apply the same random gradients to both optimizers; return (manual params, torch params, ...)."""
    rng = np.random.default_rng(seed)
    params = {"fc1.weight": rng.standard_normal((4, 5)), "fc1.bias": rng.standard_normal(4)}
    named = {k: torch.nn.Parameter(torch.from_numpy(v.copy())) for k, v in params.items()}
    mine = manual.SGDMomentum(params, lr, momentum, init_velocity)
    if carry_velocity:
        theirs = torch_ref.SGDMomentum(named, lr, momentum, init_velocity)
    else:                                   # torch's own default: an empty state, buf starts at the gradient
        theirs = torch.optim.SGD(named.values(), lr=lr, momentum=momentum)
    for _ in range(steps):
        grads = {k: rng.standard_normal(v.shape) for k, v in params.items()}
        mine.step(grads)
        for name, p in named.items():
            p.grad = torch.from_numpy(grads[name].copy())
        theirs.step()
    return params, {k: v.detach().numpy() for k, v in named.items()}, mine, named, theirs


@pytest.mark.parametrize("v0", [0.0, 1e-5, 0.3, -2.0], ids=["v0=0", "v0=1e-5", "v0=0.3", "v0=-2"])
def test_velocity_form_equals_torch_buffer_form_when_buffer_starts_at_v0_over_lr(v0):
    params, ref, mine, named, opt = _run_both(v0)
    for name in params:
        np.testing.assert_allclose(params[name], ref[name], rtol=EXACT64, atol=EXACT64)
    for key, (buf, scale) in opt.state().items():   # the optimizer states agree too: v = lr * buf
        assert scale == 0.05
        np.testing.assert_allclose(mine.state[key], scale * buf.numpy(), rtol=EXACT64, atol=EXACT64)


@pytest.mark.parametrize("v0", [1e-5, 0.3], ids=["v0=1e-5", "v0=0.3"])
def test_torch_default_state_drops_the_initial_velocity(v0):
    """Without carrying v0 into momentum_buffer the sides differ: the carry is what makes them equal."""
    params, ref, *_ = _run_both(v0, carry_velocity=False)
    worst = max(np.abs(params[k] - ref[k]).max() for k in params)
    # v0 contributes -v0 * (g + g^2 + ... + g^k) to every parameter after k steps.
    expected = v0 * sum(0.9 ** i for i in range(1, 7))
    assert worst == pytest.approx(expected, rel=1e-6)


def test_torch_default_state_equals_zero_initial_velocity():
    params, ref, *_ = _run_both(0.0, carry_velocity=False)
    for name in params:
        np.testing.assert_allclose(params[name], ref[name], rtol=EXACT64, atol=EXACT64)


def test_load_state_takes_assignment_units():
    _, _, mine, named, opt = _run_both(0.1)
    opt.load_state({k: np.full(p.shape, 0.5) for k, p in mine.state.items()})
    for buf, scale in opt.state().values():
        assert torch.all(buf == 0.5 / 0.05)

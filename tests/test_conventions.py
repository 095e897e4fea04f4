"""Each course convention of manual/conventions.py, written as the course writes it, equals its torch
mapping (float64, <= 1e-12 relative), and differs from torch without the mapping."""
import numpy as np
import pytest
import torch

import torch_ref
from comparisons import spec
from comparisons.registry import LOSSES

RTOL = 1e-12


def rel(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def test_dropout_keep_probability_maps_onto_torch_drop_probability(rng):
    """cs231n: mask = (rand < p) / p with p the KEEP probability; out = x * mask. Given the same kept
    units, dropout:0.8:keep is cs231n's p = 0.8, i.e. torch's drop probability 0.2."""
    x = rng.standard_normal((50, 40))
    layer = spec.layer("dropout:0.8:keep", (40,))
    assert layer.kwargs["p"] == pytest.approx(0.2, abs=1e-15)
    twin = torch_ref.Dropout(**layer.kwargs, dtype=torch.float64)
    out = twin(torch.from_numpy(x)).numpy()
    kept = layer.kwargs["mask"].mask
    assert 0.7 < kept.mean() < 0.9
    cs231n = x * (kept / 0.8)                      # cs231n's inverted dropout with the same units kept
    assert rel(out, cs231n) <= RTOL
    unmapped = spec.layer("dropout:0.8", (40,))    # the same number read as torch's drop probability
    twin = torch_ref.Dropout(**unmapped.kwargs, dtype=torch.float64)
    out = twin(torch.from_numpy(x)).numpy()
    assert rel(out, x * (unmapped.kwargs["mask"].mask / 0.8)) > 1.0      # scaled by 1/0.2, not 1/0.8


def _cs231n_running(x, running_mean, running_var, momentum):
    """cs231n's batchnorm_forward (train): running = momentum * running + (1 - momentum) * sample,
    with the biased sample variance (np.var)."""
    mean, var = x.mean(axis=0), x.var(axis=0)
    return momentum * running_mean + (1 - momentum) * mean, momentum * running_var + (1 - momentum) * var


def test_batchnorm_cs231n_momentum_maps_onto_torch(rng):
    x = rng.standard_normal((16, 5)) * 3 + 1
    layer = spec.layer("batchnorm:0.9:cs231n", (5,))
    assert layer.kwargs["momentum"] == pytest.approx(0.1) and spec.layer("batchnorm:cs231n", (5,)).kwargs == \
        {"num_features": 5, "momentum": pytest.approx(0.1), "running_var": "unbiased"}
    twin = torch_ref.BatchNorm1d(**layer.kwargs, dtype=torch.float64)
    twin(torch.from_numpy(x))
    mean, var = _cs231n_running(x, np.zeros(5), np.ones(5), 0.9)
    assert rel(twin.running_mean.numpy(), mean) <= RTOL
    # running_var: torch moves it towards the UNBIASED batch variance, cs231n towards the biased one
    n = len(x)
    assert rel(twin.running_var.numpy(), 0.9 + 0.1 * x.var(axis=0) * n / (n - 1)) <= RTOL
    assert rel(twin.running_var.numpy(), var) > 1e-3
    unmapped = torch_ref.BatchNorm1d(5, momentum=0.9, dtype=torch.float64)    # 0.9 read as torch's
    unmapped(torch.from_numpy(x))
    assert rel(unmapped.running_mean.numpy(), mean) > 1.0


def test_batchnorm_biased_running_var_maps_onto_cs231n_in_both_sides(rng):
    """``batchnorm:cs231n:biased`` is cs231n's batchnorm_forward exactly: momentum on the old value and
    np.var (biased) in running_var, on the torch twin and the manual class; the normalisation and its
    gradients stay torch's."""
    x = rng.standard_normal((16, 5)) * 3 + 1
    layer = spec.layer("batchnorm:cs231n:biased", (5,))
    twin = torch_ref.BatchNorm1d(**layer.kwargs, dtype=torch.float64)
    mine = layer.kind.manual(**layer.kwargs, dtype=np.float64)
    reference = torch_ref.BatchNorm1d(5, momentum=0.1, dtype=torch.float64)     # torch's own module
    xt = torch.from_numpy(x).requires_grad_()
    out = twin(xt)
    out_ref = reference(torch.from_numpy(x))
    mine.forward(x, train=True)
    mean, var = _cs231n_running(x, np.zeros(5), np.ones(5), 0.9)
    for side in (twin.running_mean.numpy(), mine.buffers["running_mean"]):
        assert rel(side, mean) <= RTOL
    for side in (twin.running_var.numpy(), mine.buffers["running_var"]):
        assert rel(side, var) <= RTOL
    assert rel(reference.running_var.numpy(), var) > 1e-3          # torch's own update: unbiased
    assert rel(out.detach().numpy(), out_ref.detach().numpy()) <= RTOL
    assert int(twin.num_batches_tracked) == 1
    twin.eval()
    reference.running_mean.copy_(twin.running_mean)
    reference.running_var.copy_(twin.running_var)
    reference.eval()
    assert rel(twin(torch.from_numpy(x)).detach().numpy(), reference(torch.from_numpy(x)).detach().numpy()) == 0


def test_batchnorm_normalises_with_the_biased_variance_in_both_modes(rng):
    x = rng.standard_normal((8, 3)) * 2
    layer = spec.layer("batchnorm", (3,))
    mine = layer.kind.manual(**layer.kwargs, dtype=np.float64)
    out = mine.forward(x, train=True)
    assert rel(out, (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5)) <= RTOL
    rm, rv = mine.buffers["running_mean"], mine.buffers["running_var"]
    assert rel(mine.forward(x, train=False), (x - rm) / np.sqrt(rv + 1e-5)) <= RTOL


def test_mse_half_is_half_of_torch(rng):
    s, y = rng.standard_normal((6, 3)), rng.standard_normal((6, 3))
    course = 0.5 * np.mean((s - y) ** 2), (s - y) / s.size          # the course's 0.5 * mean form
    for name, factor in (("mse:half", 1.0), ("mse", 2.0)):
        t = torch.tensor(s, requires_grad=True)
        loss = LOSSES[name].make_twin("mean")(t, torch.from_numpy(y))
        loss.backward()
        close = rel(loss.item(), factor * course[0]) <= RTOL and rel(t.grad.numpy(), factor * course[1]) <= RTOL
        assert close


def _nnfs_bce(p, y):
    """NNFS's Loss_BinaryCrossentropy, forward and backward, as the book writes them."""
    clipped = np.clip(p, 1e-7, 1 - 1e-7)
    loss = np.mean(-(y * np.log(clipped) + (1 - y) * np.log(1 - clipped)))
    dclipped = np.clip(p, 1e-7, 1 - 1e-7)
    dinputs = -(y / dclipped - (1 - y) / (1 - dclipped)) / p.shape[1] / len(p)
    return loss, dinputs


def test_bce_nnfs_clip_maps_onto_torch():
    p = np.array([[0.0], [1.0], [0.3], [1.0], [0.0], [1e-9], [0.9]])
    y = np.array([0, 1, 1, 0, 1, 0, 1])
    want = _nnfs_bce(p, y[:, None].astype(float))
    for name, equal in (("bce:nnfs", True), ("bce", False)):
        t = torch.tensor(p, requires_grad=True)
        loss = LOSSES[name].make_twin("mean")(t, torch.from_numpy(y))
        loss.backward()
        same = rel(loss.item(), want[0]) <= RTOL and rel(t.grad.numpy(), want[1]) <= RTOL
        assert same == equal, name


def _cs231n_svm(s, y):
    n = len(y)
    correct = s[np.arange(n), y][:, None]
    margins = np.maximum(0, s - correct + 1)
    margins[np.arange(n), y] = 0
    d = (margins > 0).astype(float)
    d[np.arange(n), y] -= d.sum(axis=1)
    return margins.sum() / n, d / n


def test_svm_is_cs231n_and_k_times_torch_multimargin(rng):
    s, y = rng.standard_normal((9, 7)), rng.integers(0, 7, 9)
    want = _cs231n_svm(s, y)
    t = torch.tensor(s, requires_grad=True)
    loss = LOSSES["svm"].make_twin("mean")(t, torch.from_numpy(y))
    loss.backward()
    assert rel(loss.item(), want[0]) <= RTOL and rel(t.grad.numpy(), want[1]) <= RTOL
    plain = torch.nn.functional.multi_margin_loss(torch.from_numpy(s), torch.from_numpy(y))
    assert rel(plain.item() * 7, want[0]) <= RTOL and rel(plain.item(), want[0]) > 0.5


def _nhwc_conv(A, W, b, pad):
    """The Deep Learning Specialization's conv_forward as written: A (m, H, W, C_prev), W (f, f, C_prev, C),
    b (1, 1, 1, C), stride 1, a loop over the output positions."""
    f = W.shape[0]
    Ap = np.pad(A, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    n_H, n_W = Ap.shape[1] - f + 1, Ap.shape[2] - f + 1
    Z = np.zeros((len(A), n_H, n_W, W.shape[3]))
    for h in range(n_H):
        for w in range(n_W):
            Z[:, h, w, :] = np.tensordot(Ap[:, h:h + f, w:w + f, :], W, axes=([1, 2, 3], [0, 1, 2])) + b[0, 0, 0]
    return Z


def test_nhwc_conv_layout_maps_onto_torch_by_views(rng):
    """conv_layout = "nhwc": the course's X (m, H, W, C), W (f, f, C_prev, C), b (1, 1, 1, C) seen through
    CONV_LAYOUT's permutations are torch's NCHW arrays; torch's conv2d on them is the course's convolution
    seen the same way (and the arrays taken as they are, or reshaped instead of permuted, are not)."""
    from manual.conventions import CONV_LAYOUT
    A, W, b = rng.standard_normal((3, 6, 5, 2)), rng.standard_normal((3, 3, 2, 4)), rng.standard_normal((1, 1, 1, 4))
    nhwc = CONV_LAYOUT["nhwc"]
    course = _nhwc_conv(A, W, b, pad=1)
    t = torch.nn.functional.conv2d(torch.from_numpy(A.transpose(nhwc["activation"])),
                                   torch.from_numpy(W.transpose(nhwc["weight"])), torch.from_numpy(b.reshape(-1)),
                                   padding=1).numpy()
    assert rel(t, course.transpose(nhwc["activation"])) <= RTOL
    reshaped = torch.nn.functional.conv2d(torch.from_numpy(A.transpose(nhwc["activation"])),
                                          torch.from_numpy(W.reshape(4, 2, 3, 3)), torch.from_numpy(b.reshape(-1)),
                                          padding=1).numpy()
    assert rel(reshaped, course.transpose(nhwc["activation"])) > 0.1
    assert CONV_LAYOUT["nchw"]["weight"] == (0, 1, 2, 3)       # cs231n's (F, C, HH, WW) is torch's as it is


def test_flatten_hwc_is_an_nhwc_reshape(rng):
    """An NHWC tensor reshaped (m, -1) orders its features h, w, c: flatten:hwc of the NCHW view gives the
    same (both sides, forward and backward), torch's flatten (c, h, w) does not."""
    from manual.conventions import CONV_LAYOUT
    course = rng.standard_normal((2, 3, 4, 5))                      # (m, H, W, C)
    x = course.transpose(CONV_LAYOUT["nhwc"]["activation"])         # torch's (m, C, H, W)
    hwc = spec.layer("flatten:hwc", x.shape[1:])
    manual_layer = hwc.kind.manual(**hwc.kwargs)
    assert np.array_equal(manual_layer.forward(x), course.reshape(2, -1))
    twin = torch_ref.Flatten(**hwc.kwargs, dtype=torch.float64)
    xt = torch.from_numpy(x).requires_grad_()
    out = twin(xt)
    assert np.array_equal(out.detach().numpy(), course.reshape(2, -1))
    g = rng.standard_normal(out.shape)
    out.backward(torch.from_numpy(g))
    assert np.array_equal(manual_layer.backward(g), xt.grad.numpy())
    assert np.array_equal(manual_layer.backward(g).transpose(0, 2, 3, 1), g.reshape(course.shape))
    plain = torch_ref.Flatten(**spec.layer("flatten", x.shape[1:]).kwargs)(torch.from_numpy(x)).numpy()
    assert rel(plain, course.reshape(2, -1)) > 0.1


def test_time_last_samples_map_onto_torchs_batch_first_sequences(rng):
    """samples = "columns" for sequences (the Deep Learning Specialization): x (n_x, m, T_x), a (n_a, m, T_x),
    one bias ba (n_a, 1). Its rnn_forward as written, on SAMPLE_AXES' view of torch's (N, T, D) input, is
    torch's nn.RNN (one bias: b_hh = 0) seen the same way; reading the time-last array as a reshape is not."""
    from manual.conventions import SAMPLE_AXES
    N, T, D, H = 3, 5, 4, 6
    Wax, Waa, ba = rng.standard_normal((H, D)), rng.standard_normal((H, H)) * 0.5, rng.standard_normal((H, 1))
    x = rng.standard_normal((N, T, D))
    perm = SAMPLE_AXES["columns"][3]
    xc = x.transpose(perm)                                     # (n_x, m, T_x)
    a, a_next = np.zeros((H, N, T)), np.zeros((H, N))
    for t in range(T):
        a_next = np.tanh(Waa @ a_next + Wax @ xc[:, :, t] + ba)
        a[:, :, t] = a_next
    layer = torch.nn.RNN(D, H, batch_first=True, dtype=torch.float64)
    for name, value in (("weight_ih_l0", Wax), ("weight_hh_l0", Waa), ("bias_ih_l0", ba[:, 0]),
                        ("bias_hh_l0", np.zeros(H))):
        getattr(layer, name).data = torch.from_numpy(value.copy())
    out = layer(torch.from_numpy(x))[0].detach().numpy()       # (N, T, H)
    assert rel(out.transpose(perm), a) <= RTOL
    assert rel(out.reshape(a.shape), a) > 0.1
    assert SAMPLE_AXES["columns"][2] == (1, 0) and SAMPLE_AXES["rows"][3] == (0, 1, 2)

"""Conv nets end to end (issue 14): a small CNN on the built-in images trains in lockstep and passes in
both dtypes and modes; a slip planted in a conv or pooling backward is caught at that layer; shapes that
do not fit are one line, exit 2, naming the token. The layers themselves: tests/test_twins.py."""
import functools

import numpy as np
import pytest

import manual
from comparisons import Config, run
from comparisons.cli.main import main
from comparisons.data import load_data
from comparisons.data.builtin import images, synthetic
from comparisons.errors import InputError
from manual.conv import scatter_windows

CNN = "conv:4:3:1:1,relu,maxpool:2,conv:8:3:1:1,relu,maxpool:2,flatten,linear"   # 28 -> 14 -> 7


@functools.cache
def data(n=240):
    return images(seed=1, sizes=(n, 60, 60))


def cnn_config(dtype, mode, **fields) -> Config:
    return Config(**{**dict(model=CNN, epochs=1, batch_size=40, lr=0.05, dtype=dtype, mode=mode), **fields})


def test_builtin_images_are_the_builtin_samples_as_images():
    flat, shaped = synthetic(seed=1, sizes=(30, 10, 10)), images(seed=1, sizes=(30, 10, 10))
    assert shaped.train.x.shape == (30, 1, 28, 28) and shaped.sample_shape == (1, 28, 28)
    assert np.array_equal(shaped.train.x.reshape(30, -1), flat.train.x)
    assert np.array_equal(shaped.test.y, flat.test.y) and shaped.n_outputs == 10
    assert load_data("builtin:images").name == "builtin:images"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("mode", ["free", "synced"])
def test_a_small_cnn_passes_in_lockstep(dtype, mode):
    result = run(cnn_config(dtype, mode), data())
    assert result.passed, result.first_failure


def test_spatial_norms_pass_in_lockstep():
    model = "conv:4:3:1:1,batchnorm:cs231n:biased,relu,avgpool:2,conv:4:3:1:1,groupnorm:2,relu,maxpool:7,flatten,linear"
    for dtype, mode in (("float32", "free"), ("float64", "synced")):
        result = run(cnn_config(dtype, mode, model=model), data(80))
        assert result.passed, (dtype, mode, result.first_failure)


# --- slips planted in a backward: caught, and the diagnosis names the layer ------------------------

class ConvKernelFlipped(manual.Conv2d):
    """The weight gradient's kernel flipped (the convolution/correlation confusion)."""
    def backward(self, dout):
        dx = super().backward(dout)
        self.grads["weight"] = self.grads["weight"][:, :, ::-1, ::-1].copy()
        return dx


class ConvCropWrong(manual.Conv2d):
    """dx cropped from the padded input's gradient at the wrong corner ([:H, :W] for [P:P+H, P:P+W])."""
    def backward(self, dout):
        super().backward(dout)                        # the weight and bias gradients, right
        n, f, oh, ow = dout.shape
        weight, k = self.params["weight"], self.k
        dm = np.ascontiguousarray(dout.transpose(1, 0, 2, 3)).reshape(f, -1)
        dcols = (weight.reshape(f, -1).T @ dm).reshape(weight.shape[1], k, k, n, oh, ow).transpose(3, 0, 4, 5, 1, 2)
        dxp = scatter_windows(dcols, (n, weight.shape[1], *self.padded_shape[2:]), self.stride)
        h, w = dxp.shape[2] - 2 * self.pad, dxp.shape[3] - 2 * self.pad
        return dxp[:, :, :h, :w]


class MaxPoolTopLeft(manual.MaxPool2d):
    """The gradient sent to each window's top-left element instead of its maximum."""
    def forward(self, x, train=True):
        out = super().forward(x, train)
        self.arg = np.zeros_like(self.arg)
        return out


class AvgPoolNoShare(manual.AvgPool2d):
    """dout given to every element of the window without the 1/K²."""
    def backward(self, dout):
        dx = super().backward(dout)
        return None if dx is None else dx * (self.k * self.k)


@pytest.mark.parametrize("cls,mutant,model,where", [
    ("Conv2d", ConvKernelFlipped, CNN, "conv2 (conv) > grad conv2.weight"),
    ("Conv2d", ConvCropWrong, CNN, "conv2 (conv) > dx"),
    ("MaxPool2d", MaxPoolTopLeft, CNN, "pool2 (maxpool) > dx"),
    ("AvgPool2d", AvgPoolNoShare, CNN.replace("maxpool", "avgpool"), "avgpool2 (avgpool) > dx"),
], ids=["conv-kernel-flipped", "conv-crop", "maxpool-top-left", "avgpool-no-share"])
def test_a_slip_in_a_conv_backward_is_caught_at_that_layer(cls, mutant, model, where, monkeypatch):
    monkeypatch.setattr(manual, cls, mutant)          # the registry builds the manual side from manual.<cls>
    result = run(cnn_config("float64", "synced", model=model, fail_fast=True), data(40))
    assert not result.passed
    diagnosis = result.summary["diagnosis"]
    assert diagnosis["first_divergence"].startswith("backward") and where in diagnosis["first_divergence"], \
        diagnosis


# --- shapes that do not fit -----------------------------------------------------------------------

@pytest.mark.parametrize("model,flat,words", [
    ("conv:4:3,flatten,linear", True, "'conv:4:3' (conv1) on input of shape (784,): conv needs image input"),
    ("conv:4:31,flatten,linear", False, "kernel 31 is larger than the padded input's height 28"),
    ("conv:4:3,conv:4:29:1:1,flatten,linear", False, "'conv:4:29:1:1' (conv2) on input of shape (4, 26, 26): "
                                                      "kernel 29 is larger than the padded input's height 28 (26 + 2·1)"),
    ("conv:4:3:2,flatten,linear", False, "stride 2 does not divide the input's height 28 - kernel 3 = 25"),
    ("maxpool:3,flatten,linear", False, "'maxpool:3' (pool1) on input of shape (1, 28, 28): stride 3 does not"),
    ("avgpool:2:3,flatten,linear", False, "stride 3 does not divide"),
    ("conv:6:3:1:1,groupnorm:4,flatten,linear", False, "groupnorm: 4 groups do not divide 6 channels"),
    ("conv:6:3:1:-1,flatten,linear", False, "'conv:6:3:1:-1': pad must be >= 0, got -1"),
    ("conv:6:3:0,flatten,linear", False, "stride must be >= 1, got 0"),
    ("conv:4:3,linear", False, "linear needs flat input"),
])
def test_shapes_that_do_not_fit_are_one_line(model, flat, words):
    with pytest.raises(InputError) as e:
        run(Config(model=model, epochs=1), synthetic(seed=1, sizes=(20, 10, 10)) if flat else data(40))
    assert words in str(e.value) and "\n" not in str(e.value)


def test_a_conv_that_does_not_fit_exits_2_on_the_command_line(capfd, tmp_path):
    assert main(["run", "--data", "builtin:images", "--model", "conv:4:3:2,flatten,linear", "--epochs", "1",
                 "--out", str(tmp_path / "out")]) == 2
    err = capfd.readouterr().err.strip()
    assert "\n" not in err and "model token 'conv:4:3:2' (conv1)" in err and "stride 2 does not divide" in err


def test_the_referee_follows_the_manual_sides_max():
    """maxpool: where a window's maximum is tied for the referee (exactly equal inputs), it takes the
    element the manual side's input chose (here the second, 1e-6 above after its rounding) and counts
    the flip; torch's own choice at the tie is the first."""
    import torch

    from comparisons import spec as spec_
    from comparisons.explain.referee import Referee
    layers = spec_.parse("conv:1:1,maxpool:2,flatten,linear", (1, 2, 2), 2)
    config = Config(model="conv:1:1,maxpool:2,flatten,linear", lr=0.1, momentum=0.0, dtype="float32")
    x = np.array([[[[1.0, 1.0], [0.0, -1.0]]], [[[0.0, 2.0], [1.0, 0.0]]]], np.float32)   # sample 0: a tie
    y = np.array([0, 1])
    before = {"params": {"conv1.weight": np.ones((1, 1, 1, 1), np.float32), "conv1.bias": np.zeros(1, np.float32),
                         "fc1.weight": np.array([[1.0], [-1.0]], np.float32), "fc1.bias": np.zeros(2, np.float32)},
              "buffers": {}, "state": {}}
    manual_conv = x.copy()
    manual_conv[0, 0, 0, 1] += 1e-6        # the manual side's rounding put the second element above the first
    got = Referee(layers, config).step(before, x, y, {"conv1": manual_conv})
    d = got.ref[("dx", "pool1")][0, 0]
    assert d[0, 0] == 0 and d[0, 1] != 0 and got.flips["pool1"][0] == 1
    plain = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    torch.nn.functional.max_pool2d(plain, 2).sum().backward()
    assert plain.grad[0, 0, 0, 0] == 1 and plain.grad[0, 0, 0, 1] == 0     # torch's own choice: the first


def test_default_arguments_spell_the_same_model():
    from comparisons.spec import canonical
    assert canonical("conv:4:3,maxpool:2,avgpool:3,flatten,linear") == \
        canonical("conv:4:3:1:0,maxpool:2:2,avgpool:3:3,flatten,linear")
    assert canonical("maxpool:2") != canonical("maxpool:2:1")

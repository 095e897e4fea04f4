"""Convolution and pooling on images in NCHW (samples, channels, height, width), as torch.nn.

Vectorised, not looped: every window of the (padded) input is gathered at once with
``numpy.lib.stride_tricks.sliding_window_view`` ("im2col": one row per output position, one
column per (channel, kernel row, kernel column)), and the convolution is one matrix product with
the weights reshaped to (F, C·HH·WW). The backward scatters the columns' gradient back ("col2im")
with one vectorised add per kernel offset (HH·WW of them), never per sample or per pixel.
Each class's docstring shows the loop it stands for.
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from manual.layers import Layer


def out_size(size: int, kernel: int, stride: int, pad: int = 0) -> int:
    """Output positions along one axis: (size + 2·pad - kernel) / stride + 1. The registry refuses a
    stride that does not divide size + 2·pad - kernel (torch would floor and drop the last rows)."""
    return (size + 2 * pad - kernel) // stride + 1


def windows(x: np.ndarray, kh: int, kw: int, stride: int) -> np.ndarray:
    """(N, C, H, W) -> a view (N, C, OH, OW, kh, kw): every kh x kw window at the given stride."""
    return sliding_window_view(x, (kh, kw), axis=(2, 3))[:, :, ::stride, ::stride]


def scatter_windows(dwin: np.ndarray, shape: tuple, stride: int) -> np.ndarray:
    """The adjoint of ``windows``: dwin (N, C, OH, OW, kh, kw) summed back onto an (N, C, H, W) array
    (a position covered by several windows receives the sum), one vectorised add per kernel offset."""
    n, c, oh, ow, kh, kw = dwin.shape
    dx = np.zeros(shape, dwin.dtype)
    for i in range(kh):
        for j in range(kw):
            dx[:, :, i:i + stride * (oh - 1) + 1:stride, j:j + stride * (ow - 1) + 1:stride] += dwin[..., i, j]
    return dx


class Conv2d(Layer):
    """2-D convolution (cross-correlation, as torch.nn.Conv2d and cs231n's conv_forward_naive) with
    weight (F, C, HH, WW) and bias (F,), zero padding ``padding`` on each side, stride ``stride``.

    The loop it stands for::

        xp = pad(x, padding)
        for n in range(N):
            for f in range(F):
                for i in range(OH):
                    for j in range(OW):
                        win = xp[n, :, i*s:i*s+HH, j*s:j*s+WW]
                        out[n, f, i, j] = sum(win * w[f]) + b[f]
        # backward, with the same win and dout[n, f, i, j]:
        #   dw[f] += win * dout[n, f, i, j];   db[f] += dout[n, f, i, j]
        #   dxp[n, :, i*s:i*s+HH, j*s:j*s+WW] += w[f] * dout[n, f, i, j];   dx = dxp without the padding

    Vectorised (cs231n's im2col layout): cols (C·HH·WW, N·OH·OW) holds every window as a column;
    with wm = w.reshape(F, C·HH·WW) and dm = dout as (F, N·OH·OW):
        out = wm @ cols + b,   dw = dm @ cols.T,   db = dm.sum(1),   dcols = wm.T @ dm,
    and dcols is scattered back onto the padded input (one add per kernel offset) and cropped.
    dw is computed as (cols @ dm.T).T: the same sums, but OpenBLAS runs this orientation of the long,
    thin product (K = N·OH·OW ~ 5e4) 2-3x faster here (measured in benchmarks, group conv).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0,
                 dtype=np.float32):
        super().__init__()
        self.k, self.stride, self.pad = kernel_size, stride, padding
        self.params["weight"] = np.zeros((out_channels, in_channels, kernel_size, kernel_size), dtype)
        self.params["bias"] = np.zeros(out_channels, dtype)

    def forward(self, x, train=True):
        n, c, h, w = x.shape
        p, k, s = self.pad, self.k, self.stride
        xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p))) if p else x
        self.padded_shape = xp.shape
        win = windows(xp, k, k, s)                                   # (N, C, OH, OW, K, K), a view
        oh, ow = win.shape[2:4]
        # im2col: one copy into (C, K, K, N, OH, OW): a column per output position
        self.cols = np.ascontiguousarray(win.transpose(1, 4, 5, 0, 2, 3)).reshape(c * k * k, n * oh * ow)
        weight = self.params["weight"]
        out = weight.reshape(len(weight), -1) @ self.cols            # (F, N·OH·OW)
        out += self.params["bias"][:, None]
        return np.ascontiguousarray(out.reshape(-1, n, oh, ow).transpose(1, 0, 2, 3))

    def backward(self, dout):
        n, f, oh, ow = dout.shape
        weight = self.params["weight"]
        dm = np.ascontiguousarray(dout.transpose(1, 0, 2, 3)).reshape(f, -1)       # (F, N·OH·OW)
        self.grads = {"weight": (self.cols @ dm.T).T.reshape(weight.shape), "bias": dm.sum(axis=1)}
        if not self.need_dx:
            return None
        c, k, s = weight.shape[1], self.k, self.stride
        dcols = (weight.reshape(f, -1).T @ dm).reshape(c, k, k, n, oh, ow)
        _, _, hp, wp = self.padded_shape
        dxp = np.zeros((c, n, hp, wp), dout.dtype)                   # channels first, as dcols: plain adds
        for i in range(k):
            for j in range(k):
                dxp[:, :, i:i + s * (oh - 1) + 1:s, j:j + s * (ow - 1) + 1:s] += dcols[:, i, j]
        p = self.pad
        return np.ascontiguousarray(dxp[:, :, p:hp - p, p:wp - p].transpose(1, 0, 2, 3))


class MaxPool2d(Layer):
    """Max pooling over kernel_size x kernel_size windows at ``stride`` (default kernel_size), no padding,
    as torch.nn.MaxPool2d.

    The loop it stands for::

        for n, c, i, j:
            win = x[n, c, i*s:i*s+K, j*s:j*s+K]
            a = argmax(win)            # row-major order: the FIRST maximum wins a tie
            out[n, c, i, j] = win.flat[a]
            dx[n, c, i*s + a // K, j*s + a % K] += dout[n, c, i, j]

    Ties: the gradient goes to the first maximum in row-major window order (np.argmax's rule), the
    element torch's max_pool2d picks on the CPU (it replaces its running max only on a strictly greater
    value); the twin's decide makes the same choice, so the referee can follow this side's.
    """

    def __init__(self, kernel_size: int, stride: int | None = None, dtype=None):
        super().__init__()
        self.k, self.stride = kernel_size, stride or kernel_size

    def forward(self, x, train=True):
        n, c, h, w = x.shape
        k, s = self.k, self.stride
        win = windows(x, k, k, s)
        oh, ow = win.shape[2:4]
        flat = win.reshape(n, c, oh, ow, k * k)                     # a copy when windows overlap or skip
        self.arg = flat.argmax(axis=-1)                              # first maximum of each window
        self.shape = x.shape
        return np.take_along_axis(flat, self.arg[..., None], axis=-1)[..., 0]

    def backward(self, dout):
        if not self.need_dx:
            return None
        n, c, h, w = self.shape
        oh, ow = dout.shape[2:]
        k, s = self.k, self.stride
        row = np.arange(oh)[:, None] * s + self.arg // k            # the chosen element's input position
        col = np.arange(ow)[None, :] * s + self.arg % k
        if s >= k:                                                   # windows do not overlap: one gradient each
            dx = np.zeros(self.shape, dout.dtype)
            nn_, cc = np.indices((n, c), sparse=True)
            dx[nn_[..., None, None], cc[..., None, None], row, col] = dout
            return dx
        flat = ((np.arange(n)[:, None, None, None] * c + np.arange(c)[None, :, None, None]) * h + row) * w + col
        dx = np.zeros(n * c * h * w, dout.dtype)
        np.add.at(dx, flat.ravel(), dout.ravel())                   # overlapping windows: gradients add up
        return dx.reshape(self.shape)


class AvgPool2d(Layer):
    """Average pooling over kernel_size x kernel_size windows at ``stride`` (default kernel_size), no padding,
    as torch.nn.AvgPool2d.

    The loop it stands for::

        for n, c, i, j:
            out[n, c, i, j] = mean(x[n, c, i*s:i*s+K, j*s:j*s+K])
            dx[n, c, i*s:i*s+K, j*s:j*s+K] += dout[n, c, i, j] / K²
    """

    def __init__(self, kernel_size: int, stride: int | None = None, dtype=None):
        super().__init__()
        self.k, self.stride = kernel_size, stride or kernel_size

    def forward(self, x, train=True):
        self.shape = x.shape
        return windows(x, self.k, self.k, self.stride).sum(axis=(4, 5)) / x.dtype.type(self.k * self.k)

    def backward(self, dout):
        if not self.need_dx:
            return None
        share = dout / dout.dtype.type(self.k * self.k)
        dwin = np.broadcast_to(share[..., None, None], (*dout.shape, self.k, self.k))
        return scatter_windows(dwin, self.shape, self.stride)

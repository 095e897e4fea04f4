"""Normalisation layers. Variance in the normalisation is the biased one (divide by N), as torch;
BatchNorm1d's running_var is updated with the unbiased one (N - 1), as torch, or with the biased one
(cs231n; manual/conventions.py BN_RUNNING_VAR)."""
import numpy as np

from manual.layers import Layer


def _normalize_backward(dxhat, xhat, inv_std, axis, work):
    """dL/dx of xhat = (x - mean) / sqrt(var + eps) over ``axis`` (biased var), given dL/dxhat:
    dx = inv_std · (dxhat - mean(dxhat) - xhat · mean(dxhat · xhat)).
    Written into ``dxhat`` (a new array of the caller's), ``work`` (same shape) holding the products:
    the same operations in the same order as the formula, without a new array for each."""
    np.multiply(dxhat, xhat, out=work)
    np.multiply(xhat, work.mean(axis=axis, keepdims=True), out=work)    # xhat · mean(dxhat · xhat)
    dxhat -= dxhat.mean(axis=axis, keepdims=True)
    dxhat -= work
    dxhat *= inv_std
    return dxhat


class _Normalization(Layer):
    """y = xhat · gamma + beta, xhat normalised over ``axis`` (0: the batch; 1: each sample's features)."""
    axis = 0

    def __init__(self, features: int, eps: float, dtype):
        super().__init__()
        self.eps = eps
        self.params["weight"] = np.ones(features, dtype)
        self.params["bias"] = np.zeros(features, dtype)

    def backward(self, dy):
        work = dy * self.xhat
        self.grads = {"weight": work.sum(axis=0), "bias": dy.sum(axis=0)}
        if not self.need_dx:
            return None
        return _normalize_backward(dy * self.params["weight"], self.xhat, self.inv_std, self.axis, work)

    def _affine(self, centred, inv_std, out):
        """xhat = centred · inv_std (in place: centred is the layer's own), kept for backward;
        returns xhat · gamma + beta, written into ``out`` (a new array of the same shape)."""
        self.inv_std = inv_std
        centred *= inv_std
        self.xhat = centred
        np.multiply(centred, self.params["weight"], out=out)
        out += self.params["bias"]
        return out


class BatchNorm1d(_Normalization):
    """y = gamma · (x - mu_B) / sqrt(var_B + eps) + beta over the batch axis of x (N, C), as
    torch.nn.BatchNorm1d. Training: batch statistics (biased var); running_mean and running_var
    move towards them with torch's ``momentum`` on the new value, r <- (1 - m) r + m · batch, with
    the unbiased batch variance in running_var. Evaluation: the running statistics.
    cs231n writes r <- m' r + (1 - m') batch with m' = 0.9: the same update with m = 1 - m'
    (manual/conventions.py). ``running_var="biased"``: running_var moves towards the biased batch
    variance, as cs231n's batchnorm_forward. Buffers: running_mean, running_var (num_batches_tracked is
    torch's integer counter, not compared).
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, running_var: str = "unbiased",
                 dtype=np.float32):
        super().__init__(num_features, eps, dtype)
        self.momentum = momentum
        self.unbiased = running_var == "unbiased"
        self.buffers["running_mean"] = np.zeros(num_features, dtype)
        self.buffers["running_var"] = np.ones(num_features, dtype)

    def forward(self, x, train=True):
        if x.ndim == 4:
            return self._forward_spatial(x, train)
        self.spatial = False
        t = x.dtype.type
        if train:
            n = len(x)
            if n < 2:
                raise ValueError(f"batchnorm in training needs more than 1 sample per batch, got {n}")
            mean = x.mean(axis=0)
            centred = x - mean
            out = centred * centred
            var = out.mean(axis=0)
            m = t(self.momentum)
            rm, rv = self.buffers["running_mean"], self.buffers["running_var"]
            rm *= 1 - m
            rm += m * mean
            rv *= 1 - m
            rv += m * (var * t(n / (n - 1)) if self.unbiased else var)
        else:
            centred = x - self.buffers["running_mean"]
            var = self.buffers["running_var"]
            out = np.empty_like(centred)
        return self._affine(centred, 1 / np.sqrt(var + t(self.eps)), out)

    def _forward_spatial(self, x, train):
        """x (N, C, H, W): torch.nn.BatchNorm2d (cs231n's spatial batchnorm), the same layer with the
        statistics of each channel taken over (N, H, W): N·H·W values, so running_var's unbiased factor
        is N·H·W / (N·H·W - 1)."""
        self.spatial = True
        t = x.dtype.type
        axes = (0, 2, 3)
        if train:
            n = x.size // x.shape[1]
            if n < 2:
                raise ValueError(f"batchnorm in training needs more than 1 value per channel, got {n}")
            mean = x.mean(axis=axes, keepdims=True)
            centred = x - mean
            var = (centred * centred).mean(axis=axes, keepdims=True)
            m = t(self.momentum)
            rm, rv = self.buffers["running_mean"], self.buffers["running_var"]
            rm *= 1 - m
            rm += m * mean.ravel()
            rv *= 1 - m
            rv += m * (var.ravel() * t(n / (n - 1)) if self.unbiased else var.ravel())
        else:
            centred = x - self.buffers["running_mean"][:, None, None]
            var = self.buffers["running_var"][:, None, None]
        self.inv_std = 1 / np.sqrt(var + t(self.eps))
        self.xhat = centred * self.inv_std
        return self.xhat * self.params["weight"][:, None, None] + self.params["bias"][:, None, None]

    def backward(self, dy):
        if not getattr(self, "spatial", False):
            return super().backward(dy)
        axes = (0, 2, 3)
        self.grads = {"weight": (dy * self.xhat).sum(axis=axes), "bias": dy.sum(axis=axes)}
        if not self.need_dx:
            return None
        return _normalize_backward(dy * self.params["weight"][:, None, None], self.xhat, self.inv_std, axes,
                                   np.empty_like(self.xhat))


class LayerNorm(_Normalization):
    """y = gamma · (x - mu) / sqrt(var + eps) + beta over each sample's features (x (N, C)), as
    torch.nn.LayerNorm(C): the same in training and evaluation, no buffers."""

    axis = 1

    def __init__(self, normalized_shape: int, eps: float = 1e-5, dtype=np.float32):
        super().__init__(normalized_shape, eps, dtype)

    def forward(self, x, train=True):
        mean = x.mean(axis=1, keepdims=True)
        centred = x - mean
        out = centred * centred
        var = out.mean(axis=1, keepdims=True)
        return self._affine(centred, 1 / np.sqrt(var + x.dtype.type(self.eps)), out)


class GroupNorm(Layer):
    """y = gamma · (x - mu_g) / sqrt(var_g + eps) + beta, as torch.nn.GroupNorm(num_groups, num_channels):
    the C channels of each sample split into ``num_groups`` groups of C / G consecutive channels, each
    group normalised over its channels and positions (biased var); gamma and beta per channel, (C,).
    The same in training and evaluation, no buffers. cs231n's spatial_groupnorm_forward keeps gamma and
    beta as (1, C, 1, 1): the same values, another layout (a bring-your-own class maps it by reshaping).
    Input (N, C) or (N, C, H, W).
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, dtype=np.float32):
        super().__init__()
        self.groups, self.eps = num_groups, eps
        self.params["weight"] = np.ones(num_channels, dtype)
        self.params["bias"] = np.zeros(num_channels, dtype)

    def _per_channel(self, p, ndim):
        return p.reshape(-1, *(1,) * (ndim - 2))

    def forward(self, x, train=True):
        g = x.reshape(len(x), self.groups, -1)                       # (N, G, C/G · H · W)
        mean = g.mean(axis=2, keepdims=True)
        centred = g - mean
        var = (centred * centred).mean(axis=2, keepdims=True)
        self.inv_std = 1 / np.sqrt(var + x.dtype.type(self.eps))
        self.xhat = (centred * self.inv_std).reshape(x.shape)
        return self.xhat * self._per_channel(self.params["weight"], x.ndim) \
            + self._per_channel(self.params["bias"], x.ndim)

    def backward(self, dy):
        axes = (0, *range(2, dy.ndim))
        self.grads = {"weight": (dy * self.xhat).sum(axis=axes), "bias": dy.sum(axis=axes)}
        if not self.need_dx:
            return None
        n = len(dy)
        dxhat = (dy * self._per_channel(self.params["weight"], dy.ndim)).reshape(n, self.groups, -1)
        xhat = self.xhat.reshape(n, self.groups, -1)
        dx = _normalize_backward(dxhat, xhat, self.inv_std, 2, np.empty_like(xhat))
        return dx.reshape(dy.shape)

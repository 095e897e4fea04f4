"""Normalisation layers. Variance in the normalisation is the biased one (divide by N), as torch;
BatchNorm1d's running_var is updated with the unbiased one (N - 1), as torch, or with the biased one
(cs231n; manual/conventions.py BN_RUNNING_VAR)."""
import numpy as np

from manual.layers import Layer


def _normalize_backward(dxhat, xhat, inv_std, axis):
    """dL/dx of xhat = (x - mean) / sqrt(var + eps) over ``axis`` (biased var), given dL/dxhat:
    dx = inv_std · (dxhat - mean(dxhat) - xhat · mean(dxhat · xhat))."""
    return inv_std * (dxhat - dxhat.mean(axis=axis, keepdims=True)
                      - xhat * (dxhat * xhat).mean(axis=axis, keepdims=True))


class _Normalization(Layer):
    """y = xhat · gamma + beta, xhat normalised over ``axis`` (0: the batch; 1: each sample's features)."""
    axis = 0

    def __init__(self, features: int, eps: float, dtype):
        super().__init__()
        self.eps = eps
        self.params["weight"] = np.ones(features, dtype)
        self.params["bias"] = np.zeros(features, dtype)

    def backward(self, dy):
        self.grads = {"weight": (dy * self.xhat).sum(axis=0), "bias": dy.sum(axis=0)}
        if not self.need_dx:
            return None
        return _normalize_backward(dy * self.params["weight"], self.xhat, self.inv_std, axis=self.axis)


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
        t = x.dtype.type
        if train:
            n = len(x)
            if n < 2:
                raise ValueError(f"batchnorm in training needs more than 1 sample per batch, got {n}")
            mean = x.mean(axis=0)
            centred = x - mean
            var = (centred * centred).mean(axis=0)
            m = t(self.momentum)
            rm, rv = self.buffers["running_mean"], self.buffers["running_var"]
            rm *= 1 - m
            rm += m * mean
            rv *= 1 - m
            rv += m * (var * t(n / (n - 1)) if self.unbiased else var)
        else:
            centred = x - self.buffers["running_mean"]
            var = self.buffers["running_var"]
        self.inv_std = 1 / np.sqrt(var + t(self.eps))
        self.xhat = centred * self.inv_std
        return self.xhat * self.params["weight"] + self.params["bias"]


class LayerNorm(_Normalization):
    """y = gamma · (x - mu) / sqrt(var + eps) + beta over each sample's features (x (N, C)), as
    torch.nn.LayerNorm(C): the same in training and evaluation, no buffers."""

    axis = 1

    def __init__(self, normalized_shape: int, eps: float = 1e-5, dtype=np.float32):
        super().__init__(normalized_shape, eps, dtype)

    def forward(self, x, train=True):
        mean = x.mean(axis=1, keepdims=True)
        centred = x - mean
        var = (centred * centred).mean(axis=1, keepdims=True)
        self.inv_std = 1 / np.sqrt(var + x.dtype.type(self.eps))
        self.xhat = centred * self.inv_std
        return self.xhat * self.params["weight"] + self.params["bias"]

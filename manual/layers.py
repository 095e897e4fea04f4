"""Layer kinds with explicit forward and backward. Samples are rows: x is (N, features).

Every class here is one kind, written as a student would derive it:
- ``params`` and ``buffers``: dicts keyed by torch's local names (``weight``,
  ``bias``, ``running_mean``); the network prefixes the layer's name (``fc1.weight``);
- ``forward(x, train)`` keeps what ``backward`` needs and returns the output;
- ``backward(dout)`` fills ``grads`` (same keys as ``params``) and returns dL/dx
  (``None`` when ``need_dx`` is False: the first layer's dx is never used).
The constructor takes the same arguments as the torch twin of the same name in
``torch_ref`` (plus ``dtype``), so one registry entry builds both.
"""
import numpy as np


class Layer:
    """What every kind shares: no parameters, no buffers, gradients after backward."""

    def __init__(self, dtype=None):
        self.params: dict[str, np.ndarray] = {}
        self.buffers: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.need_dx = True


class Linear(Layer):
    """z = x @ W.T + b with W (out, in) and b (out,), as torch.nn.Linear.

    dL/dW = dz.T @ x,  dL/db = sum over the batch of dz,  dL/dx = dz @ W.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, dtype=np.float32):
        super().__init__()
        self.params["weight"] = np.zeros((out_features, in_features), dtype)
        if bias:
            self.params["bias"] = np.zeros(out_features, dtype)

    def forward(self, x, train=True):
        self.x = x
        z = np.matmul(x, self.params["weight"].T)    # BLAS gemm with a transpose flag: W is not copied
        if "bias" in self.params:
            z += self.params["bias"]
        return z

    def backward(self, dz):
        self.grads = {"weight": dz.T @ self.x}
        if "bias" in self.params:
            self.grads["bias"] = dz.sum(axis=0)
        return dz @ self.params["weight"] if self.need_dx else None


class ReLU(Layer):
    """h = max(z, 0); dL/dz = dL/dh where z > 0, else 0 (derivative 0 at the kink, as torch)."""

    def forward(self, z, train=True):
        self.z = z
        return np.maximum(z, 0)

    def backward(self, dh):
        return dh * (self.z > 0)

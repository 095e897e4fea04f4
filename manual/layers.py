"""Layers with explicit forward and backward. Samples are rows: x is (N, features)."""
import numpy as np


class Linear:
    """z = x @ W.T + b, with W (out, in) and b (out,) as in torch.nn.Linear.

    Holds references to the arrays in the model's params dict (the optimizer
    updates them in place). ``forward`` caches x for ``backward``.
    """

    def __init__(self, weight: np.ndarray, bias: np.ndarray):
        self.weight, self.bias = weight, bias
        self.x = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x
        z = x @ self.weight.T  # BLAS gemm with a transpose flag: no copy of W
        z += self.bias
        return z

    def backward(self, dz: np.ndarray, need_dx: bool = True):
        """dz: (N, out) -> (dW (out, in), db (out,), dx (N, in) or None)."""
        dw = dz.T @ self.x
        db = dz.sum(axis=0)
        dx = dz @ self.weight if need_dx else None
        return dw, db, dx


class ReLU:
    """h = max(z, 0). The gradient at z == 0 is 0, as in torch."""

    def __init__(self):
        self.h = None

    def forward(self, z: np.ndarray) -> np.ndarray:
        self.h = np.maximum(z, 0)
        return self.h

    def backward(self, dh: np.ndarray) -> np.ndarray:
        """dz = dh where z > 0, else 0. Writes into dh (the caller's temporary)."""
        np.multiply(dh, self.h > 0, out=dh)
        return dh

"""Layers with explicit forward and backward. Samples are rows: x is (N, features).

Every operation is the plain formula. Two concessions to speed, neither of
which changes a bit of any result (tests/test_bitwise.py):
- a caller (``MLP``) may pass ``out=`` arrays it keeps between steps, so a
  full-batch step does not allocate, page-fault and zero fresh 40 MB arrays;
  writing into ``out`` runs the same NumPy/BLAS routine on the same operands;
- the big element-wise passes (the hidden layers' bias add fused with ReLU,
  ReLU's backward mask) run on row slices over all cores (manual/rows.py).
"""
import numpy as np

from manual.rows import by_rows


def scratch(buffer: np.ndarray | None, shape: tuple, dtype) -> np.ndarray:
    """``buffer`` if it already has this shape and dtype, else a new empty array."""
    if buffer is None or buffer.shape != shape or buffer.dtype != dtype:
        return np.empty(shape, dtype)
    return buffer


class Linear:
    """z = x @ W.T + b, with W (out, in) and b (out,) as in torch.nn.Linear.

    Holds references to the arrays in the model's params dict (the optimizer
    updates them in place). ``forward`` caches x for ``backward``.
    """

    def __init__(self, weight: np.ndarray, bias: np.ndarray):
        self.weight, self.bias = weight, bias
        self.x = None

    def forward(self, x: np.ndarray, out: np.ndarray | None = None, add_bias: bool = True) -> np.ndarray:
        """z (N, out), written into ``out`` when given (shape (N, out), the result dtype).

        ``add_bias=False`` leaves out the bias, for a caller that adds it in its
        next pass over z (``ReLU.forward(z, bias=...)``).
        """
        self.x = x
        z = np.matmul(x, self.weight.T, out=out)  # BLAS gemm with a transpose flag: no copy of W
        if add_bias:
            z += self.bias
        return z

    def backward(self, dz: np.ndarray, need_dx: bool = True, dx_out: np.ndarray | None = None):
        """dz: (N, out) -> (dW (out, in), db (out,), dx (N, in) or None).

        dW and db are new arrays (callers keep gradients across steps); dx is
        written into ``dx_out`` when given.
        """
        dw = dz.T @ self.x
        db = dz.sum(axis=0)
        dx = np.matmul(dz, self.weight, out=dx_out) if need_dx else None
        return dw, db, dx


class ReLU:
    """h = max(z, 0). The gradient at z == 0 is 0, as in torch."""

    def __init__(self):
        self.h = None
        self._mask = None   # backward's boolean scratch, reused while the batch shape stays

    def forward(self, z: np.ndarray, out: np.ndarray | None = None, bias: np.ndarray | None = None) -> np.ndarray:
        """h = max(z, 0), written into ``out`` when given (``out=z``: in place).

        With ``bias``: h = max(z + bias, 0), the previous Linear's bias added in
        the same pass over memory (z + bias is rounded exactly as Linear would).
        """
        h = np.empty_like(z, dtype=np.result_type(z, 0)) if out is None else out

        def relu(rows):
            zr = z[rows]
            if bias is not None:
                zr = np.add(zr, bias, out=h[rows])
            np.maximum(zr, 0, out=h[rows])

        if z.ndim == 2 and h.shape == z.shape:
            by_rows(relu, *z.shape)
        else:
            relu(Ellipsis)
        self.h = h
        return h

    def backward(self, dh: np.ndarray) -> np.ndarray:
        """dz = dh where z > 0, else 0. Writes into dh (the caller's temporary)."""
        h = self.h
        self._mask = mask = scratch(self._mask, h.shape, np.bool_)
        if h.ndim == 2 and dh.shape == h.shape:
            by_rows(lambda rows: np.multiply(dh[rows], np.greater(h[rows], 0, out=mask[rows]), out=dh[rows]),
                    *h.shape)
        else:
            np.multiply(dh, np.greater(h, 0, out=mask), out=dh)
        return dh

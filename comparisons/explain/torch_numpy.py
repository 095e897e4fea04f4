"""The part of NumPy's namespace that hand-written forward passes call, on torch tensors.

``lockstep audit`` runs a user's own NumPy forward with its module's ``np``
bound to this object, so torch autograd differentiates exactly that code
(quirks included). A call outside this subset raises, and the audit says so.
"""
from contextlib import contextmanager

import torch


def _dim(axis):
    return tuple(axis) if isinstance(axis, (tuple, list)) else axis


class TorchNumpy:
    float32, float64 = torch.float32, torch.float64
    newaxis = None

    @staticmethod
    def maximum(a, b):
        if isinstance(a, (int, float)):          # np.maximum(0, z) as well as np.maximum(z, 0)
            a, b = b, a
        if isinstance(b, (int, float)) and b == 0:
            return torch.relu(a)                 # torch's kink convention: derivative 0 at 0
        return torch.maximum(a, torch.as_tensor(b, dtype=a.dtype))

    @staticmethod
    def max(a, axis=None, keepdims=False):
        return a.max() if axis is None else a.amax(dim=_dim(axis), keepdim=keepdims)

    @staticmethod
    def sum(a, axis=None, keepdims=False):
        return a.sum() if axis is None else a.sum(dim=_dim(axis), keepdim=keepdims)

    @staticmethod
    def mean(a, axis=None, keepdims=False):
        return a.mean() if axis is None else a.mean(dim=_dim(axis), keepdim=keepdims)

    exp, log, sqrt, abs, tanh = (staticmethod(f) for f in (torch.exp, torch.log, torch.sqrt, torch.abs, torch.tanh))

    @staticmethod
    def matmul(a, b):
        return a @ b

    dot = matmul

    @staticmethod
    def where(cond, a, b):
        return torch.where(cond, a, b)

    def __getattr__(self, name):
        raise AttributeError(f"np.{name} is not available under autograd (comparisons/explain/torch_numpy.py)")


_ABSENT = object()


@contextmanager
def numpy_as_torch(module):
    """Within the block, ``module.np`` is a TorchNumpy: the module's NumPy code runs on torch
    tensors (and autograd follows it). ``module.np`` is put back as it was, even if absent."""
    saved = module.__dict__.get("np", _ABSENT)
    module.np = TorchNumpy()
    try:
        yield
    finally:
        if saved is _ABSENT:
            del module.np
        else:
            module.np = saved

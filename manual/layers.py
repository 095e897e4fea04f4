"""Layer kinds with explicit forward and backward. Samples are rows: x is (N, features).

Every class here is one kind, written as a student would derive it:
- ``params`` and ``buffers``: dicts keyed by torch's local names (``weight``,
  ``bias``, ``running_mean``); the network prefixes the layer's name (``fc1.weight``);
- ``forward(x, train)`` keeps what ``backward`` needs and returns the output;
- ``backward(dout)`` fills ``grads`` (same keys as ``params``) and returns dL/dx
  (``None`` when ``need_dx`` is False: the first layer's dx is never used).
The constructor takes the same arguments as the torch twin of the same name in
``torch_ref`` (plus ``dtype``), so one registry entry builds both.

Families: this module (affine, reshape, dropout), ``activations``, ``norm``; losses in ``losses``.
"""
import numpy as np

from manual.conventions import FLATTEN_ORDER


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


class Flatten(Layer):
    """(N, d1, d2, ...) -> (N, d1·d2·...), as torch.nn.Flatten; backward reshapes back. ``order="hwc"``
    (images only) lists an NCHW tensor's features as an NHWC tensor's reshape would (h, w, c;
    manual/conventions.py FLATTEN_ORDER)."""

    def __init__(self, order: str = "chw", dtype=None):
        super().__init__()
        self.perm = FLATTEN_ORDER[order]

    def forward(self, x, train=True):
        self.shape = x.shape
        if x.ndim == 4:
            x = x.transpose(self.perm)
        return x.reshape(len(x), -1)

    def backward(self, dout):
        if not self.need_dx:
            return None
        if len(self.shape) != 4:
            return dout.reshape(self.shape)
        moved = tuple(self.shape[a] for a in self.perm)
        return dout.reshape(moved).transpose(np.argsort(self.perm))


class DropoutMask:
    """The mask of one dropout layer for the current step, shared by every side built from one spec.

    The harness gives it the run's Generator (``rng``) and calls ``next_step()`` before each training
    step; the first training forward of that step draws the keep mask (True = kept, probability
    1 - p) for its input's shape, and every other forward of the step (the torch twins, the referee,
    the diagnosis) uses the same mask. Without ``rng`` (a layer built alone, as in the twin test) a
    Generator seeded 0 is used.
    """

    def __init__(self):
        self.rng: np.random.Generator | None = None
        self.mask: np.ndarray | None = None
        self.fresh = True

    def next_step(self) -> None:
        self.fresh = True

    def keep(self, shape: tuple, p: float) -> np.ndarray:
        if self.fresh or self.mask is None or self.mask.shape != tuple(shape):
            if not self.fresh and self.mask is not None:
                raise ValueError(f"dropout: a mask of shape {self.mask.shape} was drawn for this step, "
                                 f"the input is {tuple(shape)}")
            rng = self.rng if self.rng is not None else np.random.default_rng(0)
            self.mask = rng.random(shape) >= p
            self.fresh = False
        return self.mask


class Dropout(Layer):
    """Inverted dropout with drop probability ``p``, as torch.nn.Dropout: in training
    out = x · mask / (1 - p) (mask 1 with probability 1 - p), in evaluation out = x;
    dL/dx = dout · mask / (1 - p). The mask comes from ``mask`` (DropoutMask), shared with the twin.
    cs231n's ``p`` is the keep probability: registry token ``dropout:P:keep`` means drop 1 - P
    (manual/conventions.py).
    """

    def __init__(self, p: float = 0.5, mask: DropoutMask | None = None, dtype=np.float32):
        super().__init__()
        self.p, self.source, self.dtype = p, mask if mask is not None else DropoutMask(), np.dtype(dtype)

    def forward(self, x, train=True):
        if not train or self.p == 0:
            self.scale = None
            return x
        # torch: noise = bernoulli(1 - p) / (1 - p) in x's dtype, out = x * noise
        self.scale = self.source.keep(x.shape, self.p).astype(x.dtype) / x.dtype.type(1 - self.p)
        return x * self.scale

    def backward(self, dout):
        if not self.need_dx:
            return None
        return dout if self.scale is None else dout * self.scale

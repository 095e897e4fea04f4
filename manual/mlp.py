"""A multilayer perceptron: Linear -> ReLU -> ... -> Linear (logits)."""
import numpy as np

from manual.layers import Linear, ReLU, scratch


def layer_names(n_hidden: int) -> list[str]:
    """Names of the Linear layers: ``hidden``, ``output`` for one hidden layer,
    ``hidden1``, ``hidden2``, ..., ``output`` for more. Same rule as torch_ref."""
    hidden = ["hidden"] if n_hidden == 1 else [f"hidden{i + 1}" for i in range(n_hidden)]
    return hidden + ["output"]


class MLP:
    """params: dict name -> array, weights (out, in). forward(x (N, in)) -> logits (N, K).

    ``backward(dlogits)`` returns gradients in a dict with the params' keys.

    Hidden activations live in arrays the model keeps and reuses while the
    batch size stays the same (``forward`` computes each hidden z, then its
    ReLU in place; ``backward`` writes each hidden dh into one buffer): a
    full-batch step then allocates nothing large. So the cached activations
    (``relus[name].h``, ``linears[name].x``) describe the last ``forward``
    only, as before; the returned logits and gradients are new arrays.
    """

    def __init__(self, params: dict[str, np.ndarray]):
        self.params = params
        names = [key[: -len(".weight")] for key in params if key.endswith(".weight")]
        self.linears = {name: Linear(params[f"{name}.weight"], params[f"{name}.bias"]) for name in names}
        self.relus = {name: ReLU() for name in names[:-1]}
        self._buffers: dict[str, np.ndarray] = {}   # "<layer>.h", "<layer>.dh" -> (N, width)

    def _buffer(self, key: str, shape: tuple, dtype) -> np.ndarray:
        self._buffers[key] = scratch(self._buffers.get(key), shape, dtype)
        return self._buffers[key]

    def forward(self, x: np.ndarray) -> np.ndarray:
        for name, linear in self.linears.items():
            if name in self.relus:
                w = linear.weight
                h = self._buffer(f"{name}.h", (len(x), w.shape[0]), np.result_type(x, w))
                z = linear.forward(x, out=h, add_bias=False)               # x @ W.T
                x = self.relus[name].forward(z, out=h, bias=linear.bias)   # max(z + b, 0), in place
            else:
                x = linear.forward(x)
        return x

    def backward(self, dlogits: np.ndarray) -> dict[str, np.ndarray]:
        grads = {}
        names = list(self.linears)
        d = dlogits
        for i, name in reversed(list(enumerate(names))):
            if name in self.relus:
                d = self.relus[name].backward(d)
            dx_out = None
            if i > 0:
                w = self.linears[name].weight
                dx_out = self._buffer(f"{names[i - 1]}.dh", (len(d), w.shape[1]), np.result_type(d, w))
            dw, db, d = self.linears[name].backward(d, need_dx=i > 0, dx_out=dx_out)
            grads[f"{name}.weight"], grads[f"{name}.bias"] = dw, db
        return {key: grads[key] for key in self.params}

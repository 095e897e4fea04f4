"""A network: named layers in order, a loss on the last layer's output.

Parameters, buffers and gradients are flat dicts keyed like torch's
``state_dict`` (``fc1.weight``, ``bn1.running_mean``), holding the layers' own
arrays. ``forward`` keeps each layer's input and output and ``backward`` each
layer's dL/dx, so every intermediate can be compared with the torch twin.
"""
import numpy as np


class Network:
    def __init__(self, layers: dict, loss):
        self.layers, self.loss = dict(layers), loss
        for layer in self.layers.values():         # dL/dx of the data is never used, nor dL/dx of any
            layer.need_dx = False                   # layer before the first one with parameters (as torch)
            if layer.params:
                break
        self.outputs: dict[str, np.ndarray] = {}    # layer name -> its last forward output
        self.input_grads: dict[str, np.ndarray] = {}    # layer name -> dL/d(its input), last backward

    def _flat(self, what: str) -> dict[str, np.ndarray]:
        return {f"{name}.{key}": value for name, layer in self.layers.items()
                for key, value in getattr(layer, what).items()}

    @property
    def params(self) -> dict[str, np.ndarray]:
        return self._flat("params")

    @property
    def buffers(self) -> dict[str, np.ndarray]:
        return self._flat("buffers")

    @property
    def grads(self) -> dict[str, np.ndarray]:
        return self._flat("grads")

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        for name, layer in self.layers.items():
            x = self.outputs[name] = layer.forward(x, train)
        return x

    def backward(self, dscores: np.ndarray) -> dict[str, np.ndarray]:
        self.input_grads = {"loss": dscores}         # the loss's dL/d(its input): dL/dscores
        d = dscores
        for name, layer in reversed(self.layers.items()):
            if d is None:               # before the first layer with parameters: nothing left to compute
                self.input_grads[name] = None
                continue
            d = self.input_grads[name] = layer.backward(d)
        return self.grads

    def step_loss(self, x, y) -> tuple[float, np.ndarray]:
        """Training forward and backward on one batch: (loss, scores); gradients in ``grads``."""
        scores = self.forward(x, train=True)
        loss = self.loss.forward(scores, y)
        self.backward(self.loss.backward())
        return loss, scores

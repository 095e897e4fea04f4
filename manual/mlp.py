"""A multilayer perceptron: Linear -> ReLU -> ... -> Linear (logits)."""
import numpy as np

from manual.layers import Linear, ReLU


def layer_names(n_hidden: int) -> list[str]:
    """Names of the Linear layers: ``hidden``, ``output`` for one hidden layer,
    ``hidden1``, ``hidden2``, ..., ``output`` for more. Same rule as torch_ref."""
    hidden = ["hidden"] if n_hidden == 1 else [f"hidden{i + 1}" for i in range(n_hidden)]
    return hidden + ["output"]


class MLP:
    """params: dict name -> array, weights (out, in). forward(x (N, in)) -> logits (N, K).

    ``backward(dlogits)`` returns gradients in a dict with the params' keys.
    """

    def __init__(self, params: dict[str, np.ndarray]):
        self.params = params
        names = [key[: -len(".weight")] for key in params if key.endswith(".weight")]
        self.linears = {name: Linear(params[f"{name}.weight"], params[f"{name}.bias"]) for name in names}
        self.relus = {name: ReLU() for name in names[:-1]}

    def forward(self, x: np.ndarray) -> np.ndarray:
        for name, linear in self.linears.items():
            x = linear.forward(x)
            if name in self.relus:
                x = self.relus[name].forward(x)
        return x

    def backward(self, dlogits: np.ndarray) -> dict[str, np.ndarray]:
        grads = {}
        names = list(self.linears)
        d = dlogits
        for i, name in reversed(list(enumerate(names))):
            if name in self.relus:
                d = self.relus[name].backward(d)
            dw, db, d = self.linears[name].backward(d, need_dx=i > 0)
            grads[f"{name}.weight"], grads[f"{name}.bias"] = dw, db
        return {key: grads[key] for key in self.params}

"""The manual step as it was before the performance work: the plain formulas, every
temporary a new array (the code of manual/ at commit 6405657, inlined), timed by the
bench beside the current step. tests/test_bitwise.py holds the current step to the
bits of these same formulas."""
import numpy as np


class PlainStep:
    """784-1000-10 (any widths) SGD-momentum step on a params dict, updated in place."""

    def __init__(self, params: dict, lr: float, momentum: float, init_velocity: float, reduction: str):
        self.params, self.lr, self.momentum, self.reduction = params, lr, momentum, reduction
        self.velocity = {k: np.full_like(v, init_velocity) for k, v in params.items()}
        self.names = [k[: -len(".weight")] for k in params if k.endswith(".weight")]

    def step(self, x: np.ndarray, y: np.ndarray) -> float:
        p, inputs, hs = self.params, [], []
        h = x
        for i, name in enumerate(self.names):
            inputs.append(h)
            z = h @ p[f"{name}.weight"].T
            z += p[f"{name}.bias"]
            h = np.maximum(z, 0) if i < len(self.names) - 1 else z
            hs.append(h)
        row_max = h.max(axis=1, keepdims=True)
        probs = np.exp(h - row_max)
        sums = probs.sum(axis=1, keepdims=True)
        probs /= sums
        rows = np.arange(len(y))
        log_py = h[rows, y] - row_max[:, 0] - np.log(sums[:, 0])
        loss = float(-log_py.mean() if self.reduction == "mean" else -log_py.sum())
        d = probs.copy()
        d[rows, y] -= 1
        if self.reduction == "mean":
            d /= len(y)
        grads = {}
        for i in reversed(range(len(self.names))):
            name = self.names[i]
            if i < len(self.names) - 1:
                np.multiply(d, hs[i] > 0, out=d)
            grads[f"{name}.weight"] = d.T @ inputs[i]
            grads[f"{name}.bias"] = d.sum(axis=0)
            d = d @ p[f"{name}.weight"] if i > 0 else None
        for k, v in self.velocity.items():
            v *= self.momentum
            v += self.lr * grads[k]
            p[k] -= v
        return loss

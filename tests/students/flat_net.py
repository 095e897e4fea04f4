"""A student network whose parameters are views of one flat vector, with helpers in another module (a test fixture).

parameters() slices the vector anew on each call, and forward slices it itself.
"""
import numpy as np
import flat_helpers
from flat_helpers import softmax


class Flat:
    weight_layout, bias_shape = "in_out", "row"

    def __init__(self, sizes, config):
        a, h, k = sizes
        self.shapes = [(a, h), (1, h), (h, k), (1, k)]
        self.theta = np.random.default_rng(0).normal(0, .3, sum(int(np.prod(s)) for s in self.shapes))

    def _views(self):
        out, i = [], 0
        for s in self.shapes:
            n = int(np.prod(s)); out.append(self.theta[i:i + n].reshape(s)); i += n
        return out

    def parameters(self):
        return dict(zip(("W1", "b1", "W2", "b2"), self._views()))

    def forward(self, X, y):
        W1, b1, W2, b2 = self._views()
        self.X, self.y = X, y
        self.Z = X @ W1 + b1
        self.H = np.maximum(self.Z, 0)
        O = flat_helpers.zeros_like_rows(len(X), W2.shape[1]) + self.H @ W2 + b2
        self.P = softmax(O)
        return -np.log(self.P[np.arange(len(y)), y]).mean(), self.P

    def backward(self):
        W1, b1, W2, b2 = self._views()
        d = self.P.copy(); d[np.arange(len(self.y)), self.y] -= 1; d /= len(self.y)
        dz = d @ W2.T * (self.Z > 0)
        return {"W1": self.X.T @ dz, "b1": dz.sum(0, keepdims=True), "W2": self.H.T @ d, "b2": d.sum(0, keepdims=True)}

"""A Deep Learning Specialization style network, as a student writes it: W (out, in), samples as columns,
b (n, 1), dZ·A_prev.T / m, sigmoid output with binary cross-entropy. It exposes its layers' outputs and
dL/dA of the output, not the activations' dL/dx. ``ReluMaskFromInput`` takes the hidden ReLU's mask from
the layer's input A_prev instead of Z (a slip the diagnosis cannot see: relu2.dx is not exposed)."""
import numpy as np


class DlsNet:
    init, model, loss = "lecun_normal", "linear:16,relu,linear:16,relu,linear:1,sigmoid", "bce"
    samples, bias_shape = "columns", "column"
    names = {f"{p}{i}": f"fc{i}.{q}" for i in (1, 2, 3) for p, q in (("W", "weight"), ("b", "bias"))}

    def __init__(self, sizes, config):
        rng = np.random.default_rng(1)
        self.p = {}
        for i in range(1, len(sizes)):
            w = rng.standard_normal((sizes[i], sizes[i - 1])) / np.sqrt(sizes[i - 1])
            self.p[f"W{i}"], self.p[f"b{i}"] = w.astype(config.dtype), np.zeros((sizes[i], 1), config.dtype)
        self.L = len(sizes) - 1

    def parameters(self):
        return self.p

    def forward(self, x, y):
        a, self.caches = x, []
        for i in range(1, self.L + 1):
            z = self.p[f"W{i}"] @ a + self.p[f"b{i}"]
            self.caches.append((a, z))
            a = 1 / (1 + np.exp(-z)) if i == self.L else np.maximum(0, z)
        self.AL, self.Y = a, y.reshape(1, -1).astype(a.dtype)
        m = self.Y.shape[1]
        return float(-np.sum(self.Y * np.log(a) + (1 - self.Y) * np.log(1 - a)) / m), a

    def relu_mask(self, a_prev, z):
        return z > 0

    def backward(self):
        grads, m = {}, self.Y.shape[1]
        da = -(self.Y / self.AL - (1 - self.Y) / (1 - self.AL))
        self.dAL = da
        for i in reversed(range(1, self.L + 1)):
            a_prev, z = self.caches[i - 1]
            dz = da * self.AL * (1 - self.AL) if i == self.L else da * self.relu_mask(a_prev, z)
            grads[f"W{i}"], grads[f"b{i}"] = dz @ a_prev.T / m, dz.sum(axis=1, keepdims=True) / m
            da = self.p[f"W{i}"].T @ dz
        return grads

    def intermediates(self):
        out = {f"fc{i}.out": z for i, (_, z) in enumerate(self.caches, 1)}
        out.update({f"relu{i}.out": self.caches[i][0] for i in range(1, self.L)})
        out["sigmoid1.out"] = self.AL
        if hasattr(self, "dAL"):
            out["loss.dx"] = self.dAL / self.Y.shape[1]
        return out


class ReluMaskFromInput(DlsNet):
    def relu_mask(self, a_prev, z):
        return a_prev > 0 if a_prev.shape == z.shape else z > 0


class ReluScaled(DlsNet):
    """The hidden ReLUs' derivative 0.8 instead of 1 (an inverted-dropout 1/keep_prob applied as keep_prob)."""
    def relu_mask(self, a_prev, z):
        return 0.8 * (z > 0)


class BiasFromUnmasked(DlsNet):
    """db2 summed from dA2 before the ReLU mask (dW2 right): fc2's own slip, relu2 is right."""
    def backward(self):
        grads = super().backward()
        a1, z2 = self.caches[1]
        da2 = self.p["W3"].T @ ((self.AL - self.Y))        # dL/dA2 as the loop saw it (sigmoid + BCE: AL - Y)
        grads["b2"] = da2.sum(axis=1, keepdims=True) / self.Y.shape[1]
        return grads

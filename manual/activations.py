"""Element-wise activations: forward and the derivative by hand. Branch points (a kink) take
torch's convention at the point itself, stated per class."""
import math

import numpy as np

from manual.layers import Layer


class ReLU(Layer):
    """h = max(z, 0); dL/dz = dL/dh where z > 0, else 0 (derivative 0 at the kink, as torch)."""

    def forward(self, z, train=True):
        self.z = z
        return np.maximum(z, 0)

    def backward(self, dh):
        return dh * (self.z > 0)


class LeakyReLU(Layer):
    """h = z where z > 0, else slope·z; dL/dz = dL/dh · (1 where z > 0, else slope): at z == 0 the
    derivative is the slope, as torch's leaky_relu_backward (``z > 0 ? g : g·slope``)."""

    def __init__(self, negative_slope: float = 0.01, dtype=np.float32):
        super().__init__()
        self.slope = negative_slope

    def forward(self, z, train=True):
        self.pos = z > 0
        return np.where(self.pos, z, z * z.dtype.type(self.slope))

    def backward(self, dh):
        return np.where(self.pos, dh, dh * dh.dtype.type(self.slope))


class Sigmoid(Layer):
    """s = 1 / (1 + exp(-z)), computed from exp(-|z|) so no exponent overflows; ds/dz = s (1 - s)."""

    def forward(self, z, train=True):
        e = np.exp(-np.abs(z))
        one = z.dtype.type(1)
        self.s = np.where(z >= 0, one / (one + e), e / (one + e))
        return self.s

    def backward(self, ds):
        return ds * self.s * (1 - self.s)


class Tanh(Layer):
    """t = tanh(z); dt/dz = 1 - t²."""

    def forward(self, z, train=True):
        self.t = np.tanh(z)
        return self.t

    def backward(self, dt):
        return dt * (1 - self.t * self.t)


_erf = np.vectorize(math.erf, otypes=[np.float64])    # NumPy has no erf; math.erf is correctly rounded to ~1 ulp


class GELU(Layer):
    """GELU, as torch.nn.GELU(approximate=...):
    exact ("none"):  g = z Φ(z), Φ(z) = (1 + erf(z/√2)) / 2;   dg/dz = Φ(z) + z φ(z), φ(z) = exp(-z²/2)/√(2π)
    "tanh":          g = z (1 + tanh(u)) / 2, u = √(2/π) (z + 0.044715 z³);
                     dg/dz = (1 + tanh u) / 2 + z (1 - tanh² u) √(2/π) (1 + 3·0.044715 z²) / 2
    erf is evaluated in float64 (NumPy has none) and rounded to the layer's dtype.
    """
    C = math.sqrt(2 / math.pi)
    A = 0.044715

    def __init__(self, approximate: str = "none", dtype=np.float32):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, z, train=True):
        self.z = z
        t = z.dtype.type
        if self.approximate == "tanh":
            self.th = np.tanh(t(self.C) * (z + t(self.A) * z * z * z))
            return t(0.5) * z * (1 + self.th)
        self.cdf = (t(0.5) * (1 + _erf(z.astype(np.float64) / math.sqrt(2)))).astype(z.dtype)
        return z * self.cdf

    def backward(self, dg):
        z, t = self.z, self.z.dtype.type
        if self.approximate == "tanh":
            inner = t(self.C) * (1 + t(3 * self.A) * z * z)
            return dg * (t(0.5) * (1 + self.th) + t(0.5) * z * (1 - self.th * self.th) * inner)
        pdf = np.exp(t(-0.5) * z * z) * t(1 / math.sqrt(2 * math.pi))
        return dg * (self.cdf + z * pdf)

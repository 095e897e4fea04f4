"""Element-wise activations: forward and the derivative by hand. Branch points (a kink) take
torch's convention at the point itself, stated per class."""
import math

import numpy as np

from manual.layers import Layer
from manual.special import normal_cdf


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


class GELU(Layer):
    """GELU, as torch.nn.GELU(approximate=...):
    exact ("none"):  g = z Φ(z), Φ(z) = (1 + erf(z/√2)) / 2;   dg/dz = Φ(z) + z φ(z), φ(z) = exp(-z²/2)/√(2π)
    "tanh":          g = z (1 + tanh(u)) / 2, u = √(2/π) (z + 0.044715 z³);
                     dg/dz = (1 + tanh u) / 2 + z (1 - tanh² u) √(2/π) (1 + 3·0.044715 z²) / 2
    Φ is manual/special.py's normal_cdf, in the layer's dtype (NumPy has no erf): from erfc where z < 0,
    so its tail keeps its relative accuracy; exp(-z²/2), made on the way, is kept for the backward.
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
            u = t(self.A) * z                  # u = C (z + A z³), one array updated in place
            u *= z
            u *= z
            u += z
            u *= t(self.C)
            self.th = np.tanh(u, out=u)
            out = 1 + self.th
            out *= t(0.5) * z                  # (z / 2) (1 + tanh u)
            return out
        self.cdf, self.gauss = normal_cdf(z)
        return z * self.cdf

    def backward(self, dg):
        z, t = self.z, self.z.dtype.type
        if self.approximate == "tanh":
            inner = t(3 * self.A) * z           # inner = C (1 + 3A z²)
            inner *= z
            inner += 1
            inner *= t(self.C)
            slope = self.th * self.th           # (z / 2) (1 - tanh² u) inner
            np.subtract(1, slope, out=slope)
            slope *= t(0.5) * z
            slope *= inner
            d = 1 + self.th                     # dg ((1 + tanh u) / 2 + the slope term)
            d *= t(0.5)
            d += slope
            d *= dg
            return d
        d = self.gauss * t(1 / math.sqrt(2 * math.pi))   # dg (Φ(z) + z φ(z)), φ(z) = exp(-z²/2) / √(2π)
        d *= z
        d += self.cdf
        d *= dg
        return d

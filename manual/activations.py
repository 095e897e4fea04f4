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
    so its tail keeps its relative accuracy. The exact form's forward also makes the derivative
    (``slope`` = Φ(z) + z φ(z), from exp(-z²/2), made on the way): the backward is one product. Its
    ``cdf`` and ``slope`` arrays are the layer's own, overwritten by the next forward.
    """
    C = math.sqrt(2 / math.pi)
    A = 0.044715
    # The exact form makes ~40 element-wise passes (NumPy: one call, one pass each). They run over
    # pieces of PIECE_BYTES per array, so the Horner loop's two arrays (20 of the passes) stay in
    # this machine's 1 MiB L2; smaller pieces lose more in calls (~0.5 us each) than they win.
    # Forward + backward, 500x1000 float32, alternating blocks of one process (others 0.5-1.2
    # cores): pieces of 2^18 bytes 2.20, 1.94, 2.36 ms in three runs, whole arrays 2.28, 2.04,
    # 2.77 ms; 2^16 3.37, 2^17 2.84, 2^18 2.60, 2^20 2.55 ms against whole 2.58 ms (a more loaded run,
    # an earlier version).
    # 100x1000 (400 KB an array): no difference beyond the noise (0.54/0.51, 0.39/0.40, 0.36/0.37 ms).
    PIECE_BYTES = 1 << 18

    def __init__(self, approximate: str = "none", dtype=np.float32):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate
        self._kept = None

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
        flat = np.ascontiguousarray(z).reshape(-1)
        out = np.empty_like(flat)
        cdf, slope, *work = self._arrays(flat.size, flat.dtype)
        for i in range(0, flat.size, len(work[0]) or 1):
            j = slice(i, i + len(work[0]))
            zi = flat[j]
            e, *rest = (w[:len(zi)] for w in work)
            normal_cdf(zi, out=cdf[j], gauss=e, work=rest)
            np.multiply(zi, cdf[j], out=out[j])
            d = np.multiply(e, t(1 / math.sqrt(2 * math.pi)), out=slope[j])     # Φ(z) + z φ(z)
            d *= zi
            d += cdf[j]
        self.cdf, self.slope = cdf.reshape(z.shape), slope.reshape(z.shape)
        return out.reshape(z.shape)

    def _arrays(self, n: int, dtype) -> list:
        """The exact form's arrays, kept between calls (overwritten by the next forward): Φ(z) and the
        slope, n elements each, and the scratch of one piece (exp(-z²/2), t, s, z >= 0)."""
        piece = min(n, self.PIECE_BYTES // np.dtype(dtype).itemsize)
        if self._kept is None or len(self._kept[0]) < n or len(self._kept[2]) < piece or self._kept[0].dtype != dtype:
            self._kept = [np.empty(n, dtype), np.empty(n, dtype)] + \
                         [np.empty(piece, dtype), np.empty(piece, dtype), np.empty(piece, dtype), np.empty(piece, bool)]
        return [a[:n] for a in self._kept[:2]] + [a[:piece] for a in self._kept[2:]]

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
        return np.multiply(self.slope, dg, out=np.empty_like(self.slope))   # in the layer's dtype, as before

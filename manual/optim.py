"""Gradient descent with momentum in the assignment's velocity form."""
import numpy as np

from manual.layers import scratch
from manual.rows import by_rows


class SGDMomentum:
    """v <- momentum * v + lr * g;  p <- p - v.   Every v starts at ``init_velocity``.

    Differs from torch.optim.SGD, which keeps buf <- momentum * buf + g and
    steps p <- p - lr * buf: the two agree when buf = v / lr, so an initial
    velocity v0 corresponds to torch's momentum_buffer = v0 / lr.
    ``velocity`` is a dict with the params' keys; params are updated in place.
    """

    def __init__(self, params: dict[str, np.ndarray], lr: float, momentum: float, init_velocity: float = 0.0):
        self.params, self.lr, self.momentum = params, lr, momentum
        self.velocity = {name: np.full_like(p, init_velocity) for name, p in params.items()}
        self._lr_g: dict[str, np.ndarray] = {}   # lr * g, in an array kept between steps

    def step(self, grads: dict[str, np.ndarray]) -> None:
        for name, p in self.params.items():
            v, g = self.velocity[name], grads[name]
            self._lr_g[name] = lr_g = scratch(self._lr_g.get(name), g.shape, g.dtype)

            def update(rows):   # the three passes on one block of rows while it is in cache
                vr = v[rows]
                vr *= self.momentum
                vr += np.multiply(self.lr, g[rows], out=lr_g[rows])
                np.subtract(p[rows], vr, out=p[rows])

            if p.ndim == 2 and p.shape == v.shape == g.shape:
                by_rows(update, *p.shape)
            else:
                update(Ellipsis)

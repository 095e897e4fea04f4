"""Gradient descent with momentum in the assignment's velocity form."""
import numpy as np


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

    def step(self, grads: dict[str, np.ndarray]) -> None:
        for name, p in self.params.items():
            v = self.velocity[name]
            v *= self.momentum
            v += self.lr * grads[name]
            p -= v

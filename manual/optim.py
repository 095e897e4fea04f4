"""Optimizers over a flat params dict, their state keyed by torch's state names."""
import numpy as np


class SGDMomentum:
    """The assignment's velocity form: v <- momentum * v + lr * g;  p <- p - v, every v starting
    at ``init_velocity``. State ``<param>.momentum_buffer`` holds v. With momentum 0 this is plain
    gradient descent, p <- p - lr * g: v keeps nothing from step to step, so there is no state (as
    torch.optim.SGD keeps no buffer without momentum).

    torch.optim.SGD keeps buf <- momentum * buf + g and steps p <- p - lr * buf: the two are
    the same recurrence when buf = v / lr (torch_ref.optim maps one onto the other).
    """

    def __init__(self, params: dict[str, np.ndarray], lr: float, momentum: float, init_velocity: float = 0.0,
                 weight_decay: float = 0.0):
        """``weight_decay`` lambda: every gradient g becomes g + lambda p first, as torch.optim.SGD's."""
        self.params, self.lr, self.momentum, self.weight_decay = params, lr, momentum, weight_decay
        self.state = {f"{name}.momentum_buffer": np.full_like(p, init_velocity) for name, p in params.items()} \
            if momentum else {}

    def step(self, grads: dict[str, np.ndarray]) -> None:
        if self.weight_decay:
            grads = {k: g + self.params[k] * g.dtype.type(self.weight_decay) for k, g in grads.items()}
        if not self.momentum:
            for name, p in self.params.items():
                p -= self.lr * grads[name]
            return
        for name, p in self.params.items():
            v = self.state[f"{name}.momentum_buffer"]
            v *= self.momentum
            v += self.lr * grads[name]
            p -= v

"""Optimizers over a flat params dict, their state keyed by torch's state names.

Each class keeps ``params`` (the live arrays, updated in place) and ``state``,
a flat dict ``"<param>.<key>"`` -> array (``fc1.weight.momentum_buffer``,
``.exp_avg``, ``.exp_avg_sq``, ``.square_avg``, ``.sum``, ``.step``), holding
the convention's own quantity (a cs231n velocity is ``-lr * buf``, not torch's
buffer: comparisons/registry.py and torch_ref/optim.py say how each maps onto
torch). ``step(grads)`` is one loop over the parameters. A step counter is a
0-d float64 array per parameter, as torch keeps one per parameter.
"""
import math

import numpy as np


class SGDMomentum:
    """The assignment's velocity form: v <- momentum * v + lr * g;  p <- p - v, every v starting
    at ``init_velocity``. State ``<param>.momentum_buffer`` holds v. With momentum 0 this is plain
    gradient descent, p <- p - lr * g: v keeps nothing from step to step, so there is no state (as
    torch.optim.SGD keeps no buffer without momentum). ``weight_decay`` adds wd * p to g (coupled,
    as torch.optim.SGD).

    torch.optim.SGD keeps buf <- momentum * buf + g and steps p <- p - lr * buf: the two are
    the same recurrence when buf = v / lr (torch_ref.optim maps one onto the other).
    """

    def __init__(self, params: dict[str, np.ndarray], lr: float, momentum: float, init_velocity: float = 0.0,
                 weight_decay: float = 0.0):
        self.params, self.lr, self.momentum, self.weight_decay = params, lr, momentum, weight_decay
        self.state = {f"{name}.momentum_buffer": np.full_like(p, init_velocity) for name, p in params.items()} \
            if momentum else {}

    def step(self, grads: dict[str, np.ndarray]) -> None:
        wd = self.weight_decay
        if not self.momentum:
            for name, p in self.params.items():
                g = grads[name] + wd * p if wd else grads[name]
                p -= self.lr * g
            return
        for name, p in self.params.items():
            g = grads[name] + wd * p if wd else grads[name]
            v = self.state[f"{name}.momentum_buffer"]
            v *= self.momentum
            v += self.lr * g
            p -= v


class SGD(SGDMomentum):
    """Plain gradient descent, p <- p - lr * (g + weight_decay * p): no state."""

    def __init__(self, params: dict[str, np.ndarray], lr: float, weight_decay: float = 0.0):
        super().__init__(params, lr, 0.0, 0.0, weight_decay)


class Momentum:
    """Heavy-ball momentum in the form a course writes it (``form``), g = grad + weight_decay * p:

    cs231n    v <- momentum * v - lr * g;            p <- p + v       (v starts at init_velocity)
    ema       v <- momentum * v + (1 - momentum) * g; p <- p - lr * v  (Deep Learning Specialization,
              CMU dlsys; v starts at init_velocity)
    torch     buf <- g on the first step, then buf <- momentum * buf + (1 - dampening) * g;
              p <- p - lr * buf (torch.optim.SGD's own: no state before the first step)

    The assignment's form (v <- momentum v + lr g, p <- p - v) is SGDMomentum.
    """

    FORMS = ("cs231n", "ema", "torch")

    def __init__(self, params: dict[str, np.ndarray], lr: float, momentum: float, form: str = "torch",
                 init_velocity: float = 0.0, dampening: float = 0.0, weight_decay: float = 0.0):
        if form not in self.FORMS:
            raise ValueError(f"momentum form {form!r}: one of {', '.join(self.FORMS)}")
        self.params, self.lr, self.momentum, self.form = params, lr, momentum, form
        self.dampening, self.weight_decay = dampening, weight_decay
        self.state = {} if form == "torch" else \
            {f"{name}.momentum_buffer": np.full_like(p, init_velocity) for name, p in params.items()}

    def step(self, grads: dict[str, np.ndarray]) -> None:
        lr, mu, wd, form = self.lr, self.momentum, self.weight_decay, self.form
        for name, p in self.params.items():
            g = grads[name] + wd * p if wd else grads[name]
            key = f"{name}.momentum_buffer"
            v = self.state.get(key)
            if form == "torch" and v is None:
                v = self.state[key] = np.array(g, copy=True)
            elif form == "torch":
                v *= mu
                v += (1 - self.dampening) * g
            elif form == "cs231n":
                v *= mu
                v -= lr * g
            else:
                v *= mu
                v += (1 - mu) * g
            if form == "cs231n":
                p += v
            else:
                p -= lr * v


class Nesterov:
    """Nesterov momentum, g = grad + weight_decay * p:

    torch     buf <- momentum * buf + g (buf = g on the first step); p <- p - lr * (g + momentum * buf)
    cs231n    v_prev = v; v <- momentum * v - lr * g; p <- p - momentum * v_prev + (1 + momentum) * v
              (Sutskever's look-ahead velocity rewritten at the current point; v starts at init_velocity)
    """

    FORMS = ("torch", "cs231n")

    def __init__(self, params: dict[str, np.ndarray], lr: float, momentum: float, form: str = "torch",
                 init_velocity: float = 0.0, weight_decay: float = 0.0):
        if form not in self.FORMS:
            raise ValueError(f"nesterov form {form!r}: one of {', '.join(self.FORMS)}")
        self.params, self.lr, self.momentum, self.form, self.weight_decay = params, lr, momentum, form, weight_decay
        self.state = {} if form == "torch" else \
            {f"{name}.momentum_buffer": np.full_like(p, init_velocity) for name, p in params.items()}

    def step(self, grads: dict[str, np.ndarray]) -> None:
        lr, mu, wd = self.lr, self.momentum, self.weight_decay
        for name, p in self.params.items():
            g = grads[name] + wd * p if wd else grads[name]
            key = f"{name}.momentum_buffer"
            v = self.state.get(key)
            if self.form == "torch":
                if v is None:
                    v = self.state[key] = np.array(g, copy=True)
                else:
                    v *= mu
                    v += g
                p -= lr * (g + mu * v)
            else:
                v_prev = v.copy()
                v *= mu
                v -= lr * g
                # one addition to p, as torch's p - lr (g + mu buf): cs231n's x - mu v_prev + (1 + mu) v, evaluated
                # left to right, rounds on p twice, and the two terms nearly cancel (their sum is mu² v_prev where
                # g = 0): measured 16.6x torch's rounding on the change of fc1.weight (float64, batch 1, step 287)
                p += (1 + mu) * v - mu * v_prev


def _counter(p: np.ndarray) -> np.ndarray:
    return np.zeros((), dtype=np.float64)


class RMSprop:
    """square_avg <- alpha * square_avg + (1 - alpha) * g²;  p <- p - lr * g / (sqrt(square_avg) + eps),
    g = grad + weight_decay * p; eps outside the square root, as torch.optim.RMSprop (cs231n's
    ``rmsprop`` with decay_rate 0.99, eps 1e-8; NNFS's with rho 0.9, eps 1e-7). State: square_avg
    (starting at 0) and step."""

    def __init__(self, params: dict[str, np.ndarray], lr: float, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0):
        self.params, self.lr, self.alpha, self.eps, self.weight_decay = params, lr, alpha, eps, weight_decay
        self.state = {}
        for name, p in params.items():
            self.state[f"{name}.step"] = _counter(p)
            self.state[f"{name}.square_avg"] = np.zeros_like(p)

    def step(self, grads: dict[str, np.ndarray]) -> None:
        a, wd = self.alpha, self.weight_decay
        for name, p in self.params.items():
            g = grads[name] + wd * p if wd else grads[name]
            self.state[f"{name}.step"] += 1
            s = self.state[f"{name}.square_avg"]
            s *= a
            s += (1 - a) * (g * g)
            p -= self.lr * (g / (np.sqrt(s) + self.eps))


class Adagrad:
    """sum <- sum + g²;  p <- p - lr * g / (sqrt(sum) + eps), g = grad + weight_decay * p, sum starting at
    ``init_accumulator`` (torch.optim.Adagrad's initial_accumulator_value). State: sum and step."""

    def __init__(self, params: dict[str, np.ndarray], lr: float, eps: float = 1e-10, init_accumulator: float = 0.0,
                 weight_decay: float = 0.0):
        self.params, self.lr, self.eps, self.weight_decay = params, lr, eps, weight_decay
        self.state = {}
        for name, p in params.items():
            self.state[f"{name}.step"] = _counter(p)
            self.state[f"{name}.sum"] = np.full_like(p, init_accumulator)

    def step(self, grads: dict[str, np.ndarray]) -> None:
        wd = self.weight_decay
        for name, p in self.params.items():
            g = grads[name] + wd * p if wd else grads[name]
            self.state[f"{name}.step"] += 1
            s = self.state[f"{name}.sum"]
            s += g * g
            p -= self.lr * (g / (np.sqrt(s) + self.eps))


class Adam:
    """Adam with bias correction, t counted before use (t = 1 on the first step):

    m <- beta1 m + (1 - beta1) g;  v <- beta2 v + (1 - beta2) g²
    p <- p - lr * m̂ / (sqrt(v̂) + eps),  m̂ = m / (1 - beta1^t),  v̂ = v / (1 - beta2^t)

    ``eps_inside``: sqrt(v̂ + eps) instead (a convention some write; torch.optim cannot express it).
    ``weight_decay``: coupled L2, g = grad + wd * p (torch.optim.Adam); with ``decoupled`` the
    parameter shrinks first, p <- p (1 - lr wd), and g is the gradient alone (AdamW).
    State: exp_avg (m), exp_avg_sq (v), step (t).
    """

    def __init__(self, params: dict[str, np.ndarray], lr: float, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8, weight_decay: float = 0.0, decoupled: bool = False, eps_inside: bool = False):
        self.params, self.lr, self.beta1, self.beta2, self.eps = params, lr, beta1, beta2, eps
        self.weight_decay, self.decoupled, self.eps_inside = weight_decay, decoupled, eps_inside
        self.state = {}
        for name, p in params.items():
            self.state[f"{name}.step"] = _counter(p)
            self.state[f"{name}.exp_avg"] = np.zeros_like(p)
            self.state[f"{name}.exp_avg_sq"] = np.zeros_like(p)

    def step(self, grads: dict[str, np.ndarray]) -> None:
        lr, b1, b2, wd, eps = self.lr, self.beta1, self.beta2, self.weight_decay, self.eps
        for name, p in self.params.items():
            g = grads[name]
            if wd and self.decoupled:
                p *= 1 - lr * wd
            elif wd:
                g = g + wd * p
            t = self.state[f"{name}.step"]
            t += 1
            m, v = self.state[f"{name}.exp_avg"], self.state[f"{name}.exp_avg_sq"]
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * (g * g)
            bc1, bc2 = 1 - b1 ** float(t), 1 - b2 ** float(t)
            if self.eps_inside:
                p -= (lr / bc1) * (m / np.sqrt(v / bc2 + eps))
            else:
                p -= (lr / bc1) * (m / (np.sqrt(v) / math.sqrt(bc2) + eps))


class AdamW(Adam):
    """Adam with decoupled weight decay (torch.optim.AdamW): p <- p (1 - lr wd) before the Adam step."""

    def __init__(self, params: dict[str, np.ndarray], lr: float, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8, weight_decay: float = 0.01):
        super().__init__(params, lr, beta1, beta2, eps, weight_decay, decoupled=True)

"""Which update rule reproduces the manual side's step, when the declared optimizer's does not.

Given the manual side's own gradients, parameters and optimizer state before
the step, each named alternative (another convention of the same optimizer
from the registry, or a known slip) is run in float64 NumPy; an alternative is
named only when it reproduces the manual side's change of *every* parameter
within the stage's rounding allowance (the diagnosis' own, measured by the
referee's probes). Nothing is named otherwise.
"""
import math

import numpy as np

import manual.optim as mo
from comparisons.registry import FORMS, OPTIMIZERS, optimizer_args, parse_optimizer, step_lr

FORMULAS = {   # how each momentum/nesterov form reads, for the finding
    "momentum:assignment": "v <- momentum v + lr g, p <- p - v",
    "momentum:cs231n": "v <- momentum v - lr g, p <- p + v",
    "momentum:ema": "the exponential-average form v <- momentum v + (1 - momentum) g, p <- p - lr v",
    "momentum:torch": "torch's buffer form buf <- momentum buf + (1 - dampening) g, p <- p - lr buf (buf = g on the "
                      "first step when no buffer is kept before it)",
    "nesterov:torch": "Nesterov as torch writes it, p <- p - lr (g + momentum buf)",
    "nesterov:cs231n": "cs231n's Nesterov, p <- p - momentum v_prev + (1 + momentum) v",
}


class _NoBiasCorrection(mo.Adam):
    def step(self, grads):
        lr, b1, b2, eps = self.lr, self.beta1, self.beta2, self.eps
        for name, p in self.params.items():
            g = grads[name] + self.weight_decay * p if self.weight_decay and not self.decoupled else grads[name]
            if self.weight_decay and self.decoupled:
                p *= 1 - lr * self.weight_decay
            self.state[f"{name}.step"] += 1
            m, v = self.state[f"{name}.exp_avg"], self.state[f"{name}.exp_avg_sq"]
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * g * g
            p -= lr * m / ((np.sqrt(v + eps) if self.eps_inside else np.sqrt(v) + eps))


class _StepAhead(mo.Adam):
    """The bias correction uses t + 1 (a counter that starts at 1 and is incremented before use)."""
    def step(self, grads):
        for name in self.params:
            self.state[f"{name}.step"] += 1
        super().step(grads)
        for name in self.params:
            self.state[f"{name}.step"] -= 1


class _StepBehind(mo.Adam):
    """The bias correction uses t - 1 from the second step on (the counter incremented after use)."""
    def step(self, grads):
        if any(float(self.state[f"{name}.step"]) < 1 for name in self.params):
            raise FloatingPointError("t - 1 = 0 on the first step")
        for name in self.params:
            self.state[f"{name}.step"] -= 1
        super().step(grads)
        for name in self.params:
            self.state[f"{name}.step"] += 1


class _DecaySwapped(mo.RMSprop):
    def __init__(self, params, lr, alpha=0.99, **kw):
        super().__init__(params, lr, 1 - alpha, **kw)


class _EpsInsideRMS(mo.RMSprop):
    def step(self, grads):
        a = self.alpha
        for name, p in self.params.items():
            g = grads[name] + self.weight_decay * p if self.weight_decay else grads[name]
            self.state[f"{name}.step"] += 1
            s = self.state[f"{name}.square_avg"]
            s *= a
            s += (1 - a) * g * g
            p -= self.lr * g / np.sqrt(s + self.eps)


class _EpsInsideAdagrad(mo.Adagrad):
    def step(self, grads):
        for name, p in self.params.items():
            g = grads[name] + self.weight_decay * p if self.weight_decay else grads[name]
            self.state[f"{name}.step"] += 1
            s = self.state[f"{name}.sum"]
            s += g * g
            p -= self.lr * g / np.sqrt(s + self.eps)


class _BiasCorrected:
    """Adam's bias correction on a momentum form that has none: the step the form takes, divided by
    1 - decay^t (t counting the updates, this one included; Adam's m̂ = m / (1 - beta1^t)). The state is
    the form's own (Adam corrects the step, not the buffer it keeps)."""

    def __init__(self, opt, decay: float, t: int | None):
        if t is None:
            raise ValueError("the step count is unknown")
        self.opt, self.params, self.state = opt, opt.params, opt.state
        self.correction = 1 - decay ** (t + 1)

    def step(self, grads):
        start = {k: p.copy() for k, p in self.params.items()}
        self.opt.step(grads)
        for k, p in self.params.items():
            p[...] = start[k] + (p - start[k]) / self.correction


def alternatives(config, steps_per_epoch: int | None = None) -> list[tuple[str, object, object]]:
    """(label, make(params, lr, t), at) for the run's optimizer: the other forms of it and the known slips;
    each runs with the schedule's lr at at(t) (t: the updates before this one; ``at`` None: at t itself).
    ``steps_per_epoch``: the updates in an epoch (for a schedule stepped once per epoch)."""
    entry, kwargs = optimizer_args(config)
    out = []

    def add(label, cls, at=None, **kw):
        out.append((label, lambda params, lr, t, cls=cls, kw=kw: cls(params, lr, **kw), at))

    if config.lr_schedule:
        add("the learning rate is the schedule's for the next step (t counted from 1, where the first update "
            "has t = 0)", entry.manual, lambda t: t + 1, **kwargs)
        add("the learning rate is the schedule's for the previous step (applied one step late)", entry.manual,
            lambda t: t - 1, **kwargs)
        if steps_per_epoch and steps_per_epoch > 1:
            add(f"the schedule is stepped once per epoch, not after every update: its learning rate at the "
                f"epoch's index (t // {steps_per_epoch}, {steps_per_epoch} updates an epoch)", entry.manual,
                lambda t, k=steps_per_epoch: t // k, **kwargs)

    tokens = {"momentum": ("momentum", "nesterov"), "nesterov": ("nesterov", "momentum")}.get(entry.token, ())
    mu = kwargs.get("momentum", config.momentum)
    for token in tokens:
        for form in FORMS[token]:
            other = OPTIMIZERS[f"{token}:{form}"]
            if not mu:
                continue
            _, kw = parse_optimizer(f"{token}:form={form},momentum={mu!r}", config)
            kw["weight_decay"] = kwargs.get("weight_decay", 0.0)
            what = FORMULAS[f"{other.token}:{other.form}"]
            if token != entry.token:
                what = (f"plain momentum without Nesterov's look-ahead: {what}" if token == "momentum" else
                        f"Nesterov momentum where plain momentum is declared: {what}")
            if other is not entry:
                add(f"the update follows {what}", other.manual, **kw)
            # every form, the declared one too, with Adam's bias correction (which no momentum form has)
            out.append((f"the update follows {what}, with Adam's bias correction: the step divided by "
                        f"1 - momentum^t (t counting the updates, this one included)",
                        lambda params, lr, t, cls=other.manual, kw=kw, mu=mu: _BiasCorrected(cls(params, lr, **kw),
                                                                                             mu, t), None))
    hyper = {k: v for k, v in kwargs.items()}
    if kwargs.get("weight_decay"):
        add(f"the weight decay {kwargs['weight_decay']:g} is left out", entry.manual, **{**hyper, "weight_decay": 0.0})
    if entry.cls in ("Adam", "AdamW"):
        adam = {k: hyper[k] for k in ("beta1", "beta2", "eps", "weight_decay")}
        adam["eps_inside"] = hyper.get("eps_inside", False)
        adam["decoupled"] = entry.cls == "AdamW"
        add("the bias correction is missing: p <- p - lr m / (sqrt(v) + eps)", _NoBiasCorrection, **adam)
        flip = not adam["eps_inside"]
        add("eps is inside the square root: sqrt(v̂ + eps)" if flip else "eps is outside the square root: sqrt(v̂) + eps",
            mo.Adam, **{**adam, "eps_inside": flip})
        add("t is one step ahead in the bias correction (t starts at 1 and is incremented before use)",
            _StepAhead, **adam)
        add("t is one step behind in the bias correction (the counter is incremented after use)", _StepBehind, **adam)
        if adam["weight_decay"]:
            add("the weight decay is coupled (Adam + L2: wd p added to the gradient) where AdamW decouples it"
                if adam["decoupled"] else
                "the weight decay is decoupled (AdamW: p <- p (1 - lr wd)) where Adam adds wd p to the gradient",
                mo.Adam, **{**adam, "decoupled": not adam["decoupled"]})
    if entry.cls == "RMSprop":
        add(f"the decay and its complement are swapped: square_avg <- {1 - hyper['alpha']:g} square_avg + "
            f"{hyper['alpha']:g} g²", _DecaySwapped, **hyper)
        add("eps is inside the square root: sqrt(square_avg + eps)", _EpsInsideRMS, **hyper)
    if entry.cls == "Adagrad":
        add("eps is inside the square root: sqrt(sum + eps)", _EpsInsideAdagrad, **hyper)
        if hyper.get("init_accumulator"):
            add("the accumulator starts at 0, not at init_accumulator", mo.Adagrad, **{**hyper, "init_accumulator": 0.0})
    return out


def reproduces(config, before: dict, grads: dict, updates: dict, allow: dict,
               steps_per_epoch: int | None = None, done: int | None = None) -> list[str]:
    """The labels of the alternatives whose change of every parameter, from ``before`` (params, state in
    the manual side's units, and ``step``: the updates before this one, for the schedule's lr; None without
    a schedule, then ``done`` stands for it) and the manual ``grads``, is within ``allow[name]`` (relative
    L2) of the manual change ``updates[name]``."""
    found = []
    t = before.get("step")
    t = done if t is None else t
    for label, make, at in alternatives(config, steps_per_epoch):
        t_lr = t if at is None else None if t is None else at(t)
        if at is not None and (t_lr is None or t_lr < 0):
            continue
        params = {k: np.array(v, dtype=np.float64) for k, v in before["params"].items()}
        start = {k: v.copy() for k, v in params.items()}
        try:
            opt = make(params, step_lr(config, t_lr), t)
            for key, value in before["state"].items():    # the manual side's own state, as its form keeps it
                if key in opt.state or key.endswith(".momentum_buffer"):
                    opt.state[key] = np.array(value, dtype=np.float64)
            with np.errstate(all="ignore"):
                opt.step({k: np.asarray(v, np.float64) for k, v in grads.items()})
        except (FloatingPointError, ValueError, KeyError):
            continue
        if all(name in updates and _rel(updates[name], params[name] - start[name]) <= allow[name] for name in params):
            found.append(label)
    return found


def _rel(m, r) -> float:
    m, r = np.asarray(m, np.float64), np.asarray(r, np.float64)
    num, den = float(np.linalg.norm(m - r)), float(np.linalg.norm(r))
    return num / den if den > 0 else (0.0 if num == 0 else math.inf)

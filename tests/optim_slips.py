"""Realistic slips in hand-written optimizers, one per optimizer: each a manual/optim.py class with one
line wrong, swapped in for the built-in class by tests (monkeypatch of manual.optim.<class>)."""
import math

import numpy as np

import manual.optim as good
import manual.schedules as schedules


class AdamNoBiasCorrection(good.Adam):
    """p <- p - lr m / (sqrt(v) + eps): the bias correction forgotten."""
    def step(self, grads):
        lr, b1, b2, eps = self.lr, self.beta1, self.beta2, self.eps
        for name, p in self.params.items():
            g = grads[name]
            self.state[f"{name}.step"] += 1
            m, v = self.state[f"{name}.exp_avg"], self.state[f"{name}.exp_avg_sq"]
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * g * g
            p -= lr * m / (np.sqrt(v) + eps)


class AdamEpsInside(good.Adam):
    """eps inside the square root where the run's convention (torch's) has it outside."""
    def __init__(self, params, lr, **kw):
        super().__init__(params, lr, **{**kw, "eps_inside": True})


class AdamSharedCounter(good.Adam):
    """One step counter for all parameters, incremented inside the loop: t counts parameters, not steps."""
    def step(self, grads):
        lr, b1, b2, eps = self.lr, self.beta1, self.beta2, self.eps
        self.t = getattr(self, "t", 0)
        for name, p in self.params.items():
            g = grads[name]
            self.t += 1
            self.state[f"{name}.step"][...] = self.t
            m, v = self.state[f"{name}.exp_avg"], self.state[f"{name}.exp_avg_sq"]
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * g * g
            bc1, bc2 = 1 - b1 ** self.t, 1 - b2 ** self.t
            p -= (lr / bc1) * m / (np.sqrt(v) / math.sqrt(bc2) + eps)


class AdamWCoupled(good.AdamW):
    """AdamW's weight decay added to the gradient (Adam + L2) instead of decoupled."""
    def __init__(self, params, lr, **kw):
        super().__init__(params, lr, **kw)
        self.decoupled = False


class RMSpropDecaySwapped(good.RMSprop):
    """square_avg <- (1 - alpha) square_avg + alpha g²: the decay and its complement swapped."""
    def step(self, grads):
        a = self.alpha
        for name, p in self.params.items():
            g = grads[name]
            self.state[f"{name}.step"] += 1
            s = self.state[f"{name}.square_avg"]
            s *= 1 - a
            s += a * g * g
            p -= self.lr * g / (np.sqrt(s) + self.eps)


class AdagradNoInitialAccumulator(good.Adagrad):
    """The initial accumulator value ignored: sum starts at 0."""
    def __init__(self, params, lr, **kw):
        super().__init__(params, lr, **{**kw, "init_accumulator": 0.0})


class NesterovPlain(good.Nesterov):
    """Nesterov configured, plain heavy-ball momentum written: p <- p - lr buf."""
    def step(self, grads):
        for name, p in self.params.items():
            key = f"{name}.momentum_buffer"
            if key not in self.state:
                self.state[key] = np.array(grads[name], copy=True)
            else:
                self.state[key] *= self.momentum
                self.state[key] += grads[name]
            p -= self.lr * self.state[key]


class MomentumEmaAsTorch(good.Momentum):
    """The exponential-average form (1 - beta) g written where the run declares torch's form (buf = g
    on the first step, undampened)."""
    def __init__(self, params, lr, momentum, form="torch", **kw):
        kw.pop("dampening", None)
        super().__init__(params, lr, momentum, "ema", **kw)


class SGDNoWeightDecay(good.SGD):
    """The weight decay forgotten."""
    def __init__(self, params, lr, weight_decay=0.0):
        super().__init__(params, lr, 0.0)


# slip -> (its class, the class it stands for, the run's --optimizer, the first failed row (step, quantity,
# name), words a finding must hold: the named cause, or None where nothing may be named)
SLIPS = {
    "adam-no-bias-correction": (AdamNoBiasCorrection, "Adam", "adam", (1, "update", "fc1.weight"),
                                "update: the bias correction is missing"),
    "adam-eps-inside": (AdamEpsInside, "Adam", "adam", (1, "update", "fc1.weight"),
                        "update: eps is inside the square root"),
    "adam-shared-counter": (AdamSharedCounter, "Adam", "adam", (1, "update", "fc1.bias"), None),
    "adamw-coupled": (AdamWCoupled, "AdamW", "adamw:weight_decay=0.1", (1, "update", "fc1.weight"),
                      "update: the weight decay is coupled (Adam + L2"),
    "rmsprop-decay-swapped": (RMSpropDecaySwapped, "RMSprop", "rmsprop", (1, "update", "fc1.weight"),
                              "update: the decay and its complement are swapped"),
    "adagrad-no-initial-accumulator": (AdagradNoInitialAccumulator, "Adagrad", "adagrad:init_accumulator=0.1",
                                       (0, "init", "fc1.weight.sum"), "the manual value is 0 everywhere"),
    "nesterov-plain": (NesterovPlain, "Nesterov", "nesterov:momentum=0.9", (1, "update", "fc1.weight"),
                       "plain momentum without Nesterov's look-ahead"),
    "momentum-ema-as-torch": (MomentumEmaAsTorch, "Momentum", "momentum:form=torch,momentum=0.9",
                              (1, "update", "fc1.weight"),    # its zero buffer before step 1 is torch's start
                              "the update follows the exponential-average form"),
    "sgd-no-weight-decay": (SGDNoWeightDecay, "SGD", "sgd:weight_decay=0.1", (1, "update", "fc1.weight"),
                            "update: the weight decay 0.1 is left out"),
}


def planted(slip: str):
    """A stand-in for comparisons.sides.builtin.build_optimizer that builds ``slip``'s class on the manual
    side (the harness, the torch side and the diagnosis keep the good classes)."""
    from comparisons.registry import optimizer_args
    cls = SLIPS[slip][0]

    def build(config, params, side):
        _, kwargs = optimizer_args(config)
        return cls(params, config.lr, **kwargs)
    return build


# --- learning-rate schedules: the manual side's schedule off by one step ------------------------------

class InverseTimeFromOne(schedules.InverseTimeLR):
    """NNFS's decay with its iterations counted from 1 (incremented before use): lr / (1 + decay (t + 1))."""
    def __call__(self, t):
        return super().__call__(t + 1)


class StepLate(schedules.StepLR):
    """Step decay applied one step late (the counter compared before it is incremented)."""
    def __call__(self, t):
        return super().__call__(max(t - 1, 0))


# slip -> (its schedule class, the run's --lr-schedule, the first failed row (step, quantity, name), the finding)
SCHEDULE_SLIPS = {
    "nnfs-t-from-1": (InverseTimeFromOne, "nnfs:decay=0.1", (1, "state", "lr"),
                      "update: the learning rate is the schedule's for the next step"),
    "step-late": (StepLate, "step:step_size=2,gamma=0.5", (3, "state", "lr"),
                  "update: the learning rate is the schedule's for the previous step"),
}


def planted_schedule(slip: str):
    """A stand-in for comparisons.sides.builtin.build_optimizer: the run's optimizer with ``slip``'s schedule
    on the manual side (the torch side and the diagnosis keep the declared one)."""
    from comparisons.registry import build_optimizer, parse_schedule
    cls = SCHEDULE_SLIPS[slip][0]

    def build(config, params, side):
        opt = build_optimizer(config, params, side)
        opt.schedule = cls(config.lr, **parse_schedule(config.lr_schedule)[1])
        return opt
    return build

"""Learning-rate schedules: ``schedule(t)`` is the learning rate of the update that has ``t`` updates
before it (t = 0 on the first step, as NNFS's ``optimizer.iterations``), from the base ``lr``.
``Scheduled`` sets an optimizer's ``lr`` from its schedule before every step, as torch's scheduler sets
the param group's lr. t counts optimizer steps; torch_ref/schedules.py maps each onto torch.
"""


class StepLR:
    """lr · gamma^floor(t / step_size): multiplied by gamma every step_size steps (torch's StepLR)."""

    def __init__(self, lr: float, step_size: int, gamma: float = 0.1):
        self.lr, self.step_size, self.gamma = lr, step_size, gamma

    def __call__(self, t: int) -> float:
        return self.lr * self.gamma ** (t // self.step_size)


class ExponentialLR:
    """lr · gamma^t (torch's ExponentialLR)."""

    def __init__(self, lr: float, gamma: float):
        self.lr, self.gamma = lr, gamma

    def __call__(self, t: int) -> float:
        return self.lr * self.gamma ** t


class InverseTimeLR:
    """NNFS's decay: current_learning_rate = learning_rate * (1. / (1. + decay * iterations)), iterations
    counting the updates done before this one (0 on the first)."""

    def __init__(self, lr: float, decay: float):
        self.lr, self.decay = lr, decay

    def __call__(self, t: int) -> float:
        return self.lr * (1.0 / (1.0 + self.decay * t))


class Scheduled:
    """An optimizer (manual/optim.py) whose ``lr`` its schedule sets before every step; ``t`` counts the
    steps done. ``params``, ``state`` and ``lr`` (after a step: the lr that step used) are the optimizer's."""

    def __init__(self, opt, schedule):
        self.opt, self.schedule, self.t = opt, schedule, 0
        self.params, self.state = opt.params, opt.state

    @property
    def lr(self) -> float:
        return self.opt.lr

    def step(self, grads: dict) -> None:
        self.opt.lr = self.schedule(self.t)
        self.opt.step(grads)
        self.t += 1

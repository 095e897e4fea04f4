"""The torch twins of manual/optim.py: same class names and arguments, over named parameters.

Each twin keeps torch's own optimizer where configuration plus initial state can
express the convention (every one here but Adam with eps inside the square root,
which is a small optimizer in torch operations, AdamOps), and says how its state
reads in the manual side's units: ``state()`` gives ``{"<param>.<key>": (tensor,
scale)}`` with manual value = scale * tensor, and ``load_state`` writes manual
values in (creating entries torch makes lazily, and clearing a parameter's state
when no value is given for it: the state before torch's first step).

A learning-rate schedule is the twin's ``scheduler`` (torch_ref/schedules.py), stepped after every
optimizer step; ``at(t)`` puts it at t steps done. A velocity that carries the lr (the assignment's
v = lr · buf, cs231n's v = -lr · buf) keeps its invariant when the lr changes: the buffer is rescaled
by lr_old / lr_new, since torch.optim.SGD keeps buf in gradient units (v <- m v + lr_t g is then
buf <- m (lr_{t-1} / lr_t) buf + g, which torch's own SGD does not do).
"""
import torch

from torch_ref.schedules import lr_at


def _step_tensor(value: float = 0.0) -> torch.Tensor:
    """A step counter as torch.optim keeps it: a 0-d float tensor (float64 when that is the default dtype)."""
    dtype = torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32
    return torch.tensor(float(value), dtype=dtype)


class _Twin:
    """A torch.optim optimizer over named parameters, its state in the manual side's units."""

    lr_scaled: dict = {}        # state key -> sign: manual value = sign · lr · torch value (others: equal)
    scheduler = None            # a torch.optim.lr_scheduler over opt, or None (constant lr)

    def __init__(self, params: dict[str, torch.nn.Parameter], opt: torch.optim.Optimizer):
        self.params, self.opt = params, opt
        self.used_lr = self.lr      # the lr of the last step

    @property
    def lr(self) -> float:
        return self.opt.param_groups[0]["lr"]

    def scale(self, key: str) -> float:
        """Manual value / torch value of a state key."""
        sign = self.lr_scaled.get(key)
        return sign * self.lr if sign else 1.0

    def seed(self, **fill) -> None:
        """Pre-seed every parameter's state (key -> value or "zeros"), as torch would start it but
        with the convention's initial values; torch then uses it instead of its lazy start."""
        for p in self.params.values():
            for key, value in fill.items():
                if key == "step":
                    self.opt.state[p][key] = _step_tensor(value)
                else:
                    self.opt.state[p][key] = torch.full_like(p, value, memory_format=torch.preserve_format)

    def step(self) -> None:
        self.used_lr = lr = self.lr
        self.opt.step()
        if self.scheduler is not None:
            self.scheduler.step()
            self._rescale(lr)

    def at(self, t: int) -> None:
        """Put the schedule at ``t`` steps done (the lr of the next step: its closed form at t)."""
        if self.scheduler is None or self.scheduler.last_epoch == t:
            return
        lr, lrs = self.lr, lr_at(self.scheduler, t)
        self.scheduler.last_epoch = t
        for group, value in zip(self.opt.param_groups, lrs):
            group["lr"] = value
        self.scheduler._last_lr = list(lrs)
        self._rescale(lr)

    @torch.no_grad()
    def _rescale(self, old: float) -> None:
        """Keep manual value = sign · lr · buffer for an lr-carrying velocity when the lr changes."""
        if self.lr == old or not self.lr_scaled:
            return
        for p in self.params.values():
            for key in self.lr_scaled:
                if key in self.opt.state[p]:
                    self.opt.state[p][key].mul_(old / self.lr)

    def zero_grad(self) -> None:
        self.opt.zero_grad(set_to_none=True)

    def state(self) -> dict[str, tuple[torch.Tensor, float]]:
        return {f"{name}.{key}": (t, self.scale(key)) for name, p in self.params.items()
                for key, t in self.opt.state[p].items() if torch.is_tensor(t)}

    @torch.no_grad()
    def load_state(self, values: dict) -> None:
        """Write manual values (``{"<param>.<key>": array}``) in; a parameter with no value given has
        its state cleared (torch then starts it as on its first step)."""
        for name, p in self.params.items():
            given = {k[len(name) + 1:]: v for k, v in values.items() if k.startswith(name + ".")
                     and "." not in k[len(name) + 1:]}
            st = self.opt.state[p]
            if not given:
                st.clear()
                continue
            for key, value in given.items():
                scale = self.scale(key)
                t = torch.as_tensor(value)
                if key in st:
                    st[key].copy_(t).div_(scale)
                elif key == "step":
                    st[key] = _step_tensor(float(t) / scale)
                else:
                    st[key] = t.to(dtype=p.dtype).clone().div_(scale)


class SGDMomentum(_Twin):
    """torch.optim.SGD(momentum) for the assignment's velocity form.

    The assignment steps v <- m v + lr g, p <- p - v (v starts at v0); torch steps
    buf <- m buf + g, p <- p - lr buf. With buf = v / lr the two are the same
    recurrence, so v0 is carried into torch as momentum_buffer = v0 / lr (left
    empty, torch would start its buffer at the first gradient, i.e. v0 = 0).
    """

    def __init__(self, params: dict[str, torch.nn.Parameter], lr: float, momentum: float,
                 init_velocity: float = 0.0, weight_decay: float = 0.0):
        super().__init__(params, torch.optim.SGD(params.values(), lr=lr, momentum=momentum,
                                                 weight_decay=weight_decay))
        self.momentum = momentum
        self.lr_scaled = {"momentum_buffer": 1.0}
        if momentum:     # without momentum torch keeps no buffer, and the manual side no velocity
            for p in params.values():
                self.opt.state[p]["momentum_buffer"] = torch.full_like(p, init_velocity / lr)


class SGD(_Twin):
    """torch.optim.SGD without momentum: no state."""

    def __init__(self, params: dict[str, torch.nn.Parameter], lr: float, weight_decay: float = 0.0):
        super().__init__(params, torch.optim.SGD(params.values(), lr=lr, weight_decay=weight_decay))


class Momentum(_Twin):
    """torch.optim.SGD for the momentum forms of manual.Momentum:

    cs231n  v = -lr * buf: the same recurrence (v <- m v - lr g  <=>  buf <- m buf + g), buffer
            pre-seeded with -v0 / lr
    ema     dampening = momentum, buffer pre-seeded with v0: buf <- m buf + (1 - m) g from the
            first step on (left empty, torch's first step would set buf = g, undampened)
    torch   torch's own, nothing pre-seeded (buf = g on the first step)
    """

    def __init__(self, params: dict[str, torch.nn.Parameter], lr: float, momentum: float, form: str = "torch",
                 init_velocity: float = 0.0, dampening: float = 0.0, weight_decay: float = 0.0):
        damp = momentum if form == "ema" else dampening if form == "torch" else 0.0
        super().__init__(params, torch.optim.SGD(params.values(), lr=lr, momentum=momentum, dampening=damp,
                                                 weight_decay=weight_decay))
        self.lr_scaled = {"momentum_buffer": -1.0} if form == "cs231n" else {}
        if form != "torch":
            self.seed(momentum_buffer=init_velocity / self.scale("momentum_buffer"))


class Nesterov(_Twin):
    """torch.optim.SGD(nesterov=True). cs231n's velocity is v = -lr * buf (buffer pre-seeded with
    -v0 / lr): its p <- p - m v_prev + (1 + m) v is torch's p <- p - lr (g + m buf), expanded."""

    def __init__(self, params: dict[str, torch.nn.Parameter], lr: float, momentum: float, form: str = "torch",
                 init_velocity: float = 0.0, weight_decay: float = 0.0):
        super().__init__(params, torch.optim.SGD(params.values(), lr=lr, momentum=momentum, nesterov=True,
                                                 weight_decay=weight_decay))
        self.lr_scaled = {"momentum_buffer": -1.0} if form == "cs231n" else {}
        if form == "cs231n":
            self.seed(momentum_buffer=init_velocity / -lr)


class RMSprop(_Twin):
    """torch.optim.RMSprop (eps outside the square root), its state pre-seeded as torch starts it."""

    def __init__(self, params: dict[str, torch.nn.Parameter], lr: float, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0):
        super().__init__(params, torch.optim.RMSprop(params.values(), lr=lr, alpha=alpha, eps=eps,
                                                     weight_decay=weight_decay))
        self.seed(step=0.0, square_avg=0.0)


class Adagrad(_Twin):
    """torch.optim.Adagrad with initial_accumulator_value (it makes its state at construction)."""

    def __init__(self, params: dict[str, torch.nn.Parameter], lr: float, eps: float = 1e-10,
                 init_accumulator: float = 0.0, weight_decay: float = 0.0):
        super().__init__(params, torch.optim.Adagrad(params.values(), lr=lr, eps=eps, weight_decay=weight_decay,
                                                     initial_accumulator_value=init_accumulator))


class AdamOps(torch.optim.Optimizer):
    """Adam written in torch operations, for a convention torch.optim.Adam cannot express: eps inside
    the square root, p <- p - lr m̂ / sqrt(v̂ + eps). State as torch.optim.Adam names it."""

    def __init__(self, params, lr: float, betas: tuple, eps: float, weight_decay: float, decoupled: bool):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, decoupled=decoupled))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                st = self.state[p]
                if not st:
                    st.update(step=_step_tensor(), exp_avg=torch.zeros_like(p), exp_avg_sq=torch.zeros_like(p))
                g = p.grad
                if wd and group["decoupled"]:
                    p.mul_(1 - lr * wd)
                elif wd:
                    g = g.add(p, alpha=wd)
                st["step"] += 1
                t = st["step"].item()
                st["exp_avg"].mul_(b1).add_(g, alpha=1 - b1)
                st["exp_avg_sq"].mul_(b2).addcmul_(g, g, value=1 - b2)
                bc1, bc2 = 1 - b1 ** t, 1 - b2 ** t
                denom = st["exp_avg_sq"].div(bc2).add_(eps).sqrt_()
                p.addcdiv_(st["exp_avg"], denom, value=-lr / bc1)


class Adam(_Twin):
    """torch.optim.Adam (coupled L2 weight decay) or AdamW (``decoupled``), pre-seeded as torch starts
    them; with ``eps_inside``, AdamOps (torch has no option for eps inside the square root)."""

    def __init__(self, params: dict[str, torch.nn.Parameter], lr: float, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8, weight_decay: float = 0.0, decoupled: bool = False, eps_inside: bool = False):
        kw = dict(lr=lr, betas=(beta1, beta2), eps=eps, weight_decay=weight_decay)
        if eps_inside:
            opt = AdamOps(params.values(), decoupled=decoupled, **kw)
        else:
            opt = (torch.optim.AdamW if decoupled else torch.optim.Adam)(params.values(), **kw)
        super().__init__(params, opt)
        self.seed(step=0.0, exp_avg=0.0, exp_avg_sq=0.0)


class AdamW(Adam):
    """torch.optim.AdamW."""

    def __init__(self, params: dict[str, torch.nn.Parameter], lr: float, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8, weight_decay: float = 0.01):
        super().__init__(params, lr, beta1, beta2, eps, weight_decay, decoupled=True)

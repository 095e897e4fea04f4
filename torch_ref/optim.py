"""The torch twins of manual/optim.py: same class names and arguments, over named parameters.

Each twin keeps torch's own optimizer where it can express the convention, and
says how its state reads in the manual side's units: ``state()`` gives
``{"<param>.<key>": (tensor, scale)}`` with manual value = scale * tensor, and
``load_state`` writes manual values in.
"""
import torch


class SGDMomentum:
    """torch.optim.SGD(momentum) for the assignment's velocity form.

    The assignment steps v <- m v + lr g, p <- p - v (v starts at v0); torch steps
    buf <- m buf + g, p <- p - lr buf. With buf = v / lr the two are the same
    recurrence, so v0 is carried into torch as momentum_buffer = v0 / lr (left
    empty, torch would start its buffer at the first gradient, i.e. v0 = 0).
    """

    def __init__(self, params: dict[str, torch.nn.Parameter], lr: float, momentum: float,
                 init_velocity: float = 0.0, weight_decay: float = 0.0):
        self.params, self.lr, self.momentum = params, lr, momentum
        self.opt = torch.optim.SGD(params.values(), lr=lr, momentum=momentum, weight_decay=weight_decay)
        if momentum:     # without momentum torch keeps no buffer, and the manual side no velocity
            for p in params.values():
                self.opt.state[p]["momentum_buffer"] = torch.full_like(p, init_velocity / lr)

    def step(self) -> None:
        self.opt.step()

    def zero_grad(self) -> None:
        self.opt.zero_grad(set_to_none=True)

    def state(self) -> dict[str, tuple[torch.Tensor, float]]:
        if not self.momentum:
            return {}
        return {f"{name}.momentum_buffer": (self.opt.state[p]["momentum_buffer"], self.lr)
                for name, p in self.params.items()}

    @torch.no_grad()
    def load_state(self, values: dict) -> None:
        for key, (buf, scale) in self.state().items():
            buf.copy_(torch.as_tensor(values[key])).div_(scale)

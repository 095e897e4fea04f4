"""torch.optim.SGD with momentum, started from the assignment's initial velocity.

The assignment steps v <- g*v + a*grad, p <- p - v (v starts at v0); torch
steps buf <- m*buf + grad, p <- p - lr*buf. With m = g, lr = a and buf = v/a
the two are the same recurrence, so v0 is carried into torch as
momentum_buffer = v0 / lr. (Left empty, torch would start buf = grad, i.e. v0 = 0.)
"""
import torch
from torch import nn


def sgd_momentum(model: nn.Module, lr: float, momentum: float, init_velocity: float = 0.0) -> torch.optim.SGD:
    """SGD(momentum) whose every momentum_buffer starts at init_velocity / lr."""
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    for p in model.parameters():
        opt.state[p]["momentum_buffer"] = torch.full_like(p, init_velocity / lr)
    return opt


def momentum_buffers(model: nn.Module, opt: torch.optim.SGD) -> dict[str, torch.Tensor]:
    """name -> momentum_buffer (torch's units: velocity / lr)."""
    return {name: opt.state[p]["momentum_buffer"] for name, p in model.named_parameters()}


@torch.no_grad()
def set_velocity(model: nn.Module, opt: torch.optim.SGD, velocity: dict[str, torch.Tensor]) -> None:
    """Load assignment-form velocities (name -> v) into the buffers as v / lr."""
    lr = opt.param_groups[0]["lr"]
    for name, buf in momentum_buffers(model, opt).items():
        buf.copy_(velocity[name]).div_(lr)

"""The torch schedulers of manual/schedules.py, same names, over a torch optimizer; stepped once after
every optimizer step (torch_ref.optim._Twin.step), so torch's last_epoch is the manual side's t."""
from torch.optim import lr_scheduler


def StepLR(opt, step_size: int, gamma: float = 0.1):
    return lr_scheduler.StepLR(opt, step_size=step_size, gamma=gamma)


def ExponentialLR(opt, gamma: float):
    return lr_scheduler.ExponentialLR(opt, gamma=gamma)


def InverseTimeLR(opt, decay: float):
    """NNFS's lr / (1 + decay t) has no torch class of its own: LambdaLR multiplies the base lr by
    lambda(last_epoch), last_epoch = 0 before the first step, so lambda(t) = 1 / (1 + decay t) is it exactly."""
    return lr_scheduler.LambdaLR(opt, lambda t: 1.0 / (1.0 + decay * t))


def lr_at(scheduler, t: int) -> list[float]:
    """Each group's lr at position ``t`` (t steps done) in closed form, as the manual schedule computes it:
    base_lr · gamma^(t // step_size), base_lr · gamma^t (torch's own closed forms), base_lr · lambda(t).
    (Stepping multiplies the running lr by gamma instead, rounding once per decay.)"""
    if isinstance(scheduler, lr_scheduler.LambdaLR):
        return [base * f(t) for base, f in zip(scheduler.base_lrs, scheduler.lr_lambdas)]
    saved, scheduler.last_epoch = scheduler.last_epoch, t
    try:
        return scheduler._get_closed_form_lr()
    finally:
        scheduler.last_epoch = saved

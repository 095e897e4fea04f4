"""The torch side: torch_ref.Network built from the model spec, in a given dtype.

Its arrays are seen as NumPy views keyed like the manual side's; ``load``
copies a manual state in (synced mode, the per-step judge, the referee).
"""
import numpy as np
import torch

import torch_ref
from comparisons.config import Config
from comparisons.registry import LOSSES, build_optimizer, penalty_args
from torch_ref.regularization import Penalty


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().numpy()


KEEP_ALL = frozenset({"params", "buffers", "state"})


class TorchSide:
    name = "torch"

    def __init__(self, layers, config: Config, dtype: str | None = None, keep: frozenset = KEEP_ALL):
        """``keep``: what each step keeps of its state before it (``before``, ``before_buffers``,
        ``before_state``): all of it for the judge (the update rows, the referee and the diagnosis read
        it); the parameters for the referee's own sides (their update values); nothing for free mode's
        drift twin (read by no one: a copy of every parameter and optimizer state tensor saved per step)."""
        self.keep = keep
        self.dtype = getattr(torch, dtype or config.dtype)
        loss = LOSSES[config.loss].make_twin(config.reduction)
        self.net = torch_ref.Network({s.name: s.kind.twin(**s.kwargs, dtype=self.dtype) for s in layers}, loss)
        self.eval_loss = LOSSES[config.loss].make_twin("mean")
        self.named = dict(self.net.named_parameters())
        reg = penalty_args(config, layers)
        self.penalty = None if reg is None else Penalty(*reg[:3], [k for k in reg[3] if k in self.named])
        # a bring-your-own class's forward returns its training objective, penalty included, in evaluation
        # too (cs231n's loss(), DLS's compute_cost_with_regularization); the built-in side's evaluation does
        # not add it. In the loss's units: the class's summed loss is divided by N when evaluated.
        self.eval_penalty = self.penalty is not None and config.manual != "builtin"
        self.sum_reduction = config.reduction == "sum"
        self.opt = build_optimizer(config, self.named, "twin")
        self.params = {n: _np(p) for n, p in self.named.items()}
        self.buffers = {n: b.numpy() for n, b in self.net.named_buffers() if b.is_floating_point()}
        self.before: dict[str, np.ndarray] = {}       # the parameters before the last step
        self.before_buffers: dict[str, np.ndarray] = {}   # and the buffers
        self.before_state: dict[str, np.ndarray] = {}     # and the optimizer state, in manual units
        self.before_step: int | None = None               # and the schedule's position (steps done; None: no schedule)
        self.outputs: dict[str, np.ndarray] = {}
        self.input_grads: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}

    @property
    def state(self) -> dict[str, tuple[np.ndarray, float]]:
        """The optimizer state as NumPy views, ``{key: (array, scale)}`` with manual value = scale * array
        (read anew: torch makes some state on its first step)."""
        return {k: (_np(t), s) for k, (t, s) in self.opt.state().items()}

    @torch.no_grad()
    def load(self, params: dict, buffers: dict | None = None, state: dict | None = None,
             step: int | None = None) -> None:
        """Copy a manual state in: parameters, buffers, and optimizer state in manual units
        (``{key: (array, scale)}`` as the manual side exposes it, or plain arrays); ``step``: the number
        of steps done, which puts the learning-rate schedule at the next step's lr (before the state,
        whose lr-carrying velocity is scaled by that lr)."""
        if step is not None:
            self.opt.at(int(step))
        for name, p in self.named.items():
            p.copy_(torch.from_numpy(np.ascontiguousarray(params[name])))
        for name, b in (buffers or {}).items():
            self.buffers[name][...] = b
        if state is not None:      # {}: no state (before torch's first step); None: leave it
            self.opt.load_state({k: np.asarray(v[0]) * v[1] if isinstance(v, tuple) else v for k, v in state.items()})

    def state_values(self) -> dict[str, np.ndarray]:
        """The optimizer state in the manual side's units (new arrays)."""
        return {k: v * s for k, (v, s) in self.state.items()}

    def train_step(self, x: np.ndarray, y: np.ndarray, taken: dict | None = None) -> tuple[float, np.ndarray]:
        """Forward, backward, update; ``taken`` forces branch layers' branches (the referee's), and the
        loss's under the key "loss" when the loss has branch points (svm's hinges)."""
        self.keep_before()
        self.before_step = None if self.opt.scheduler is None else self.opt.scheduler.last_epoch
        self.opt.zero_grad()
        self.net.train()
        scores = self.net(torch.from_numpy(x), keep=True, taken=taken)
        yt = torch.from_numpy(y)
        loss = self.net.loss.forward_with(scores, yt, taken["loss"]) if taken and "loss" in taken else \
            self.net.loss(scores, yt)
        term = self.penalty(self.named, len(x)) if self.penalty is not None else None
        if term is not None:
            loss = loss + term
        loss.backward()
        self.opt.step()
        self.outputs = {k: _np(v) for k, v in self.net.outputs.items()}
        self.input_grads = {k: v.numpy() for k, v in self.net.input_grads().items() if v is not None}
        self.grads = {n: p.grad.numpy() for n, p in self.named.items()}
        return loss.item(), _np(scores)

    def keep_before(self) -> None:
        """What ``keep`` asks for of the state before a step: new arrays (a new dict each step)."""
        keep = self.keep
        self.before = {n: p.detach().clone().numpy() for n, p in self.named.items()} if "params" in keep else {}
        self.before_buffers = {n: b.copy() for n, b in self.buffers.items()} if "buffers" in keep else {}
        self.before_state = self.state_values() if "state" in keep else {}

    def update_only(self, grads: dict) -> None:
        """The optimizer step alone, from ``grads`` (the referee's update stage): the state before it
        kept as train_step keeps it."""
        self.keep_before()
        for name, p in self.named.items():
            p.grad = torch.from_numpy(np.ascontiguousarray(grads[name])).to(p.dtype)
        self.opt.step()

    @torch.no_grad()
    def evaluate(self, x: np.ndarray, y: np.ndarray, taken: dict | None = None) -> tuple[float, np.ndarray]:
        self.net.eval()
        scores = self.net(torch.from_numpy(x), keep=taken is not None, taken=taken)
        yt = torch.from_numpy(y)
        if taken and "loss" in taken:          # a loss with branch points, on the referee's branches
            loss = self.eval_loss.forward_with(scores, yt, taken["loss"])
        else:
            loss = self.eval_loss(scores, yt)
        term = self.penalty(self.named, len(x)) if self.eval_penalty else None
        if term is not None:
            loss = loss + (term / len(x) if self.sum_reduction else term)
        return loss.item(), scores.numpy()

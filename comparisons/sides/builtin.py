"""The two sides behind one small interface, so the lockstep loop reads symmetric.

Each side exposes NumPy views keyed by state_dict names: ``params``,
``grads`` (of the last step), ``velocity`` (assignment form: p <- p - v).
For torch the views share memory with the tensors; only the velocity,
lr * momentum_buffer, is a computed copy.
"""
import numpy as np
import torch

import manual
import torch_ref
from comparisons.config import Config


class StateCopies:
    """snapshot / restore for a manual side that exposes ``params`` and ``velocity()``
    (None when it keeps its optimizer state to itself): the state a step starts from."""

    def snapshot(self, into: dict | None = None) -> dict:
        """{"params": copies, "velocity": copies or None}, reusing ``into``'s arrays when given."""
        def copy(arrays, buffers):
            if buffers is None:
                return {k: np.array(v, copy=True, order="C") for k, v in arrays.items()}
            for k, v in arrays.items():
                np.copyto(buffers[k], v)
            return buffers
        into, velocity = into or {}, self.velocity()
        return {"params": copy(self.params, into.get("params")),
                "velocity": None if velocity is None else copy(velocity, into.get("velocity"))}

    def restore(self, snap: dict) -> None:
        """Copy a snapshot back into the live arrays (velocities when both have them)."""
        for name, live in self.params.items():
            np.copyto(live, snap["params"][name])
        velocity = self.velocity()
        if velocity is not None and snap["velocity"] is not None:
            for name, live in velocity.items():
                np.copyto(live, snap["velocity"][name])


class ManualSide(StateCopies):
    name = "manual"

    def __init__(self, params: dict[str, np.ndarray], config: Config, loss=None):
        self.model = manual.MLP(params)
        self.loss_fn = loss if loss is not None else manual.SoftmaxCrossEntropy(config.reduction)
        self.opt = manual.SGDMomentum(params, config.lr, config.momentum, config.init_velocity)
        self.params = params
        self.grads: dict[str, np.ndarray] = {}

    def step(self, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        """One training step on (x (N, D), y (N,)). Returns (loss, logits) before the update."""
        logits = self.model.forward(x)
        loss = self.loss_fn.forward(logits, y)
        self.grads = self.model.backward(self.loss_fn.backward())
        self.opt.step(self.grads)
        return loss, logits

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        """(mean loss over the samples, whatever the training reduction; logits), parameters untouched."""
        logits = self.model.forward(x)
        return manual.SoftmaxCrossEntropy().forward(logits, y), logits

    def velocity(self) -> dict[str, np.ndarray]:
        return self.opt.velocity

    def replay(self, x: np.ndarray, y: np.ndarray) -> dict:
        """``step``, keeping every intermediate (for diagnosis): loss, scores, inter
        ("<layer>.in/.pre/.act", "logits", "probs", "dlogits"), grads, params_after, velocity_after."""
        inter, out = {}, x
        for name, linear in self.model.linears.items():
            inter[f"{name}.in"] = out
            out = linear.forward(out)
            if name in self.model.relus:
                inter[f"{name}.pre"] = out.copy()
                out = self.model.relus[name].forward(out)
                inter[f"{name}.act"] = out.copy()
        inter["logits"] = out.copy()
        loss = self.loss_fn.forward(out, y)
        if getattr(self.loss_fn, "probs", None) is not None:
            inter["probs"] = self.loss_fn.probs.copy()
        inter["dlogits"] = self.loss_fn.backward().copy()
        self.grads = self.model.backward(inter["dlogits"].copy())
        grads = {k: v.copy() for k, v in self.grads.items()}
        self.opt.step(self.grads)
        after = self.snapshot()
        return {"loss": loss, "scores": inter["logits"], "inter": inter, "grads": grads,
                "params_after": after["params"], "velocity_after": after["velocity"]}


class TorchSide:
    name = "torch"

    def __init__(self, params: dict[str, np.ndarray], sizes: tuple[int, ...], config: Config):
        self.model = torch_ref.MLP(sizes, dtype=getattr(torch, config.dtype))
        self.load_params(params)
        self.opt = torch_ref.sgd_momentum(self.model, config.lr, config.momentum, config.init_velocity)
        self.lr, self.reduction = config.lr, config.reduction
        self.params = {n: p.detach().numpy() for n, p in self.model.named_parameters()}
        self._buffers = {n: b.numpy() for n, b in torch_ref.momentum_buffers(self.model, self.opt).items()}
        self.grads: dict[str, np.ndarray] = {}

    @torch.no_grad()
    def load_params(self, params: dict[str, np.ndarray]) -> None:
        state = self.model.state_dict()
        if set(state) != set(params):
            raise ValueError(f"parameter names differ: manual {sorted(params)}, torch {sorted(state)}")
        for name, p in self.model.named_parameters():
            p.copy_(torch.from_numpy(np.ascontiguousarray(params[name])))

    def step(self, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        self.opt.zero_grad(set_to_none=True)
        logits = self.model(torch.from_numpy(x))
        loss = torch.nn.functional.cross_entropy(logits, torch.from_numpy(y), reduction=self.reduction)
        loss.backward()
        self.opt.step()
        self.grads = {n: p.grad.numpy() for n, p in self.model.named_parameters()}
        return loss.item(), logits.detach().numpy()

    @torch.no_grad()
    def evaluate(self, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        logits = self.model(torch.from_numpy(x))
        return torch.nn.functional.cross_entropy(logits, torch.from_numpy(y)).item(), logits.numpy()

    def velocity(self) -> dict[str, np.ndarray]:
        """lr * momentum_buffer: torch's state in the assignment's units (a computed copy)."""
        return {n: b * self.lr for n, b in self._buffers.items()}

    def velocity_scaled(self) -> tuple[dict[str, np.ndarray], float]:
        """(momentum buffers, lr): the velocity without the copy, for comparisons."""
        return self._buffers, self.lr

    @torch.no_grad()
    def sync_from(self, params: dict[str, np.ndarray], velocity: dict[str, np.ndarray] | None) -> None:
        """Synced mode: overwrite parameters and momentum buffers with the manual side's
        (buffers only when the manual side exposes its velocity)."""
        self.load_params(params)
        if velocity is not None:
            torch_ref.set_velocity(self.model, self.opt,
                                   {n: torch.from_numpy(np.ascontiguousarray(v)) for n, v in velocity.items()})

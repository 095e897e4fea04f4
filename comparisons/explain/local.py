"""Each stage of one step recomputed by torch from the manual side's own inputs to that stage.

A layer's forward from the manual side's input to it; its backward from that
input and the manual side's incoming gradient; the loss from the manual
side's scores; the update from the manual side's gradients and optimizer state; a layer's
running statistics (its buffers) from the manual side's input to it and the buffers before the step.
So a stage is judged on its own: a slip upstream does not make every later
stage look wrong. Each recomputation runs in float64 (the reference) and in the
referee's probes (comparisons/explain/referee.py: float32 from the same inputs,
and float32 against float64 from shifted inputs): their distances measure the
rounding the stage suffers.

Every method returns ``{"ref": values, "probes": [(values, partner values, scale)]}``;
``pick`` takes one value out of that.
"""
import numpy as np
import torch

from comparisons.explain.referee import PERTURBED, PROBE, SHIFT, perturb
from comparisons.sides.torch_side import TorchSide


def _leaf(a, dtype):
    """Float input as a leaf that takes its gradient; integer token ids as they are (no gradient)."""
    a = np.asarray(a)
    if np.issubdtype(a.dtype, np.integer):
        return torch.from_numpy(a)
    return torch.tensor(a, dtype=dtype).requires_grad_(True)


def pick(got: dict, *path):
    """(the reference's value at ``path``, [(each probe's value, its partner's, scale)])."""
    def at(values):
        for key in path:
            values = values[key]
        return values
    return at(got["ref"]), [(at(values), at(partner), scale) for values, partner, scale in got["probes"]]


class Local:
    """Stage recomputations on twins loaded with the state before the step."""

    def __init__(self, referee, before: dict, layers, config):
        self.before = before
        rng = np.random.default_rng(1)
        f64, f32 = torch.float64, getattr(torch, PROBE)
        # (side, dtype, role, shifted): the referee, the probe from the same inputs, then shifted pairs
        self.runs = [(referee.ref, f64, "ref", False), (referee.probe, f32, "probe", False)]
        for _ in range(PERTURBED):
            self.runs += [(TorchSide(layers, config, dtype="float64"), f64, "partner", True),
                          (TorchSide(layers, config, dtype=PROBE), f32, "probe", True)]
        self.scale = referee.probe_scale
        self.states, state = [], before
        for side, _, role, shifted in self.runs:
            if role != "probe" or not shifted:      # a shifted probe shares its partner's shifted state
                state = perturb(before, SHIFT, rng) if shifted else before
            side.load(state["params"], state["buffers"], state["state"], self.before.get("step"))
            self.states.append(state)
        self.rng = np.random.default_rng(2)

    def _each(self, fn, *arrays) -> dict:
        """fn(side, dtype, state, *arrays) in every run; a shifted pair gets the same shifted arrays."""
        out, partner, args = {"ref": None, "probes": []}, None, arrays
        for (side, dtype, role, shifted), state in zip(self.runs, self.states):
            if role == "partner":
                args = [perturb(a, SHIFT, self.rng) if a is not None else a for a in arrays]
            elif not shifted:
                args = arrays
            values = fn(side, dtype, state, *args)
            if role == "ref":
                out["ref"] = partner = values
            elif role == "partner":
                partner = values
            else:
                out["probes"].append((values, partner, self.scale))
        return out

    def layer(self, name: str, x, dout=None, train: bool = True) -> dict:
        """{"out", "dx", "grad": {param}} of layer ``name`` at input x with the incoming gradient
        ``dout`` (None: forward only)."""
        def run(side, dtype, state, x, dout):
            module = side.net.get_submodule(name)
            module.train(train)
            kept = {k: v.detach().clone() for k, v in module.state_dict().items()}
            xt = _leaf(x, dtype)
            for p in module.parameters():
                p.grad = None
            with torch.enable_grad():
                out = module(xt)
                result = {"out": out.detach().numpy().copy()}
                if dout is not None:
                    out.backward(torch.tensor(np.asarray(dout), dtype=dtype))
                    term = side.penalty({f"{name}.{k}": p for k, p in module.named_parameters()}, len(xt)) \
                        if side.penalty is not None else None
                    if term is not None:          # the regularisation's share of the parameters' gradients
                        term.backward()
                    result["dx"] = xt.grad.numpy().copy() if xt.grad is not None else None
                    result["grad"] = {k: p.grad.numpy().copy() for k, p in module.named_parameters()}
            module.load_state_dict(kept)      # running statistics as they were
            return result
        return self._each(run, x, dout)

    def buffers(self, name: str, x) -> dict:
        """{local key: value} of layer ``name``'s floating-point buffers (running statistics) after its
        forward in training at input x, from the buffers before the step."""
        def run(side, dtype, state, x):
            module = side.net.get_submodule(name)
            module.train(True)
            kept = {k: v.detach().clone() for k, v in module.state_dict().items()}
            with torch.no_grad():
                module(_leaf(x, dtype).detach())
            values = {k: b.detach().numpy().copy() for k, b in module.named_buffers() if b.is_floating_point()}
            module.load_state_dict(kept)      # running statistics as they were
            return values
        return self._each(run, x)

    def loss(self, scores, y) -> dict:
        """{"loss", "dscores"} of the loss at the manual side's scores."""
        def run(side, dtype, state, scores):
            s = _leaf(scores, dtype)
            with torch.enable_grad():
                loss = side.net.loss(s, torch.from_numpy(np.asarray(y)))
                loss.backward()
                term = side.penalty(side.named, len(s)) if side.penalty is not None else None
            value = loss.item() + (term.item() if term is not None else 0.0)    # + the regularisation term
            return {"loss": value, "dscores": s.grad.numpy().copy()}
        return self._each(run, scores)

    def update(self, grads: dict) -> dict:
        """{"update": {param}, "state": {key}} of the optimizer applied to the manual side's gradients
        from the state before the step."""
        def run(side, dtype, state, grads):
            side.load(state["params"], state["buffers"], state["state"], self.before.get("step"))
            for name, p in side.named.items():
                p.grad = torch.tensor(np.asarray(grads[name]), dtype=dtype)
            side.opt.step()
            update = {k: side.params[k] - np.asarray(state["params"][k], side.params[k].dtype) for k in side.params}
            values = {"update": update, "state": side.state_values()}
            side.load(state["params"], state["buffers"], state["state"], self.before.get("step"))   # as it was
            return values
        return self._each(run, grads)

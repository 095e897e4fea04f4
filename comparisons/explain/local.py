"""Each stage of one step recomputed by torch from the manual side's own inputs to that stage.

A layer's forward from the manual side's input to it; its backward from that
input and the manual side's incoming gradient; the loss from the manual
side's scores; the update from the manual side's gradients and optimizer state.
So a stage is judged on its own: a slip upstream does not make every later
stage look wrong. Each recomputation runs in float64 (the reference) and in
float32 (the probe) from the same inputs; their distance is the rounding the
stage suffers, as in the referee (comparisons/explain/referee.py).
"""
import numpy as np
import torch

from comparisons.explain.referee import PROBE


def _leaf(a, dtype, grad=True):
    t = torch.tensor(np.asarray(a), dtype=dtype)
    return t.requires_grad_(grad) if grad else t


class Local:
    """Stage recomputations on the referee's two twins, loaded with the state before the step."""

    def __init__(self, referee, before: dict):
        self.sides = {"ref": referee.ref, "probe": referee.probe}
        self.before = before
        for side in self.sides.values():
            side.load(before["params"], before["buffers"], before["state"])

    def _each(self, fn):
        return {key: fn(side, torch.float64 if key == "ref" else getattr(torch, PROBE))
                for key, side in self.sides.items()}

    def layer(self, name: str, x, dout=None, train: bool = True) -> dict:
        """{"ref"/"probe": {"out", "dx", "grad": {param: ...}}} of layer ``name`` at input x, with the
        incoming gradient ``dout`` (None: forward only)."""
        def run(side, dtype):
            module = side.net.get_submodule(name)
            module.train(train)
            state = {k: v.detach().clone() for k, v in module.state_dict().items()}
            xt = _leaf(x, dtype)
            for p in module.parameters():
                p.grad = None
            with torch.enable_grad():
                out = module(xt)
                result = {"out": out.detach().numpy().copy()}
                if dout is not None:
                    out.backward(torch.tensor(np.asarray(dout), dtype=dtype))
                    result["dx"] = xt.grad.numpy().copy()
                    result["grad"] = {k: p.grad.numpy().copy() for k, p in module.named_parameters()}
            module.load_state_dict(state)      # running statistics as they were
            return result
        return self._each(run)

    def loss(self, scores, y) -> dict:
        """{"ref"/"probe": {"loss", "dscores"}} of the loss at the manual side's scores."""
        def run(side, dtype):
            s = _leaf(scores, dtype)
            with torch.enable_grad():
                loss = side.net.loss(s, torch.from_numpy(np.asarray(y)))
                loss.backward()
            return {"loss": loss.item(), "dscores": s.grad.numpy().copy()}
        return self._each(run)

    def update(self, grads: dict) -> dict:
        """{"ref"/"probe": {"update": {param}, "state": {key}}} of the optimizer applied to the manual
        side's gradients from the state before the step."""
        def run(side, dtype):
            side.load(self.before["params"], self.before["buffers"], self.before["state"])
            for name, p in side.named.items():
                p.grad = torch.tensor(np.asarray(grads[name]), dtype=dtype)
            side.opt.step()
            update = {k: side.params[k] - np.asarray(self.before["params"][k], side.params[k].dtype)
                      for k in side.params}
            return {"update": update, "state": side.state_values()}
        return self._each(run)

"""The referee: torch recomputing one step (or evaluation) from the manual side's state.

It runs the torch twin in float64, following the manual side's branch at every
branch point (each branch layer decides from the manual side's own input to
that layer), and once more in float32 with exactly the same branches: the
probe. The two differ only by rounding, so their distance is the rounding this
computation suffers, measured where it happens (rules.rejudge). For a float64
run the probe's distance is scaled by eps64 / eps32 = 2^-29: the same
computation, rounded 2^29 times more finely.
"""
from dataclasses import dataclass

import numpy as np
import torch

from comparisons.check.rules import EPS
from comparisons.sides.torch_side import TorchSide

PROBE = "float32"


@dataclass
class Recomputed:
    """Both recomputations of one step, keyed (quantity, name) like the rows."""
    ref: dict          # float64 referee
    probe: dict        # float32 probe, same branches
    probe_scale: float  # multiplies the probe's distance to express rounding in the run's dtype
    flips: dict        # branch layer -> (count of elements where the referee took the manual side's branch
                       #   against its own decision, flat indices of the first few)


class Referee:
    def __init__(self, layers, config):
        self.config = config
        self.ref = TorchSide(layers, config, dtype="float64")
        self.probe = TorchSide(layers, config, dtype=PROBE)
        self.probe_scale = EPS[config.dtype] / EPS[PROBE]
        self.branch_layers = [s.name for s in layers if hasattr(s.kind.twin, "decide")]
        self.first = layers[0].name
        self.previous = {b.name: a.name for a, b in zip(layers, layers[1:])}

    def _taken(self, x, outputs: dict) -> dict:
        """Each branch layer's branches, decided from the manual side's input to it."""
        taken = {}
        for name in self.branch_layers:
            given = x if name == self.first else outputs.get(self.previous[name])
            if given is not None:
                module = self.ref.net.get_submodule(name)
                taken[name] = module.decide(torch.from_numpy(np.asarray(given, np.float64)))
        return taken

    def _flips(self, taken: dict) -> dict:
        flips = {}
        for name, chosen in taken.items():
            own = self.ref.net.get_submodule(name).decide(self.ref.net.inputs[name].detach())
            differ = (own != chosen).flatten().nonzero().flatten()
            if len(differ):
                flips[name] = (int(len(differ)), differ[:8].tolist())
        return flips

    def step(self, before: dict, x: np.ndarray, y: np.ndarray, manual_outputs: dict) -> Recomputed:
        """``before``: the manual state the step started from: {"params", "buffers", "state"} (state in
        the manual side's units). ``manual_outputs``: the manual side's layer outputs in this step."""
        taken = self._taken(x, manual_outputs)
        results = []
        for side, dtype in ((self.ref, np.float64), (self.probe, np.dtype(PROBE))):
            side.load(before["params"], before["buffers"], before["state"])
            loss, scores = side.train_step(np.asarray(x, dtype), y, taken=taken)
            values = {("loss", ""): loss, ("scores", ""): scores}
            values.update({("out", k): v for k, v in side.outputs.items()})
            values.update({("dx", k): v for k, v in side.input_grads.items()})
            values.update({("grad", k): v for k, v in side.grads.items()})
            values.update({("update", k): side.params[k] - side.before[k] for k in side.params})
            values.update({("state", k): v for k, v in side.state_values().items()})
            values.update({("buffer", k): v.copy() for k, v in side.buffers.items()})
            results.append(values)
        return Recomputed(*results, self.probe_scale, self._flips(taken))

    def evaluate(self, params: dict, buffers: dict, x: np.ndarray, y: np.ndarray, manual_outputs: dict) -> Recomputed:
        taken = self._taken(x, manual_outputs)
        results = []
        for side, dtype in ((self.ref, np.float64), (self.probe, np.dtype(PROBE))):
            side.load(params, buffers)
            loss, scores = side.evaluate(np.asarray(x, dtype), y, taken=taken)
            results.append({("loss", ""): loss, ("scores", ""): scores})
        return Recomputed(*results, self.probe_scale, {})


def near_ties(ref_scores, probe_scores, pred_m, pred_t, probe_scale: float, factor: float, floor: float) -> int:
    """How many samples predicted differently are near-ties of the referee: the referee's scores of
    the two classes differ by no more than ``factor`` x the probe's greatest score error on that
    sample (x probe_scale) + ``floor`` x the sample's greatest score."""
    differ = np.flatnonzero(pred_m != pred_t)
    if not len(differ):
        return 0
    ref = np.asarray(ref_scores, np.float64)[differ]
    noise = np.abs(np.asarray(probe_scores, np.float64)[differ] - ref).max(axis=1) * probe_scale
    rows = np.arange(len(differ))
    gap = np.abs(ref[rows, pred_m[differ]] - ref[rows, pred_t[differ]])
    return int(np.count_nonzero(gap <= factor * noise + floor * np.abs(ref).max(axis=1)))

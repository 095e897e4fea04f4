"""The referee: torch recomputing one step (or evaluation) from the manual side's state.

It runs the torch twin in float64, following the manual side's branch at every
branch point (each branch layer decides from the manual side's own input to
that layer). Then *probes* recompute the same step with exactly the same
branches, each differing from the referee only by rounding-sized changes:

  float32    the step in float32 (its distance scaled by eps(run) / eps(float32):
             the same computation rounded 2^29 times more finely, for a float64 run)
  perturbed  the step in float64 from the state and batch with every element
             multiplied by (1 + eps(run) u), u uniform in [-1, 1] (PERTURBED of them,
             seeded): how far rounding-sized changes of the inputs move each value

The rounding of a value is the largest distance any probe puts between it and
the referee (rules.rejudge). One probe alone can be lucky: a tensor whose norm
comes from one element (a single active unit after a cancelling sum) is one
draw of its rounding, and the ratio of two such draws is heavy-tailed (a false
alarm in tests/test_false_alarms.py's grid, float64, batch 1: the manual side
1.2 ulps of the sum off, the float32 probe 20x luckier than typical). Several
probes of two kinds make the estimate robust.
"""
from dataclasses import dataclass

import numpy as np
import torch

from comparisons.check.rules import EPS
from comparisons.sides.torch_side import TorchSide

PROBE = "float32"
PERTURBED = 2          # float64 probes from perturbed inputs


@dataclass
class Recomputed:
    """The referee's recomputation of one step and its probes', keyed (quantity, name) like the rows."""
    ref: dict          # float64 referee
    probes: list       # [(values, scale)]: each probe's values and the factor its distance is scaled by
    flips: dict        # branch layer -> (count of elements where the referee took the manual side's branch
                       #   against its own decision, flat indices of the first few)

    def noise(self, key) -> float:
        """The rounding of this value in the run's dtype: the largest (scaled) probe distance."""
        ref = np.asarray(self.ref[key], np.float64)
        return max(_rel(values[key], ref) * scale for values, scale in self.probes)

    @property
    def probe(self) -> dict:
        """The float32 probe's values (the diagnosis' stand-in for a float32 computation)."""
        return self.probes[0][0]


def _rel(m, r) -> float:
    m, r = np.asarray(m, np.float64), np.asarray(r, np.float64)
    num, den = float(np.linalg.norm(m - r)), float(np.linalg.norm(r))
    return num / den if den > 0 else (0.0 if num == 0 else float("inf"))


def perturb(values, eps: float, rng: np.random.Generator):
    """A copy of ``values`` (an array, or a dict of arrays or of (array, scale)) with every float element
    multiplied by 1 + eps u, u uniform in [-1, 1]."""
    if isinstance(values, dict):
        return {k: perturb(v, eps, rng) for k, v in values.items()}
    if isinstance(values, tuple):
        return (perturb(values[0], eps, rng), values[1])
    a = np.asarray(values)
    if not np.issubdtype(a.dtype, np.floating):
        return a
    return a.astype(np.float64) * (1 + eps * rng.uniform(-1, 1, a.shape))


class Referee:
    def __init__(self, layers, config):
        self.config = config
        self.ref = TorchSide(layers, config, dtype="float64")
        self.probe = TorchSide(layers, config, dtype=PROBE)
        self.probe_scale = EPS[config.dtype] / EPS[PROBE]
        self.eps = EPS[config.dtype]
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

    def _runs(self, before: dict, x):
        """(side, dtype, state, batch, scale) of the referee and each probe."""
        yield self.ref, np.float64, before, x, None
        yield self.probe, np.dtype(PROBE), before, x, self.probe_scale
        rng = np.random.default_rng(0)
        for _ in range(PERTURBED):
            yield self.ref, np.float64, perturb(before, self.eps, rng), perturb(x, self.eps, rng), 1.0

    def step(self, before: dict, x: np.ndarray, y: np.ndarray, manual_outputs: dict) -> Recomputed:
        """``before``: the manual state the step started from: {"params", "buffers", "state"} (state in
        the manual side's units). ``manual_outputs``: the manual side's layer outputs in this step."""
        taken = self._taken(x, manual_outputs)
        ref, probes, flips = None, [], {}
        for side, dtype, state, batch, scale in self._runs(before, x):
            side.load(state["params"], state["buffers"], state["state"])
            loss, scores = side.train_step(np.asarray(batch, dtype), y, taken=taken)
            values = {("loss", ""): loss, ("scores", ""): scores}
            values.update({("out", k): v for k, v in side.outputs.items()})
            values.update({("dx", k): v for k, v in side.input_grads.items()})
            values.update({("grad", k): v for k, v in side.grads.items()})
            values.update({("update", k): side.params[k] - side.before[k] for k in side.params})
            values.update({("state", k): v for k, v in side.state_values().items()})
            values.update({("buffer", k): v.copy() for k, v in side.buffers.items()})
            if scale is None:
                ref, flips = values, self._flips(taken)
            else:
                probes.append((values, scale))
        return Recomputed(ref, probes, flips)

    def evaluate(self, params: dict, buffers: dict, x: np.ndarray, y: np.ndarray, manual_outputs: dict) -> Recomputed:
        taken = self._taken(x, manual_outputs)
        ref, probes = None, []
        for side, dtype, state, batch, scale in self._runs({"params": params, "buffers": buffers, "state": {}}, x):
            side.load(state["params"], state["buffers"])
            loss, scores = side.evaluate(np.asarray(batch, dtype), y, taken=taken)
            values = {("loss", ""): loss, ("scores", ""): scores}
            if scale is None:
                ref = values
            else:
                probes.append((values, scale))
        return Recomputed(ref, probes, {})


def near_ties(recomputed: Recomputed, pred_m, pred_t, factor: float, floor: float) -> int:
    """How many samples predicted differently are near-ties of the referee: the referee's scores of
    the two classes differ by no more than ``factor`` x the probes' greatest score error on that
    sample (scaled) + ``floor`` x the sample's greatest score."""
    differ = np.flatnonzero(pred_m != pred_t)
    if not len(differ):
        return 0
    ref = np.asarray(recomputed.ref[("scores", "")], np.float64)[differ]
    noise = np.max([np.abs(np.asarray(values[("scores", "")], np.float64)[differ] - ref).max(axis=1) * scale
                    for values, scale in recomputed.probes], axis=0)
    rows = np.arange(len(differ))
    gap = np.abs(ref[rows, pred_m[differ]] - ref[rows, pred_t[differ]])
    return int(np.count_nonzero(gap <= factor * noise + floor * np.abs(ref).max(axis=1)))

"""The referee: torch recomputing one step (or evaluation) from the manual side's state.

It runs the torch twin in float64, following the manual side's branch at every
branch point (each branch layer decides from the manual side's own input to
that layer). Then *probes* measure the rounding this very computation suffers:
each is the same step in float32, with exactly the same branches, against a
float64 recomputation from the same inputs. One probe starts from the state and
batch themselves (its float64 partner is the referee); PERTURBED more start
from the state and batch with every element multiplied by (1 + SHIFT u), u
uniform in [-1, 1] (seeded). The shift moves every value by far more than a
float32 ulp, so each probe meets the rounding grid at another place, while the
computation's conditioning stays that of the step (SHIFT = 1e-3). A probe's
distance from its partner, scaled by eps(run) / eps(float32) (2^-29 for a
float64 run), estimates the rounding in the run's dtype; the rounding of a value
is the largest over the probes (rules.rejudge).

The referee's own rounding is measured too, in its own dtype: with the probes from shifted inputs
comes the referee's step again on the batch in another order (the samples reversed; every layer kind
and loss treats the samples alike, so only the order of the batch's sums changes), and its distance
from the referee (scale 1) joins the probes. Needed: torch's float64 kernels are not always as
accurate as its float32 ones scaled. Measured (2026-12-03): training-mode
F.batch_norm on CPU, (100, 4, 28, 28) of mean 5, std 3: float32 0.54 eps32 from exact, float64 69
eps64 (NumPy's float64, the manual side's way: 1.6 eps64). A float32 probe, scaled by 2^-29, saw a
sixtieth of the float64 referee's own error: in the zoo's float64 spatial-norms runs, manual vs
referee reached 95x (bn1.running_mean), 53x (bn1's output) and 45x (gn1.weight's gradient) the
probes' rounding, against <= 10x in float32; with the permuted referee among the probes, <= 6.3x
(seeds 0 and 5, every step refereed with every probe). tests/test_referee_order.py shows the
permuted step to be the same step for every layer kind and loss.

And the rounding of a hand-written version of the step: when a row fails even with the shifted probes,
the referee's step again (ROUNDED times) with every elementary operation rounded at random to the run's
precision (explain/random_rounding.py; scale 1). Needed: torch's fused float32 kernels can compute
exactly what a NumPy derivation rounds. A bias right before a batchnorm has a gradient of 0 in exact
arithmetic; with a batch of 2 torch's float32 value was exactly 0 where the manual side's was 1e-15,
and under Adam, RMSprop or Adagrad that rounding is a whole step. Of the 10 correct runs a configuration
hunt (2026-12-03) still failed on rounding (7 on gradients 0 by construction, 3 just over the allowance),
9 pass with it; the 10th, a float64
groupnorm over one value, stays just over (5.6e-14 against 5.3e-14). A hunt of 93 slips of kinds not
in tests/ (184 runs): every run that failed before fails at the same first row. On 250 fresh random
configurations (a second hunt): 11 failed on rounding before, none now (one of them, float64 Adam with
beta2 = 0 over a bias gradient that is 0 by construction, failed with an earlier version's draws).
Where the referee's value is exactly 0 (a GELU far below 0, torch's 1 + erf cancelling), rows are
judged as distances (rules.rejudge_at_zero).

Cheapest first (comparisons/lockstep.py, Lockstep.refereed): the harness asks for the probe from
the step's own inputs alone, for the shifted ones only when a row still fails, and for the rounded runs
only when one fails even then. A row's rounding
is the largest over the probes, so more probes can only widen its allowance: a row that passes with
one passes with all, and the verdicts are those of every probe.

Why several: one probe alone can be lucky. Measured in tests/test_false_alarms.py's
grid with one probe: float64, batch of 1, dL/dscores = p - y with p_y = 0.99654:
the manual side 2.2e-16 off (1 ulp of p_y, as p - y computed from p must be);
torch's float32 p_y - 1 happened to lie 5e-10 from the exact value, where its
error is typically 4e-8 (2000 random confident samples: median 4.2e-8, 90th
percentile 1.0e-7; a naive float32 p - y: 5.1e-8, 1.3e-7): a false alarm. Nudging
the inputs by one float32 ulp did not help (all three probes landed on the same
grid point, 5.1e-10 off): hence float64 partners and a shift of 1e-3.
"""
import contextlib
from dataclasses import dataclass

import numpy as np
import torch

from comparisons.check.rules import EPS
from comparisons.explain.random_rounding import RandomRounding
from comparisons.registry import LOSSES
from comparisons.sides.torch_side import TorchSide

PROBE = "float32"
PERTURBED = 2          # probes from shifted inputs, beside the one from the step's own inputs
SHIFT = 1e-3           # relative shift of every input of a shifted probe
# Randomly rounded runs of the referee's step, beside the shifted probes. One draw can be unlucky where a value
# is the sum of a few rounded terms: a float32 Adam run with batches of 2 (a bias before a batchnorm, its
# gradient pure rounding) failed on exp_avg_sq, which squares it: the manual side's gradient was 3.9e-6 at
# most, one draw's 4.0e-7, four other draws' 9.6e-7 to 6.4e-6. The larger of two draws passes it.
ROUNDED = 2
BATCHED = ("out", "dx", "scores")   # values with the samples on axis 0 (the rest are sums over them)


@dataclass
class Recomputed:
    """The referee's recomputation of one step and its probes', keyed (quantity, name) like the rows."""
    ref: dict          # float64 referee
    probes: list       # [(float32 values, their float64 partner's values, scale)]
    flips: dict        # branch layer -> (count of elements where the referee took the manual side's branch
                       #   against its own decision, flat indices of the first few)

    def noise(self, key) -> float:
        """The rounding of this value in the run's dtype: the largest (scaled) probe distance."""
        return rounding([(values[key], partner[key], scale) for values, partner, scale in self.probes])

    def absolute_noise(self, key) -> float:
        """The rounding of this value as a distance (scale x ||value - partner||, the largest over the probes):
        for a value the referee computes as exactly 0, where a relative rounding means nothing."""
        return rounding([(values[key], partner[key], scale) for values, partner, scale in self.probes], _distance)

    @property
    def probe(self) -> dict:
        """The float32 probe's values from the step's own inputs."""
        return self.probes[0][0]


def rounding(probes, distance=None) -> float:
    """max over (value, its float64 partner, scale) of scale * ||value - partner|| / ||partner|| (or
    ``distance(value, partner)``), over the
    probes that measured something: a float32 probe that overflowed (parameters ~1e87 in a float64 run)
    gives NaN or Inf and is left out, so the others decide (NaN when none is finite: the row fails). Python's
    max over a NaN depended on the probes' order before (found by a config hunt: "allowed nan")."""
    found = [(distance or _rel)(value, partner) * scale for value, partner, scale in probes]
    finite = [f for f in found if np.isfinite(f)]
    return max(finite) if finite else float("nan")


def _distance(m, r) -> float:
    return float(np.linalg.norm(np.asarray(m, np.float64) - np.asarray(r, np.float64)))


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


def _cast(batch, dtype):
    """Float features in ``dtype``; integer token ids as they are."""
    a = np.asarray(batch)
    return a if np.issubdtype(a.dtype, np.integer) else np.asarray(a, dtype)


class Referee:
    def __init__(self, layers, config):
        self.config = config
        self.ref = TorchSide(layers, config, dtype="float64", keep=frozenset({"params"}))   # its update values
        self.probe = TorchSide(layers, config, dtype=PROBE, keep=frozenset({"params"}))
        self.probe_scale = EPS[config.dtype] / EPS[PROBE]
        self.eps = EPS[config.dtype]
        self.branch_layers = [s.name for s in layers if hasattr(s.kind.twin, "decide")]
        self.loss_twin = LOSSES[config.loss].twin            # svm's hinges are followed too
        self.last = layers[-1].name
        self.first = layers[0].name
        self.previous = {b.name: a.name for a, b in zip(layers, layers[1:])}

    def _taken(self, x, outputs: dict, y) -> dict:
        """Each branch layer's branches, decided from the manual side's input to it; a loss with branch
        points ("loss"), from the manual side's scores and the labels."""
        taken = {}
        if hasattr(self.loss_twin, "decide") and outputs.get(self.last) is not None:
            taken["loss"] = self.loss_twin.decide(torch.from_numpy(np.asarray(outputs[self.last], np.float64)),
                                                  torch.from_numpy(np.asarray(y)))
        for name in self.branch_layers:
            given = x if name == self.first else outputs.get(self.previous[name])
            if given is not None:
                module = self.ref.net.get_submodule(name)
                taken[name] = module.decide(torch.from_numpy(np.asarray(given, np.float64)))
        return taken

    def _flips(self, taken: dict, y) -> dict:
        flips = {}
        for name, chosen in taken.items():
            if name == "loss":
                own = self.loss_twin.decide(self.ref.net.outputs[self.last].detach(), torch.from_numpy(np.asarray(y)))
            else:
                own = self.ref.net.get_submodule(name).decide(self.ref.net.inputs[name].detach())
            differ = (own != chosen).flatten().nonzero().flatten()
            if len(differ):
                flips[name] = (int(len(differ)), differ[:8].tolist())
        return flips

    def _runs(self, before: dict, x, perturbed: int, permuted: bool = True, rounded: bool = False):
        """(side, dtype, state, batch, role) in order: the referee ("ref"), the probe from the same inputs
        ("probe"), then for each of ``perturbed`` shifted probes its float64 partner ("partner") and itself
        ("probe"), and with them (``permuted``) the referee again on the samples in another order
        ("permuted"). ``rounded``: instead, the referee again ROUNDED times with every operation rounded at
        random to the run's precision ("rounded")."""
        if rounded:
            self._draws = np.random.default_rng(1)        # their draws: one seeded stream per call
            for _ in range(ROUNDED):
                yield self.ref, np.float64, before, x, "rounded"
            return
        yield self.ref, np.float64, before, x, "ref"
        yield self.probe, np.dtype(PROBE), before, x, "probe"
        rng = np.random.default_rng(0)
        for _ in range(perturbed):
            state, batch = perturb(before, SHIFT, rng), perturb(x, SHIFT, rng)
            yield self.ref, np.float64, state, batch, "partner"
            yield self.probe, np.dtype(PROBE), state, batch, "probe"
        if perturbed and permuted:
            yield self.ref, np.float64, before, x, "permuted"

    def _collect(self, runs, flips: dict, previous: "Recomputed | None" = None) -> Recomputed:
        """The Recomputed of (role, values) in _runs' order: the referee and [(probe values, partner values,
        scale)]; the permuted and the randomly rounded referee are probes of the referee itself, at scale 1
        (their rounding is in the run's units already). With ``previous``, the runs (rounded) join its probes."""
        if previous is not None:
            return Recomputed(previous.ref, previous.probes + [(values, previous.ref, 1.0) for _, values in runs],
                              previous.flips)
        ref, partner, probes = None, None, []
        for role, values in runs:
            if role == "ref":
                ref = partner = values
            elif role == "partner":
                partner = values
            elif role in ("permuted", "rounded"):
                probes.append((values, ref, 1.0))
            else:
                probes.append((values, partner, self.probe_scale))
        return Recomputed(ref, probes, flips)

    def _order(self, n: int, training: bool = True):
        """The permuted step's order of ``n`` samples, or None when it cannot be taken: fewer than 2
        samples, or (``training``) a dropout mask drawn for this step whose first axis is not the samples'."""
        masks = self._masks() if training else []
        if n < 2 or any(m.mask.ndim == 0 or len(m.mask) != n for m in masks):
            return None
        return np.arange(n)[::-1].copy()         # reversed: never the identity (a seeded draw was, for n = 2-4)

    def _arithmetic(self, role: str):
        """For a "rounded" run, every operation of the referee's float64 step rounded at random to the run's
        precision (the next draws of this call's seeded stream); for the others, plain float arithmetic."""
        return RandomRounding(self.eps, self._draws) if role == "rounded" else contextlib.nullcontext()

    def _masks(self) -> list:
        """The dropout masks of this step (manual.DropoutMask, shared by every side of the spec)."""
        return [m.source for m in self.ref.net.modules()
                if getattr(getattr(m, "source", None), "mask", None) is not None]

    def _in_order(self, order, run, y, taken, training: bool = True):
        """``run(y, taken)`` with the samples in ``order``: labels, branches and (``training``) this step's
        dropout masks reordered; also the order that puts per-sample values back in the batch's order."""
        masks = self._masks() if training else []
        kept = [m.mask for m in masks]
        try:
            for m in masks:
                m.mask = m.mask[order]
            result = run(np.asarray(y)[order], {k: v[torch.from_numpy(order)] for k, v in taken.items()})
        finally:
            for m, mask in zip(masks, kept):
                m.mask = mask
        back = np.argsort(order)
        return result, back

    def step(self, before: dict, x: np.ndarray, y: np.ndarray, manual_outputs: dict,
             perturbed: int = PERTURBED, previous: Recomputed | None = None) -> Recomputed:
        """``before``: the manual state the step started from: {"params", "buffers", "state"} (state in
        the manual side's units). ``manual_outputs``: the manual side's layer outputs in this step (one
        left out, written over in place, leaves the branches it decides to the referee). ``perturbed``: how
        many shifted probes (0: the probe from the step's own inputs alone; with them, the permuted referee).
        ``previous``: this step's Recomputed with every probe; then only the randomly rounded runs are made,
        and join its probes (the third stage, Lockstep.refereed)."""
        taken = self._taken(x, manual_outputs, y)
        order = self._order(len(x)) if perturbed and previous is None else None
        runs, flips = [], {}
        for side, dtype, state, batch, role in self._runs(before, x, perturbed, order is not None,
                                                          rounded=previous is not None):
            side.load(state["params"], state["buffers"], state["state"], before.get("step"))
            batch = _cast(batch, dtype)
            if role == "permuted":
                (loss, scores), back = self._in_order(
                    order, lambda labels, branches: side.train_step(batch[order], labels, taken=branches), y, taken)
            else:
                with self._arithmetic(role):
                    loss, scores = side.train_step(batch, y, taken=taken)
            values = {("loss", ""): loss, ("scores", ""): scores}
            values.update({("out", k): v for k, v in side.outputs.items()})
            values.update({("dx", k): v for k, v in side.input_grads.items()})
            values.update({("grad", k): v for k, v in side.grads.items()})
            values.update({("update", k): side.params[k] - side.before[k] for k in side.params})
            values.update({("state", k): v for k, v in side.state_values().items()})
            values.update({("buffer", k): v.copy() for k, v in side.buffers.items()})
            if role == "ref":
                flips = self._flips(taken, y)
            if role == "permuted":
                values = _back_in_order(values, back)
            runs.append((role, values))
        return self._collect(runs, flips, previous)

    def update(self, before: dict, grads: dict, perturbed: int = PERTURBED, keys=None,
               previous: Recomputed | None = None) -> Recomputed:
        """The update stage alone: the twin's optimizer stepping from the manual side's state with the manual
        side's own gradients (what its update was given; the gradients are judged by their own rows), in
        float64, and its probes from the same and from shifted state and gradients. For a step whose rows
        before the update all passed: an optimizer step instead of a forward and backward pass (Adam's
        m̂/sqrt(v̂) and p_after - p_before's cancellation send update rows here in float32).
        ``perturbed``: how many shifted probes, as in ``step``. ``keys``: the (quantity, name) values to
        give (the rows to rejudge; None: every update and state value): the step is the same, the
        values no row asks for are not built. ``previous``: as in ``step``."""
        def wanted(key):
            return keys is None or key in keys
        runs = []
        for side, dtype, state, g, role in self._runs(before, grads, perturbed, permuted=False,
                                                      rounded=previous is not None):
            side.load(state["params"], state["buffers"], state["state"], before.get("step"))
            with self._arithmetic(role):
                side.update_only({k: np.asarray(v, dtype) for k, v in g.items()})
            values = {("update", k): side.params[k] - side.before[k] for k in side.params if wanted(("update", k))}
            if keys is None or any(q == "state" for q, _ in keys):
                values.update({("state", k): v for k, v in side.state_values().items() if wanted(("state", k))})
            runs.append((role, values))
        return self._collect(runs, {}, previous)

    def evaluate(self, params: dict, buffers: dict, x: np.ndarray, y: np.ndarray, manual_outputs: dict,
                 perturbed: int = PERTURBED, previous: Recomputed | None = None) -> Recomputed:
        taken = self._taken(x, manual_outputs, y)
        order = self._order(len(x), training=False) if perturbed and previous is None else None
        runs = []
        for side, dtype, state, batch, role in self._runs({"params": params, "buffers": buffers, "state": {}}, x,
                                                          perturbed, order is not None, rounded=previous is not None):
            side.load(state["params"], state["buffers"])
            batch = _cast(batch, dtype)
            if role == "permuted":
                (loss, scores), back = self._in_order(
                    order, lambda labels, branches: side.evaluate(batch[order], labels, taken=branches), y, taken,
                    training=False)
                scores = scores[back]
            else:
                with self._arithmetic(role):
                    loss, scores = side.evaluate(batch, y, taken=taken)
            runs.append((role, {("loss", ""): loss, ("scores", ""): scores}))
        return self._collect(runs, {}, previous)


def _back_in_order(values: dict, back: np.ndarray) -> dict:
    """The permuted step's values with the samples in the batch's order again (BATCHED quantities)."""
    return {key: np.asarray(v)[back] if key[0] in BATCHED else v for key, v in values.items()}


def near_ties(recomputed: Recomputed, pred_m, pred_t, factor: float, floor: float,
              threshold: float | None = None) -> int:
    """How many samples predicted differently are near-ties of the referee: the referee's scores of
    the two classes differ by no more than ``factor`` x the probes' greatest score error on that
    sample (scaled) + ``floor`` x the sample's greatest score. A one-output (binary) prediction is a
    tie between its score and the ``threshold`` it is compared with."""
    differ = np.flatnonzero(pred_m != pred_t)
    if not len(differ):
        return 0

    def two_class(scores):
        s = np.asarray(scores, np.float64)
        return np.concatenate([np.full_like(s, threshold), s], axis=1) if s.shape[1] == 1 else s
    ref = two_class(recomputed.ref[("scores", "")])[differ]
    noise = np.max([np.abs(two_class(values[("scores", "")])[differ] - two_class(partner[("scores", "")])[differ])
                    .max(axis=1) * scale for values, partner, scale in recomputed.probes], axis=0)
    rows = np.arange(len(differ))
    gap = np.abs(ref[rows, pred_m[differ]] - ref[rows, pred_t[differ]])
    return int(np.count_nonzero(gap <= factor * noise + floor * np.abs(ref).max(axis=1)))

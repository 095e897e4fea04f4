"""The pass rule: one Row per comparison, its CSV fields, and its failure message.

Gated metric per quantity (``Row.metric``):
  loss           rel    |m - r| / |r|
  accuracy       abs    |acc_m - acc_r|, allowed ceil(fraction * N) / N
  disagreements  count  samples whose predicted class differs, allowed ceil(fraction * N)
  grad, param, momentum
                 rel_l2  ||m - r|| / ||r||   (manual/reference columns hold the norms)
A row passes when its gated metric <= tolerance.
"""
import math
from typing import NamedTuple

import numpy as np

from comparisons.check.metrics import count_differing, scalar_diff, tensor_diff

GATED_METRIC = {"loss": "rel", "accuracy": "abs", "disagreements": "count",
                "grad": "rel_l2", "param": "rel_l2", "momentum": "rel_l2"}


class Row(NamedTuple):
    """One comparison: its fields are the columns of steps.csv. A named tuple rather than
    a frozen dataclass: 15 of them are made per step, at 0.4 us each instead of 6 us."""
    step: int            # optimizer steps taken so far (0 = before training)
    epoch: int           # 1-based epoch of the step; for evaluations, epochs completed
    phase: str           # step (one training step's batch) | train | valid | test (epoch-end evaluation)
    quantity: str        # loss | accuracy | disagreements | grad | param | momentum
    name: str            # parameter name for tensors, "" for scalars
    manual: float        # scalar value, or the tensor's L2 norm; for disagreements the count
    reference: float     # torch's value or norm; for disagreements the number of samples
    abs_diff: float      # |m - r|; for tensors the greatest elementwise |m - r|
    rel_diff: float      # the relative difference: rel_l2 for tensors, count/samples for disagreements
    cosine: float        # tensors only (NaN for scalars)
    scale: float         # tensors only: <m, r> / <r, r>
    argmax: str          # tensors only: index of the greatest |m - r|
    metric: str          # which difference is gated: rel | abs | count | rel_l2
    tolerance: float     # the largest gated value allowed
    passed: bool

    @property
    def value(self) -> float:
        """The gated value."""
        return self.abs_diff if self.metric in ("abs", "count") else self.rel_diff


COLUMNS = list(Row._fields)


def where(step: int, epoch: int, phase: str) -> str:
    return f"step {step}" if phase == "step" else f"epoch {epoch} > {phase}"


def _passes(value: float, tolerance: float) -> bool:
    return bool(value <= tolerance)   # NaN never passes


def check_scalar(step, epoch, phase, quantity, m: float, r: float, tolerance: float) -> tuple[Row, str | None]:
    d = scalar_diff(m, r)
    metric = GATED_METRIC[quantity]
    value = d.rel_diff if metric == "rel" else d.abs_diff
    row = Row(step, epoch, phase, quantity, "", d.manual, d.reference, d.abs_diff, d.rel_diff,
              math.nan, math.nan, "", metric, tolerance, _passes(value, tolerance))
    if row.passed:
        return row, None
    return row, (f"{where(step, epoch, phase)} > {quantity}: {metric} diff {value:.1e} "
                 f"(allowed {tolerance:.1e}), manual {m:.6g}, reference {r:.6g}")


def allowed_flips(fraction: float, n: int) -> int:
    """Samples allowed to change predicted class: near-ties flip under rounding alone."""
    return math.ceil(fraction * n)


def check_predictions(step, epoch, phase, pred_m: np.ndarray, pred_r: np.ndarray, y: np.ndarray,
                      tol_accuracy: float, tol_disagreements: float) -> list[tuple[Row, str | None]]:
    """Accuracy of both sides and the count of samples whose predicted class differs."""
    n = len(y)
    accuracy = check_scalar(step, epoch, phase, "accuracy", float(np.mean(pred_m == y)),
                            float(np.mean(pred_r == y)), allowed_flips(tol_accuracy, n) / n)
    count = int(np.count_nonzero(pred_m != pred_r))
    allowed = allowed_flips(tol_disagreements, n)
    row = Row(step, epoch, phase, "disagreements", "", count, n, count, count / n,
              math.nan, math.nan, "", "count", allowed, count <= allowed)
    message = None if row.passed else (
        f"{where(step, epoch, phase)} > disagreements: {count}/{n} samples predicted differently "
        f"(allowed {allowed})")
    return [accuracy, (row, message)]


def check_tensor(step, epoch, phase, quantity, name, m: np.ndarray, r: np.ndarray, tolerance: float,
                 elementwise: tuple[float, float], r_scale: float = 1.0) -> tuple[Row, str | None]:
    """Compare m with r_scale * r. ``elementwise`` = (rtol, atol) defines which
    elements "differ", for the failure message only."""
    d = tensor_diff(m, r, r_scale)
    row = Row(step, epoch, phase, quantity, name, d.manual_norm, d.reference_norm, d.max_abs_diff,
              d.rel_l2, d.cosine, d.scale, str(d.argmax), "rel_l2", tolerance, _passes(d.rel_l2, tolerance))
    if row.passed:
        return row, None
    differ = count_differing(m, r * r_scale, *elementwise)
    return row, (f"{where(step, epoch, phase)} > {quantity} > {name}: rel_l2 {d.rel_l2:.1e} "
                 f"(allowed {tolerance:.1e}), {differ}/{m.size} elements differ, "
                 f"greatest abs diff {d.max_abs_diff:.1e} at {d.argmax}")

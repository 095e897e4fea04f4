"""Every tolerance of the pass rule, in one table keyed by (dtype, mode).

PLACEHOLDER: calibrated from measurements below.
"""
from dataclasses import dataclass, replace

from comparisons.config import Config


@dataclass(frozen=True)
class Tolerances:
    loss: float
    accuracy: float
    disagreements: float
    grad: float
    param: float
    momentum: float
    elementwise: tuple[float, float]   # (rtol, atol): which elements "differ", for messages only


TABLE = {
    ("float64", "synced"): Tolerances(1e-6, 1, 1, 1e-6, 1e-6, 1e-6, (1e-7, 1e-7)),
    ("float64", "free"): Tolerances(1e-6, 1, 1, 1e-6, 1e-6, 1e-6, (1e-7, 1e-7)),
    ("float32", "synced"): Tolerances(1, 1, 1, 1, 1, 1, (1.3e-6, 1e-5)),
    ("float32", "free"): Tolerances(1, 1, 1, 1, 1, 1, (1.3e-6, 1e-5)),
}


def tolerances_for(config: Config) -> Tolerances:
    """The table's entry for the config's dtype and mode, with its ``tol`` overrides applied."""
    return replace(TABLE[(config.dtype, config.mode)], **dict(config.tol))

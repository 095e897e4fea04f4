"""What a run found, as the dict written to summary.json."""
import math
import platform
import sys
from importlib import metadata

import numpy as np
import torch

SCHEMA_VERSION = 1


class Tracker:
    """Follows the checks as they come: first failure, worst gated value per quantity,
    seconds spent per side, and the last evaluation of both sides per split."""

    def __init__(self):
        self.first_failure: dict | None = None
        self.stopped: str | None = None          # why the run ended early (a NaN/Inf), if it did
        self.worst: dict[str, dict] = {}         # judged rows: per quantity, the one that used most of its allowance
        self.drift: dict[str, dict] = {}         # drift rows (free mode): per quantity, the greatest difference
        self.seconds = {"manual": 0.0, "torch": 0.0, "compare": 0.0}
        self.final: dict[str, dict] = {}

    def add(self, results) -> None:
        for row, message in results:
            if row.rule == "check":      # pass/fail checks (the run trained) have no allowance to use
                if message and self.first_failure is None:
                    self.first_failure = {"step": row.step, "epoch": row.epoch, "phase": row.phase,
                                          "quantity": row.quantity, "name": row.name, "message": message}
                continue
            table = self.worst if row.track == "judged" else self.drift
            if _worse(row, table.get(row.quantity)):
                table[row.quantity] = {"value": row.value, "tolerance": row.tolerance, "metric": row.metric,
                                       "rule": row.rule, "step": row.step, "phase": row.phase, "name": row.name,
                                       "samples": row.reference if row.quantity == "disagreements" else None,
                                       **({"yours": row.yours} if row.yours else {})}
            if message and self.first_failure is None:
                self.first_failure = {"step": row.step, "epoch": row.epoch, "phase": row.phase,
                                      "quantity": row.quantity, "name": row.name, "message": message,
                                      **({"yours": row.yours} if row.yours else {})}

    def fail_nonfinite(self, step: int, error: Exception) -> None:
        """A NaN/Inf ends the run: always reported as the stop, and as the first failure unless one came
        at an earlier step (a NaN also fails its step's checks: the non-finite message says it better)."""
        self.stopped = str(error)
        if self.first_failure is None or self.first_failure["step"] >= step:
            _, epoch, phase = getattr(error, "where", None) or (step, None, "step")
            self.first_failure = {"step": step, "epoch": None if phase == "step" else epoch, "phase": phase,
                                  "quantity": "nonfinite", "name": "", "message": str(error)}


def _usage(value: float, tolerance: float) -> tuple[float, float]:
    """How much of its allowance a value uses; NaN ranks above everything."""
    if math.isnan(value):
        return (math.inf, math.inf)
    share = value / tolerance if 0 < tolerance < math.inf else (math.inf if value > tolerance else 0.0)
    return (share, value)


def _worse(row, worst: dict | None) -> bool:
    """Is ``row`` closer to failing than the worst so far (for drift rows: further apart)? Among equals
    the first is kept."""
    if worst is None:
        return True
    if row.track == "drift":
        return _usage(row.value, 1.0) > _usage(worst["value"], 1.0)
    return _usage(row.value, row.tolerance) > _usage(worst["value"], worst["tolerance"])


def versions() -> dict:
    def version(dist):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None
    return {"lockstep": version("lockstep"), "python": sys.version.split()[0], "numpy": np.__version__,
            "torch": torch.__version__, "pandas": version("pandas"), "platform": platform.platform(),
            "torch_threads": torch.get_num_threads()}


def build_summary(config, data, status: str, tracker: Tracker, steps: int, diagnosis: dict | None = None) -> dict:
    return {
        "schema_version": SCHEMA_VERSION,
        "passed": status == "passed",
        "status": status,
        "first_failure": tracker.first_failure,
        "stopped": tracker.stopped,
        "diagnosis": diagnosis,
        "steps": steps,
        "final": tracker.final,
        "worst": tracker.worst,
        "drift": tracker.drift,
        "seconds": {k: round(v, 3) for k, v in tracker.seconds.items()},
        "config": config.to_dict(),
        "data": {"name": data.name, **{k: len(s.y) for k, s in data.splits().items()}},
        "versions": versions(),
    }

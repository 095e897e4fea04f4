"""Train both sides on the same batches and compare them at every step.

config -> shared init -> (manual, torch) steps -> checks -> record -> RunResult
"""
import math
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from comparisons.check import rules as checks
from comparisons.sides.byo import load_class
from comparisons.config import Config
from comparisons.data import Dataset, load_data, validate
from comparisons.errors import NonFiniteError
from comparisons.explain.diagnosis import describe_loss, diagnose_step, diagnosis_text
from comparisons.record.atomic import write_atomic
from comparisons.record.recorder import DIAGNOSIS, SUMMARY, Recorder, prepare_out, write_json_atomic
from comparisons.explain.referee import reference_step
from comparisons.sides.shared_init import make_sides
from comparisons.record.summary import Tracker, build_summary
from comparisons.check.tolerances import tolerances_for


@dataclass(frozen=True)
class RunResult:
    status: str                 # passed | failed | interrupted
    first_failure: dict | None  # {step, epoch, phase, quantity, name, message}
    frame: pd.DataFrame         # every Row, the content of steps.csv
    summary: dict               # the content of summary.json
    out: Path | None

    @property
    def passed(self) -> bool:
        return self.status == "passed"


def _batches(n: int, batch_size: int, rng: np.random.Generator):
    """Index arrays of one epoch: one slice (full batch) or a seeded permutation cut in batches."""
    if batch_size == 0 or batch_size >= n:
        yield slice(None)
        return
    order = rng.permutation(n)
    for i in range(0, n, batch_size):
        yield order[i:i + batch_size]


class Lockstep:
    """Both sides, their tolerances, and what the checks have found so far."""

    def __init__(self, config: Config, data: Dataset, manual_loss=None):
        self.config, self.data = config, data
        self.recorder: Recorder | None = None    # set by run() once the output directory is prepared
        self.tol_run = tolerances_for(config)
        # Both sides start from one state: the epoch-0 evaluation and step 1 measure a
        # single step's error even in free mode, so they are held to the synced tolerances.
        self.tol_start = tolerances_for(replace(config, mode="synced"))
        sizes = (data.n_features, *config.hidden, data.n_classes)
        init_rng, self.order_rng = np.random.default_rng(config.seed).spawn(2)
        probe = (data.train.x[:2], data.train.y[:2])
        self.manual, self.ref = make_sides(sizes, config, init_rng, loss=manual_loss, probe=probe)
        self.tracker = Tracker()
        self.step = 0
        self.snapshot = None        # the manual state before the current step, kept until a step fails
        self.failed_step = None     # {"step", "x", "y", "snapshot"} of the first step with a failed check
        self.failed_eval = None     # the first failed evaluation row

    def train(self, bar) -> None:
        self.evaluate(epoch=0)
        for epoch in range(1, self.config.epochs + 1):
            for idx in _batches(len(self.data.train.y), self.config.batch_size, self.order_rng):
                self.train_step(epoch, self.data.train.x[idx], self.data.train.y[idx])
                bar.update()
                if self.config.fail_fast and self.tracker.first_failure:
                    return
            self.evaluate(epoch)

    def train_step(self, epoch: int, x: np.ndarray, y: np.ndarray) -> None:
        self.step += 1
        m, r, seconds = self.manual, self.ref, self.tracker.seconds
        if self.failed_step is None:     # for diagnosis: the state this step starts from (~0.3 ms at 784-1000-10)
            self.snapshot = m.snapshot(into=self.snapshot)
        t0 = time.perf_counter()
        loss_m, logits_m = m.step(x, y)
        t1 = time.perf_counter()
        loss_r, logits_r = r.step(x, y)
        t2 = time.perf_counter()
        tol = self.tol_start if self.step == 1 else self.tol_run
        results = (_outputs_rows(self.step, epoch, "step", loss_m, loss_r, logits_m, logits_r, y, tol)
                   + _state_rows(self.step, epoch, m, r, tol))
        if self.failed_step is None and any(message for _, message in results):
            self.failed_step = {"step": self.step, "x": x, "y": y, "snapshot": self.snapshot}
        self.record(results)
        if self.config.mode == "synced":
            r.sync_from(m.params, m.velocity())
        seconds["manual"] += t1 - t0
        seconds["torch"] += t2 - t1
        seconds["compare"] += time.perf_counter() - t2

    def evaluate(self, epoch: int) -> None:
        """Loss, accuracy and disagreements of both sides on every split."""
        tol = self.tol_start if self.step == 0 else self.tol_run
        for phase, split in self.data.splits().items():
            loss_m, logits_m = self.manual.evaluate(split.x, split.y)
            loss_r, logits_r = self.ref.evaluate(split.x, split.y)
            self.tracker.final[phase] = {"manual": _metrics(loss_m, logits_m, split.y),
                                         "torch": _metrics(loss_r, logits_r, split.y)}
            results = _outputs_rows(self.step, epoch, phase, loss_m, loss_r, logits_m, logits_r, split.y, tol)
            if self.failed_eval is None:
                self.failed_eval = next((row for row, message in results if message), None)
            self.record(results)

    def diagnose(self) -> dict | None:
        """Explain the first failed step (replaying it on the manual side), or say that only
        evaluations failed. Call after training: the replay changes the manual side's state."""
        if self.failed_step is None:
            first = self.tracker.first_failure
            if not first or first["quantity"] == "nonfinite":
                return None
            where = f"epoch {first['epoch']} > {first['phase']}"
            if self.config.mode == "free" and first["step"] > 1:
                finding = ("every training step passed; only end-of-epoch evaluations failed: the two "
                           "trajectories drifted apart")
            else:
                finding = "every training step passed; an evaluation from a shared state failed"
            row = self.failed_eval
            if row is not None and row.quantity == "loss":
                named = describe_loss(row.manual, row.reference, "mean", len(self.data.splits()[row.phase].y),
                                      self.data.n_classes)
                finding += f"; {named}" if named else ""
            return {"where": where, "first_divergence": f"{where} > {first['quantity']}", "findings": [finding],
                    "kink_flips": None}
        f = self.failed_step
        try:
            self.manual.restore(f["snapshot"])
            replay = self.manual.replay(f["x"], f["y"])
            replay["step"] = f["step"]
            same = reference_step(f["snapshot"]["params"], f["x"], f["y"], self.config.reduction,
                                  dtype=np.dtype(self.config.dtype))
            return diagnose_step(replay, f["snapshot"], f["x"], f["y"], self.config, same,
                                 where=f"step {f['step']}").to_dict()
        except Exception as e:   # noqa: BLE001 - the record must survive a failing diagnosis; say so
            return {"where": f"step {f['step']}", "first_divergence": "", "kink_flips": None,
                    "findings": [f"diagnosis failed: {type(e).__name__}: {e}"]}

    def record(self, results) -> None:
        rows = [row for row, _ in results]
        self.recorder.add(rows)
        self.tracker.add(results)
        _raise_if_nonfinite(rows)


def run(config: Config, data: Dataset | None = None, out: str | Path | None = None, *,
        overwrite: bool = False, progress: bool = False, manual_loss=None) -> RunResult:
    """Train the manual and torch sides in lockstep and check every step.

    ``data`` replaces ``config.data`` (the dataset the config names) when given.
    Raises InputError (before any work) for a bad config, data or output directory.
    A NaN/Inf during the run ends it with status "failed" and the first
    non-finite step, tensor and side as the first failure.
    """
    config.validate()
    if config.manual != "builtin":
        load_class(config.manual)          # a bad --manual is bad input: refuse it before loading data
    data = (data if data is not None else load_data(config.data)).astype(np.dtype(config.dtype))
    validate(data)
    lockstep = Lockstep(config, data, manual_loss)   # builds both sides: a bad manual class is refused here
    out = Path(out) if out is not None else None
    if out is not None:
        prepare_out(out, overwrite)
    recorder = lockstep.recorder = Recorder(out)
    n_steps = config.epochs * sum(1 for _ in _batches(len(data.train.y), config.batch_size, np.random.default_rng()))
    status = "failed"
    with (np.errstate(over="ignore", invalid="ignore", divide="ignore"),   # NaN/Inf are checked per step
          tqdm(total=n_steps, disable=not (progress and sys.stderr.isatty()), unit="step", leave=False) as bar):
        try:
            lockstep.train(bar)
            status = "failed" if lockstep.tracker.first_failure else "passed"
        except KeyboardInterrupt:
            status = "interrupted"
        except NonFiniteError as e:
            lockstep.tracker.fail_nonfinite(lockstep.step, e)
        finally:
            recorder.close()
            diagnosis = lockstep.diagnose() if status == "failed" else None
            summary = build_summary(config, data, status, lockstep.tracker, lockstep.step, diagnosis)
            if out is not None:
                if diagnosis:
                    write_atomic(out / DIAGNOSIS, diagnosis_text(diagnosis) + "\n")
                write_json_atomic(out / SUMMARY, summary)
    return RunResult(status, lockstep.tracker.first_failure, recorder.frame(), summary, out)


def _metrics(loss: float, logits: np.ndarray, y: np.ndarray) -> dict:
    return {"loss": loss, "accuracy": float(np.mean(logits.argmax(axis=1) == y))}


def _outputs_rows(step, epoch, phase, loss_m, loss_r, logits_m, logits_r, y, tol):
    """Loss, accuracy and prediction disagreements of one batch or split."""
    return [checks.check_scalar(step, epoch, phase, "loss", loss_m, loss_r, tol.loss),
            *checks.check_predictions(step, epoch, phase, logits_m.argmax(axis=1), logits_r.argmax(axis=1), y,
                                      tol.accuracy, tol.disagreements)]


def _state_rows(step, epoch, manual, ref, tol):
    """Every parameter's gradient, value after the update, and velocity (torch's: lr * buffer;
    skipped when a bring-your-own manual side keeps its optimizer state to itself)."""
    buffers, lr = ref.velocity_scaled()
    velocity = manual.velocity()
    compared = [("grad", manual.grads, ref.grads, 1.0), ("param", manual.params, ref.params, 1.0)]
    if velocity is not None:
        compared.append(("momentum", velocity, buffers, lr))
    results = []
    for quantity, m, r, scale in compared:
        for name in m:
            results.append(checks.check_tensor(step, epoch, "step", quantity, name, m[name], r[name],
                                               getattr(tol, quantity), tol.elementwise, scale))
    return results


def _raise_if_nonfinite(rows) -> None:
    """Stop at the first loss or tensor (in recording order) that is NaN/Inf on either side."""
    for row in rows:
        if row.quantity in ("accuracy", "disagreements"):
            continue
        sides = [side for side, v in (("manual", row.manual), ("torch", row.reference)) if not math.isfinite(v)]
        if sides:
            what = row.quantity + (f" > {row.name}" if row.name else "")
            raise NonFiniteError(f"{checks.where(row.step, row.epoch, row.phase)} > {what}: "
                                 f"non-finite on the {' and '.join(sides)} side{'s' if len(sides) > 1 else ''}")

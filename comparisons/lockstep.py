"""Train both sides on the same batches and compare them at every step.

config -> spec -> shared init -> (manual, torch) steps -> checks -> record -> RunResult

Torch runs as a *judge*: before every step it takes the manual side's state,
so each step is judged from one starting state in both modes. In free mode a
second torch twin trains on its own from the shared init: the *drift* rows
compare the two trajectories (recorded, not gated).
"""
import math
import re
import sys
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from comparisons import heartbeat, interrupts, memory, spec
from comparisons.check import rules
from comparisons.check.rules import Row
from comparisons.config import Config
from comparisons.data import Dataset, load_data, validate
from comparisons.errors import InputError, NonFiniteError, RecordWriteError, UserCodeError, setting
from comparisons.registry import LOSSES, optimizer_args
from comparisons.explain.diagnosis import diagnose_step, diagnosis_text
from comparisons.explain.referee import PERTURBED, Referee, near_ties
from comparisons.record import failure_array
from comparisons.record.atomic import write_atomic
from comparisons.record.outdir import OutDir, ended, write_summary
from comparisons.record.recorder import DIAGNOSIS, STEPS, SUMMARY, Recorder
from comparisons.record.summary import Tracker, build_summary
from comparisons.sides import shared_init
from comparisons.sides.builtin import ManualSide
from comparisons.sides.byo import ByoSide, absolute, declared, load_class
from comparisons.sides.torch_side import TorchSide

with warnings.catch_warnings():   # without ipywidgets tqdm.auto is the text bar, which a notebook shows too;
    warnings.filterwarnings("ignore", "IProgress not found")     # its warning would ask a student to upgrade
    from tqdm.auto import tqdm


# Rows of the update stage: when they are the only ones the direct rule did not pass, and the optimizer's update
# is linear in the gradient (registry.Optimizer.linear_in_gradient), the referee recomputes the optimizer step
# alone from the manual side's own gradients (Referee.update), not the whole step; a row that this does not
# pass goes to the whole step's referee, whose verdict stands.
UPDATE_STAGE = {"update", "state"}


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

    def __repr__(self) -> str:
        """One line: the verdict (the first failure's message when it failed) and the record's place."""
        from comparisons.report.sections import verdict
        where = f", out={str(self.out)!r}" if self.out is not None else ""
        return f"RunResult({verdict(self.summary)!r}, steps={self.summary.get('steps')}{where})"

    def _repr_html_(self) -> str:
        """In a notebook: the verdict, the diagnosis (the cause), the worst difference per quantity and, for a
        run written to ``out``, the report's figures."""
        import html

        from comparisons.report.sections import diagnosis, worst_table
        from comparisons.report.tables import to_html
        from comparisons.report.write import figures_html, head_html
        lines = "".join(f"<li>{html.escape(line)}</li>" for line in diagnosis(self.summary))
        found = f"<p>Diagnosis</p><ul>{lines}</ul>" if lines else ""
        record = f"<p>record: <code>{html.escape(str(self.out))}</code></p>" if self.out is not None else ""
        drawn = figures_html(self.out) if self.out is not None else ""
        drawn = f"<details open><summary>Figures</summary>{drawn}</details>" if drawn else ""
        return (f"<div>{head_html(self.summary)}{found}{to_html(worst_table(self.summary), level=4)}{record}"
                f"{drawn}</div>")


class Pair(NamedTuple):
    """One tensor a step compares: the manual array against ``scale`` x the torch array, or, with a
    ``base`` (an update), manual - base against torch - base (rules.tensor_row walks the three arrays
    once; neither update array is built)."""
    quantity: str
    name: str
    manual: np.ndarray
    torch: np.ndarray
    scale: float = 1.0
    base: np.ndarray | None = None

    def manual_value(self) -> np.ndarray:
        return self.manual if self.base is None else self.manual - self.base

    def torch_value(self) -> np.ndarray:
        return (self.torch if self.scale == 1.0 else self.torch * self.scale) if self.base is None \
            else self.torch - self.base


class LazyValues(Mapping):
    """The manual values of a step, keyed (quantity, name), for the readers of a failing step (the
    referee's rejudging, messages, the diagnosis). An update (manual - base) is built only when one
    of them asks for it: most steps pass, and nobody does."""

    def __init__(self, values: dict, lazy: dict):
        self.values, self.lazy = values, lazy      # lazy: key -> (function, arguments)

    def __getitem__(self, key):
        if key not in self.values:
            fn, args = self.lazy[key]        # KeyError for a key of neither
            self.values[key] = fn(*args)
        return self.values[key]

    def __contains__(self, key) -> bool:
        return key in self.values or key in self.lazy

    def __iter__(self):
        return iter({**self.lazy, **self.values})

    def __len__(self) -> int:
        return len(self.lazy.keys() | self.values.keys())


def batches(n: int, batch_size: int, rng: np.random.Generator):
    """Index arrays of one epoch: one slice (full batch) or a seeded permutation cut in batches."""
    if batch_size == 0 or batch_size >= n:
        yield slice(None)
        return
    order = rng.permutation(n)
    for i in range(0, n, batch_size):
        yield order[i:i + batch_size]


class Lockstep:
    """The sides, the referee, and what the checks have found so far."""

    def __init__(self, config: Config, data: Dataset, manual_loss=None):
        self.config, self.data, self.dtype = config, data, config.dtype
        loss = LOSSES[config.loss]
        if loss.target != data.target:
            raise InputError(f"loss {config.loss} needs {loss.target} targets; the data {data.name} has "
                             f"{data.target} targets")
        self.predictor = loss.manual.predict          # class predictions from scores; None: regression
        self.layers = spec.parse(config.model or spec.mlp(config.hidden), data.sample_shape, data.n_outputs,
                                 ids=data.ids, out_shape=data.out_shape)
        self.sequence = data.target == "sequence"      # predictions per (sample, step), masked steps left out
        widest = max(len(s.y) for s in data.splits().values())     # evaluation, or a full batch
        activations, columns = memory.per_sample(self.layers, data.sample_shape)
        step = min(config.batch_size or len(data.train.y), len(data.train.y))        # samples in a training step
        memory.refuse_if_too_big(sum(s.size for s in self.layers), widest * activations, "this run",
                                 widest * columns, step * activations)
        init_rng, self.order_rng, mask_rng = np.random.default_rng(config.seed).spawn(3)
        # dropout masks: drawn on the NumPy side from the run's Generator, one per layer and step, and
        # shared by every side built from this spec (manual.DropoutMask in the layers' arguments)
        self.masks = [s.kwargs["mask"] for s in self.layers if "mask" in s.kwargs]
        for mask in self.masks:
            mask.rng = mask_rng
        _check_batches(self.layers, data, config.batch_size)
        if config.manual == "builtin":
            self.manual = ManualSide(self.layers, config, loss=manual_loss)
        else:
            self.manual = ByoSide(load_class(config.manual), self.layers, config, probe=(data.train.x[:2], data.train.y[:2]))
        self.judge = TorchSide(self.layers, config)
        self.drift = TorchSide(self.layers, config, keep=frozenset()) if config.mode == "free" else None
        shared_init.write(shared_init.draw(self.layers, init_rng, config.dtype, config.init, config.init_bias),
                          *filter(None, (self.manual, self.judge, self.drift)))
        self.referee = Referee(self.layers, config)
        self.referee_runs = {"update": 0, "step": 0}     # the referee's update-stage and whole-step recomputations
        self.update_stage_alone = optimizer_args(config)[0].linear_in_gradient   # registry.Optimizer
        self.overrides = dict(config.tol)
        self.recorder: Recorder | None = None    # set by run() once the output directory is prepared
        self.tracker = Tracker()
        self.step = 0
        self.diagnosis: dict | None = None       # of the first failed training step, made when it fails
        self.failed_eval: Row | None = None      # the first failed evaluation row
        self.trained = {"grad": 0.0, "update": 0.0}   # greatest manual gradient and update norms seen
        self.previous: dict = {}                  # the manual values of the previous step
        self.handed_on: dict = {}      # this step's manual values written over in place ({"fc2.dx": "relu1.dx"})
        self.compared: dict = {}       # this step's arrays {(quantity, name): Pair}
        self.referee_values: dict = {}  # and the referee's, where it recomputed them: for first_failure.npz
        self.failure_arrays: bytes | None = None   # first_failure.npz (comparisons/record/failure_array.py)

    # --- training -----------------------------------------------------------------------------

    def train(self, bar) -> None:
        self.record(self.initial_rows())
        self.evaluate(epoch=0)
        for epoch in range(1, self.config.epochs + 1):
            for idx in batches(len(self.data.train.y), self.config.batch_size, self.order_rng):
                self.train_step(epoch, self.data.train.x[idx], self.data.train.y[idx])
                bar.update()
                if self.config.fail_fast and self.tracker.first_failure:
                    return
            self.evaluate(epoch)
        self.record(self.trained_rows(epoch=self.config.epochs))

    def train_step(self, epoch: int, x: np.ndarray, y: np.ndarray) -> None:
        self.step += 1
        beat = heartbeat.current     # containment: where the run is, for messages and the CLI's parent
        beat.at("step", self.step, epoch)
        m, j, seconds = self.manual, self.judge, self.tracker.seconds
        if self.step > 1:            # step 1 starts from the declared initial state (checked at step 0)
            j.load(m.params, m.buffers, m.state, self.step - 1)    # the judge starts from the manual side's
                                                                    # state, its schedule from the step number
        for mask in self.masks:
            mask.next_step()         # a new mask, drawn by the step's first forward and used by every side
        t0 = time.perf_counter()
        beat.calling("manual step")
        loss_m, scores_m = m.train_step(x, y)
        t1 = time.perf_counter()
        beat.calling("torch step")
        loss_t, scores_t = j.train_step(x, y)
        if self.drift is not None:
            loss_d, scores_d = self.drift.train_step(x, y)
        t2 = time.perf_counter()
        beat.calling("compare")
        where_ = (self.step, epoch, "step")
        results = self.judged_step(where_, x, y, loss_m, scores_m, loss_t, scores_t)
        if self.drift is not None:
            results += self.drift_rows(where_, loss_m, scores_m, loss_d, scores_d, y, state=True)
        self.record(results)
        seconds["manual"] += t1 - t0
        seconds["torch"] += t2 - t1
        seconds["compare"] += time.perf_counter() - t2

    def step_pairs(self) -> tuple[list, list]:
        """(forward, backward and update) Pairs of every tensor a step compares, in the order the
        step computes them: (quantity, name, manual array, torch array, torch scale, base)."""
        m, j = self.manual, self.judge
        over = self.written_over()
        forward = [("out", s.name, m.outputs[s.name], j.outputs[s.name], 1.0) for s in self.layers
                   if s.name in m.outputs and ("out", s.name) not in over]
        backward = [("dx", "loss", m.input_grads["loss"], j.input_grads["loss"], 1.0)] \
            if "loss" in m.input_grads and ("dx", "loss") not in over else []
        grads, dx, t_dx = m.grads, m.input_grads, j.input_grads
        for s in reversed(self.layers):
            backward += [("grad", k, grads[k], j.grads[k], 1.0) for k in grads if k.split(".", 1)[0] == s.name]
            if s.name in dx and s.name in t_dx and ("dx", s.name) not in over:   # torch: no dL/dx of the first layer
                backward.append(("dx", s.name, dx[s.name], t_dx[s.name], 1.0))
        if j.opt.scheduler is not None:     # the learning rate each side's update used (README "Optimizers")
            backward.append(("state", "lr", np.float64(m.opt.lr), np.float64(j.opt.used_lr), 1.0))
        backward += [("update", k, v, j.params[k], 1.0, j.before[k]) for k, v in m.params.items()]
        t_state = j.state
        backward += [("state", k, v if s == 1.0 else v * s, t_state[k][0], t_state[k][1])   # no copy at scale 1
                     for k, (v, s) in m.state.items() if k in t_state]
        backward += [("buffer", k, v, j.buffers[k], 1.0) for k, v in m.buffers.items()]
        return [Pair(*p) for p in forward], [Pair(*p) for p in backward]

    def written_over(self) -> dict:
        """The manual side's layer outputs and dL/dx that share memory with a value made after them
        (sides/aliasing.py) where torch's two values differ: that memory holds the later value now, so the
        earlier one is not compared (the later one is). {(part, layer): (part, later layer)}, the last such
        later value (the one the memory holds); ``handed_on`` names them for the diagnosis
        ({"fc2.dx": "relu1.dx"})."""
        torch_values = {"out": self.judge.outputs, "dx": self.judge.input_grads}
        found = {}
        for s in getattr(self.manual, "shared", []):        # in the order the values were made
            a, b = (torch_values[part].get(name) for part, name in (s.earlier, s.later))
            if a is not None and b is not None and s.differ(a, b):    # torch: no dL/dx of the first layer
                found[s.earlier] = s.later
        self.handed_on = {f"{name}.{part}": f"{later}.{later_part}"
                          for (part, name), (later_part, later) in found.items()}
        return found

    def own_outputs(self) -> dict:
        """The manual side's layer outputs this step, less those written over (``handed_on``): the referee
        follows the manual side's branches decided from them (a ReLU backward written over its kept input
        made conv1.out hold relu1.dx: the referee followed its signs and failed a correct run at step 1)."""
        return {k: v for k, v in self.manual.outputs.items() if f"{k}.out" not in self.handed_on}

    def judged_step(self, where_, x, y, loss_m, scores_m, loss_t, scores_t) -> list[tuple[Row, str | None]]:
        dtype, over = self.dtype, self.overrides
        pred_m, pred_t = self.predict(scores_m, y), self.predict(scores_t, y)
        forward, backward = self.step_pairs()

        def tensors(pairs):
            return [rules.tensor_row(where_, p.quantity, p.name, p.manual, p.torch, dtype, t_scale=p.scale,
                                     base=p.base, override=over.get(p.quantity)) for p in pairs]

        rows = [*tensors(forward), rules.scalar_row(where_, "loss", loss_m, loss_t, dtype, override=over.get("loss")),
                *self.counts(where_, pred_m, pred_t, y), *tensors(backward)]
        manual_values = LazyValues({("loss", ""): loss_m, **{(p.quantity, p.name): p.manual for p in forward + backward
                                                            if p.base is None}},
                                   {(p.quantity, p.name): (np.subtract, (p.manual, p.base)) for p in backward
                                    if p.base is not None})
        self.previous = self.previous_values()
        for row in rows:
            if row.quantity in self.trained and row.manual > self.trained[row.quantity]:
                self.trained[row.quantity] = row.manual
        recomputed = None
        failing = {r.quantity for r in rows if r.rule == "direct" and not r.passed}
        if failing and _finite(rows):
            j = self.judge
            before = {"params": j.before, "buffers": j.before_buffers, "state": j.before_state, "step": j.before_step}
            direct = rows

            def judge(recomputed):
                return self.rejudge(direct, manual_values, recomputed, pred_m, pred_t, y)
            if failing <= UPDATE_STAGE and self.update_stage_alone:   # every row before the update passed
                self.referee_runs["update"] += 1
                asked = {(r.quantity, r.name) for r in rows if r.rule == "direct" and not r.passed}
                recomputed, judged = self.refereed(
                    lambda k, previous=None: self.referee.update(before, self.manual.grads, k, keys=asked,
                                                                 previous=previous), judge)
                if all(r.passed for r in judged):
                    rows, failing = judged, None
            if failing:
                self.referee_runs["step"] += 1
                recomputed, rows = self.refereed(
                    lambda k, previous=None: self.referee.step(before, x, y, self.own_outputs(), k, previous), judge)
        results = self.with_messages(rows, manual_values, recomputed) + self.unmatched_state(where_, "state")
        if self.diagnosis is None and any(msg for _, msg in results):
            self.diagnosis = self.diagnose(where_, x, y, results, manual_values, recomputed)
        self.previous = manual_values       # for the diagnosis: a value may be the previous step's
        self.keep_arrays(forward + backward, recomputed)
        return results

    def previous_values(self) -> Mapping:
        """The previous step's manual values, for this step's diagnosis. Its updates, if nobody built them
        then, are built from what is left: the parameters it ended with are those the judge was loaded
        with for this step (``judge.before``, copied exactly from the manual side), and the arrays it
        started from were that step's ``judge.before`` (a new dict every step). Its other arrays are
        the manual side's, as they were kept before."""
        last = self.previous
        if not isinstance(last, LazyValues):
            return last
        after = self.judge.before
        lazy = {key: (np.subtract, (after[key[1]], args[1])) for key, (_, args) in last.lazy.items()
                if key not in last.values and key[0] == "update" and key[1] in after}
        return LazyValues(dict(last.values), lazy)

    def keep_arrays(self, pairs, recomputed) -> None:
        """Hold (no copy) the arrays the rows being recorded were computed from, until the next step."""
        self.compared = {(p.quantity, p.name): p for p in (Pair(*t) for t in pairs)}
        self.referee_values = recomputed.ref if recomputed is not None else {}

    def failed_arrays(self, failure: dict, rows) -> bytes | None:
        """first_failure.npz's content for the first failure, just recorded, when it is a tensor of these rows."""
        key = (failure["quantity"], failure["name"])
        row = next((r for r in rows if (r.quantity, r.name) == key and r.step == failure["step"]
                    and r.phase == failure["phase"]), None)
        if row is None or key not in self.compared:
            return None
        pair = self.compared[key]
        if row.rule == "referee" and key in self.referee_values:
            reference, against = self.referee_values[key], "float64 referee"
        else:
            reference, against = pair.torch_value(), "torch"
        return failure_array.encode(row.step, *key, pair.manual_value(), reference, against)

    @staticmethod
    def refereed(recompute, rejudge) -> tuple:
        """(recomputed, rows) decided by the referee, cheapest first: ``recompute(0)`` (the float64 referee
        and the probe from the step's own inputs), ``recompute(PERTURBED)`` (the shifted probes and the
        permuted referee) only when a row still fails, and then ``recompute(PERTURBED, recomputed)`` (the
        randomly rounded runs, joining those probes) only when a row still fails. A row's rounding is the
        largest over the probes, so a row that passes with some passes with all: the verdicts are those of
        every probe, and a passing step costs 2 recomputations instead of 2 + 2 x PERTURBED + 1 + ROUNDED
        (docs/benchmarks.md, group zoo). A passing row records the rounding of the probes that ran."""
        recomputed = recompute(0)
        rows = rejudge(recomputed)
        for more in (lambda: recompute(PERTURBED), lambda: recompute(PERTURBED, recomputed)):
            if all(r.passed for r in rows):
                break
            recomputed = more()
            rows = rejudge(recomputed)
        return recomputed, rows

    def rejudge(self, rows, manual_values, recomputed, pred_m, pred_t, y=None) -> list[Row]:
        """Rows the direct rule did not pass, decided by the referee."""
        out = []
        explained = 0 if pred_m is None else near_ties(self.step_scores(recomputed, y), pred_m, pred_t, rules.FACTOR,
                                                       rules.floor(self.dtype), LOSSES[self.config.loss].threshold)
        counts = [r for r in rows if r.metric == "count" and r.rule == "direct" and not r.passed]
        recount = dict(zip(map(id, counts), rules.rejudge_counts(counts, explained)))
        for row in rows:
            key = (row.quantity, row.name)
            if row.rule != "direct" or row.passed:
                out.append(row)
            elif row.metric == "count":
                out.append(recount[id(row)])
            elif key in recomputed.ref and not np.any(recomputed.ref[key]):
                out.append(rules.rejudge_at_zero(row, manual_values[key], recomputed.absolute_noise(key)))
            elif key in recomputed.ref:
                out.append(rules.rejudge(row, manual_values[key], recomputed.ref[key], recomputed.noise(key),
                                         self.dtype))
            else:
                out.append(row)
        return out

    def with_messages(self, rows, manual_values, recomputed) -> list[tuple[Row, str | None]]:
        results = []
        for row in rows:
            message = None
            if not row.passed:
                key = (row.quantity, row.name)
                m = manual_values.get(key)
                ref = recomputed.ref.get(key) if recomputed is not None and row.rule == "referee" else None
                message = rules.message(row, m if ref is not None else None, ref, self.dtype)
                message = self.in_your_names(row, message)
            results.append((row, message))
        return results

    def in_your_names(self, row: Row, message: str) -> str:
        """A bring-your-own class's failure message with its own array and index: ``... at (45, 515)
        (your W1[515, 45])``."""
        yours = getattr(self.manual, "your_name", None)
        name = yours(row.name) if yours is not None else ""
        if not name:
            return message
        found = re.findall(r" at \(([\d, ]*)\)", message)
        if not found:
            return f"{message} (your {name})"
        index = tuple(int(i) for i in found[-1].split(",") if i.strip())
        return f"{message} (your {name}[{', '.join(map(str, self.manual.your_index(row.name, index)))}])"

    def drift_rows(self, where_, loss_m, scores_m, loss_d, scores_d, y, state: bool) -> list[tuple[Row, None]]:
        """Free mode: the manual side against the torch twin training on its own (recorded, not gated)."""
        m, d = self.manual, self.drift
        rows = [rules.scalar_row(where_, "loss", loss_m, loss_d, self.dtype, track="drift"),
                *self.counts(where_, self.predict(scores_m, y), self.predict(scores_d, y), y, track="drift")]
        if state:
            rows += [rules.tensor_row(where_, "param", k, v, d.params[k], self.dtype, track="drift")
                     for k, v in m.params.items()]
        return [(row, None) for row in rows]

    def predict(self, scores: np.ndarray, y: np.ndarray) -> np.ndarray | None:
        """The predicted class of every sample; for sequence targets of every unmasked (sample, step),
        flattened (what accuracy and disagreements count)."""
        pred = self.predictor(scores)
        return pred if pred is None or not self.sequence else self.steps(pred, y)

    def steps(self, a: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Sequence targets: ``a`` (N, T, ...) as (unmasked steps, ...), in (sample, step) order; else ``a``."""
        if not self.sequence:
            return a
        from manual.conventions import SEQUENCE_PAD
        return np.asarray(a).reshape(-1, *np.shape(a)[2:])[np.asarray(y).reshape(-1) != SEQUENCE_PAD]

    def step_scores(self, recomputed, y):
        """The referee's scores per unmasked step, for near_ties (sequence targets; else as they are)."""
        key = ("scores", "")
        if not self.sequence or key not in recomputed.ref:     # the update stage's recomputation has no scores
            return recomputed

        def flat(values):
            return {key: self.steps(values[key], y)}
        return type(recomputed)(flat(recomputed.ref), [(flat(a), flat(b), s) for a, b, s in recomputed.probes], {})

    def metrics(self, loss: float, scores: np.ndarray, y: np.ndarray) -> dict:
        """The loss and, for class predictions, the accuracy of one side on one split (sequence targets:
        over the unmasked steps)."""
        pred = self.predict(scores, y)
        return {"loss": loss} | ({} if pred is None else {"accuracy": float(np.mean(pred == self.steps(y, y)))})

    def counts(self, where_, pred_m, pred_t, y, track: str = "judged") -> list[Row]:
        """Accuracy and disagreement rows, when the loss predicts classes (sequence targets: per unmasked
        (sample, step); ``pred_m``, ``pred_t`` from ``predict``)."""
        return [] if pred_m is None else rules.count_rows(where_, pred_m, pred_t, self.steps(y, y), track=track)

    def initial_rows(self) -> list[tuple[Row, str | None]]:
        """Step 0: the manual side's optimizer state and buffers before training against the declared
        ones (torch's, built from the config); the parameters were written by the shared init."""
        m, j, where_ = self.manual, self.judge, (0, 0, "step")
        self.initial_state = {k: np.array(v) * s for k, (v, s) in m.state.items()}   # what step 1 starts from
        results = self.user_init_rows(where_)
        t_state = j.state
        pairs = [("init", k, v * s, t_state[k][0], t_state[k][1]) for k, (v, s) in m.state.items() if k in t_state]
        pairs += [("init", k, v, j.buffers[k], 1.0) for k, v in m.buffers.items()]
        rows = [rules.tensor_row(where_, q, k, mv, tv, self.dtype, t_scale=s) for q, k, mv, tv, s in pairs]
        self.keep_arrays(pairs, None)
        results += [(row, None if row.passed else rules.message(row)) for row in rows]
        results += self.unmatched_state(where_, "init")
        if any(msg for _, msg in results):
            from comparisons.explain.diagnosis import diagnose_initial
            self.diagnosis = diagnose_initial(self, results)
        return results

    def unmatched_state(self, where_, quantity: str) -> list[tuple[Row, str | None]]:
        """A row per optimizer state key that only one side keeps: failed (a manual optimizer that keeps a
        buffer where the declared one has none, or one that lacks a key the declared optimizer keeps), but
        passed before training for a manual key that is all zeros (a student's zero momentum buffer failed a
        correct run at step 0: a slip hunt). torch.optim makes most of its state at its first step (SGD's
        momentum_buffer = g; Adagrad's sum is made up front and compared as any key), so a zero state made
        up front is a start torch does not keep; the step-1 rows judge the first step from torch's declared
        start (dampening on a zero buffer fails there; the diagnosis drops such keys). Manual and reference
        are the norms, 0 for the side without."""
        m_state, t_state = self.manual.state, self.judge.state
        results = []
        for key in sorted(set(m_state) ^ set(t_state)):
            mine = key in m_state
            value = np.asarray(m_state[key][0] * m_state[key][1] if mine else t_state[key][0] * t_state[key][1],
                               np.float64)
            norm = float(np.linalg.norm(value))
            zeros = quantity == "init" and mine and not np.any(value)
            row = Row(*where_, "judged", quantity, key, norm if mine else 0.0, 0.0 if mine else norm, math.nan,
                      math.nan, math.nan, math.nan, "", math.nan, math.nan, "check", "check", 0.0, zeros)
            if zeros:
                results.append((row, None))
                continue
            opt = self.config.optimizer or "momentum"
            what = (f"the manual optimizer keeps {key}; the declared optimizer ({opt}) has no such state here"
                    if mine else f"the declared optimizer ({opt}) keeps {key}; the manual optimizer has none")
            results.append((row, f"{rules.label(row)}: {what}"))
        return results

    def user_init_rows(self, where_) -> list[tuple[Row, str | None]]:
        """A bring-your-own class's own initialisation (before lockstep wrote the shared one) against the
        schemes the config declares (comparisons/check/init_check.py): one ``init`` row per parameter."""
        user = getattr(self.manual, "user_init", None)
        if not user:
            return []
        from comparisons.check.init_check import check_params
        shapes = {k: v.shape for k, v in self.judge.params.items()}
        results = []
        for c in check_params(user, shapes, weights=self.config.init, biases=self.config.init_bias):
            row = Row(*where_, "judged", "init", c.name, c.variance, c.expected_variance, math.nan, math.nan,
                      math.nan, math.nan, "", math.nan, math.nan, "test", "check", math.nan, c.passed)
            results.append((row, None if c.passed else f"step 0 > init > {c.name}: your own initialisation: "
                                                       f"{c.message}"))
        return results

    # --- evaluation ---------------------------------------------------------------------------

    def evaluate(self, epoch: int) -> None:
        """Loss and predictions of both sides on every split, from the manual side's parameters;
        in free mode also the drift twin's."""
        m, j = self.manual, self.judge
        j.load(m.params, m.buffers)
        self.keep_arrays([], None)        # an evaluation's failure is a scalar or a count: no arrays
        for phase, split in self.data.splits().items():
            where_ = (self.step, epoch, phase)
            heartbeat.current.at(phase, self.step, epoch)        # containment: where the run is
            loss_m, scores_m = m.evaluate(split.x, split.y)
            heartbeat.current.calling("torch evaluate")
            loss_t, scores_t = j.evaluate(split.x, split.y)
            pred_m, pred_t = self.predict(scores_m, split.y), self.predict(scores_t, split.y)
            rows = [rules.scalar_row(where_, "loss", loss_m, loss_t, self.dtype, override=self.overrides.get("loss")),
                    *self.counts(where_, pred_m, pred_t, split.y)]
            recomputed = None
            if any(r.rule == "direct" and not r.passed for r in rows) and _finite(rows):
                recomputed, rows = self.refereed(
                    lambda perturbed, previous=None: self.referee.evaluate(m.params, m.buffers, split.x, split.y,
                                                                           m.outputs, perturbed, previous),
                    lambda recomputed: self.rejudge(rows, {("loss", ""): loss_m}, recomputed, pred_m, pred_t,
                                                    split.y))
            results = self.with_messages(rows, {("loss", ""): loss_m}, recomputed)
            other = (loss_t, scores_t)
            if self.drift is not None:
                other = self.drift.evaluate(split.x, split.y)
                results += self.drift_rows(where_, loss_m, scores_m, *other, split.y, state=False)
            self.tracker.final[phase] = {"manual": self.metrics(loss_m, scores_m, split.y),
                                         "torch": self.metrics(other[0], other[1], split.y)}
            if self.failed_eval is None:
                self.failed_eval = next((row for row, msg in results if msg), None)
            self.record(results)

    # --- the end ------------------------------------------------------------------------------

    def trained_rows(self, epoch: int) -> list[tuple[Row, str | None]]:
        """Fail closed: two models that never moved agree trivially. The run passes only if the
        manual side had a non-zero gradient and made a non-zero update at some step."""
        results = []
        for quantity, what in (("grad", "every gradient was 0"), ("update", "no parameter ever changed")):
            value = self.trained[quantity]
            row = Row(self.step, epoch, "step", "judged", "trained", quantity, value, math.nan, math.nan, math.nan,
                      math.nan, math.nan, "", math.nan, math.nan, "check", "check", 0.0, value > 0)
            message = None if row.passed else (
                f"step {self.step} > trained > {quantity}: {what} on the manual side: the sides agree "
                "only because nothing trained")
            results.append((row, message))
        return results

    def diagnose(self, where_, x, y, results, manual_values, recomputed) -> dict:
        """Explain the first failed step from the values it produced (nothing is replayed)."""
        try:
            return diagnose_step(self, where_, x, y, results, manual_values, recomputed)
        except Exception as e:   # noqa: BLE001 - the record must survive a failing diagnosis; say so
            return {"where": rules.where(*where_), "first_divergence": "", "findings":
                    [f"diagnosis failed: {type(e).__name__}: {e}"], "kink_flips": None}

    def record(self, results) -> None:
        yours = getattr(self.manual, "your_name", None)
        if yours is not None:         # a bring-your-own class: its names beside torch's (steps.csv's ``yours``)
            results = [(row._replace(yours=yours(row.name)) if row.name else row, msg) for row, msg in results]
        rows = [row for row, _ in results]
        failed_before = self.tracker.first_failure is not None
        self.tracker.add(results)     # first: a flush inside add() saves the tracker as of the rows it wrote
        if not failed_before and self.tracker.first_failure is not None:
            self.failure_arrays = self.failed_arrays(self.tracker.first_failure, rows)
        self.recorder.add(rows)
        # Only judged rows stop the run: a drift row's torch value is the free twin's own trajectory,
        # which may diverge on its own (recorded as NaN/Inf in the drift track, never gated).
        _raise_if_nonfinite([row for row in rows if row.track == "judged"])


def _per_sample(s) -> int | None:
    """How many values of one sample a normalisation layer's statistic takes in training (batchnorm: per
    feature, its positions; groupnorm: a group's channels x positions); None for other layers."""
    if s.kind.token == "batchnorm":
        return math.prod(s.in_shape[1:])
    if s.kind.token == "groupnorm":
        return s.in_shape[0] // s.kwargs["num_groups"] * math.prod(s.in_shape[1:])
    return None


def _check_batches(layers, data: Dataset, batch_size: int) -> None:
    """Batch and group normalisation in training need 2 values or more per statistic in every batch (torch
    refuses 1): a layer whose statistic takes one value per sample needs 2 samples in every batch. Group
    normalisation in evaluation too, where each split is one batch (torch's group_norm refuses 1 in either
    mode: a valid split of one sample raised its ValueError mid-run; batchnorm evaluates with its running
    statistics)."""
    alone = [s for s in layers if _per_sample(s) == 1]
    if not alone:
        return
    bn, n = alone[0], len(data.train.y)
    size = n if batch_size == 0 or batch_size >= n else batch_size
    last = n % size or size

    def needs(s):
        return (f"model token {s.token!r} ({s.name}): {s.kind.token} with one value per "
                f"{'feature' if s.kind.token == 'batchnorm' else 'group'} needs batches of 2 samples or more")
    if min(size, last) < 2:
        raise InputError(f"{needs(bn)}; {n} training samples in batches of {batch_size} leave one of {min(size, last)}")
    gn = next((s for s in alone if s.kind.token == "groupnorm"), None)
    one = next((name for name, split in data.splits().items() if len(split.y) == 1), None)
    if gn is not None and one is not None:
        raise InputError(f"{needs(gn)}; the {one} split, evaluated in one batch, has 1 sample")


def _finite(rows) -> bool:
    return all(math.isfinite(r.manual) and math.isfinite(r.reference) for r in rows if r.metric != "count")


def _raise_if_nonfinite(rows) -> None:
    """Stop at the first loss or tensor (in recording order) that is NaN/Inf on either side."""
    for row in rows:
        if row.metric == "count" or row.rule == "check":
            continue
        sides = [side for side, v in (("manual", row.manual), ("torch", row.reference)) if not math.isfinite(v)]
        if sides:
            values = f"manual {row.manual:.6g}, torch {row.reference:.6g}" + (" (norms)" if row.metric == "rel_l2" else "")
            raise NonFiniteError(f"{rules.label(row)}: non-finite on the {' and '.join(sides)} "
                                 f"side{'s' if len(sides) > 1 else ''} ({values})", (row.step, row.epoch, row.phase))


def run(config: Config, data: Dataset | None = None, out: str | Path | OutDir | None = None, *,
        overwrite: bool = False, progress: bool = False, manual_loss=None) -> RunResult:
    """Train the manual and torch sides in lockstep and check every step.

    ``data`` replaces ``config.data`` (the dataset the config names) when given. ``out``: the
    directory for steps.csv and summary.json, locked for the run (comparisons.record.outdir; with
    ``overwrite`` an old run there is replaced once the new record is whole), or an OutDir the
    caller opened (the CLI's worker process gets its parent's).

    Raises InputError (before any work, nothing written) for a bad config, data or output
    directory, or a bring-your-own class that fails before the first step. Once the first step
    has started the run ends with a RunResult and a whole record (summary.steps = the last step
    in steps.csv), whatever stops it:
      failed       a check failed; a NaN/Inf; the manual side's code raised or called sys.exit
                   (first failure ``step 4 > backward(): RuntimeError: boom``); steps.csv could not
                   be written (it is cut back to its last whole step)
      interrupted  KeyboardInterrupt, or SIGINT/SIGTERM/SIGHUP in the CLI (comparisons.interrupts)
    RecordWriteError (an InputError) if summary.json itself cannot be written.
    """
    beat = heartbeat.current
    beat.at("startup")
    config.validate()
    if out is not None and not isinstance(out, OutDir) and not str(out).strip():
        raise InputError(f"{setting('out')} is empty: name the directory for steps.csv and summary.json")
    if config.manual != "builtin":
        beat.calling(f"importing {config.manual}")
        # a bad --manual is bad input: refuse it before loading data; what the class declares (its model,
        # loss, penalty, conventions) becomes the run's config, recorded as such in summary.json
        config = declared(config, load_class(config.manual))
        config = replace(config, manual=absolute(config.manual))   # a record that means the same anywhere
        config.validate()
    beat.calling("loading data")
    data = (data if data is not None else load_data(config.data)).astype(np.dtype(config.dtype))
    validate(data)
    beat.calling("building both sides")
    lockstep = Lockstep(config, data, manual_loss)   # builds both sides: a bad manual class is refused here
    own = out is not None and not isinstance(out, OutDir)
    outdir = OutDir.open(out, overwrite) if own else out
    whole = False       # the record in outdir.write_to is complete and consistent
    try:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):    # NaN/Inf are checked per step
            result = _train_and_record(lockstep, config, data, outdir, progress)
        whole = True
        return result
    finally:
        if own:
            if whole:
                outdir.commit()
            elif outdir.staged or not (outdir.write_to / STEPS).exists():
                outdir.discard()      # the old run stays; or nothing was written
            outdir.release()


def _train_and_record(lockstep: Lockstep, config: Config, data: Dataset, outdir: OutDir | None,
                      progress: bool) -> RunResult:
    """run() once both sides are built and the output directory is ready."""
    beat, tracker = heartbeat.current, lockstep.tracker
    recorder = lockstep.recorder = Recorder(outdir.write_to if outdir is not None else None)
    static = build_summary(config, data, "failed", Tracker(), 0)    # config, data, versions: computed once

    def save_progress() -> None:    # after each flush: the summary if the process ended here
        outdir.save_progress(_summary_so_far(static, tracker, recorder.last_step), recorder.bytes_written,
                             recorder.rows_written)

    if outdir is not None:
        recorder.on_flush = save_progress
        save_progress()
    n_steps = config.epochs * sum(1 for _ in batches(len(data.train.y), config.batch_size, np.random.default_rng()))
    status, stop, quantity, internal = "failed", None, "process", None
    try:
        try:
            shown = progress and (sys.stderr.isatty() or "ipykernel" in sys.modules)    # a terminal or a notebook
            with tqdm(total=n_steps, disable=not shown, unit="step", leave=False) as bar:
                lockstep.train(bar)
            status = "failed" if tracker.first_failure else "passed"
        except NonFiniteError as e:
            tracker.fail_nonfinite(lockstep.step, e)
        except UserCodeError as e:
            stop, quantity = f"{beat.place()} > {e.call}", "user_code"
        except RecordWriteError as e:
            stop, quantity = str(e), "record"
        except InputError as e:          # the manual side's output stopped fitting mid-run (a shape, a type)
            stop, quantity = f"{beat.place()} > {e}", "user_code"
        except Exception as e:           # a bug of lockstep's own: record where, then let it propagate
            stop, internal = f"{beat.where()}: internal error: {type(e).__name__}: {e}", e
        deferral = interrupts.defer()    # signals now wait until the record is whole
    except KeyboardInterrupt as e:       # from training, or from the lines above before defer() took effect
        status, stop = "interrupted", f"interrupted by {interrupts.name(interrupts.signal_of(e))} during {beat.where()}"
        deferral = interrupts.defer()
    try:
        summary = _finish(lockstep, config, data, outdir, status, stop, quantity)
        if deferral.late() and summary["status"] != "interrupted":   # asked to stop while the record was written
            stop = f"interrupted by {interrupts.name(interrupts.received[-1])} while {beat.where()}"
            summary = ended(summary, "interrupted", stop, beat.beat)
            if outdir is not None:
                write_summary(outdir.write_to / SUMMARY, summary)
    finally:
        interrupts.resume(deferral)
    if internal is not None:
        raise internal
    return RunResult(summary["status"], summary["first_failure"], recorder.frame(), summary,
                     outdir.path if outdir is not None else None)


def _finish(lockstep: Lockstep, config: Config, data: Dataset, outdir: OutDir | None, status: str,
            stop: str | None, quantity: str) -> dict:
    """Flush steps.csv, diagnose a failure, write the summary (and diagnosis.txt); return the summary."""
    beat, recorder, tracker = heartbeat.current, lockstep.recorder, lockstep.tracker
    where = beat.beat
    beat.at("writing steps.csv", lockstep.step)
    try:
        recorder.close()
    except RecordWriteError as e:
        if stop is None:
            stop, quantity = str(e), "record"
    if stop is not None and status == "passed":
        status = "failed"
    diagnosis = None
    if status == "failed" and not recorder.broken:
        beat.at("diagnosis", lockstep.step)
        diagnosis = lockstep.diagnosis or evaluation_diagnosis(lockstep)
    beat.at("writing summary.json", lockstep.step)
    if recorder.broken:      # steps.csv was cut back to its last whole flush: the summary saved with it
        summary = ended(outdir.progress["summary"], status, stop, where, quantity)
    else:
        summary = build_summary(config, data, status, tracker, recorder.last_step, diagnosis)
        if stop is not None:
            summary = ended(summary, status, stop, where, quantity)
    if outdir is not None:
        if diagnosis:
            write_atomic(outdir.write_to / DIAGNOSIS, diagnosis_text(diagnosis) + "\n")
        if lockstep.failure_arrays is not None and summary.get("first_failure"):
            write_atomic(outdir.write_to / failure_array.FILE, lockstep.failure_arrays)
        write_summary(outdir.write_to / SUMMARY, summary)
    return summary


def _summary_so_far(static: dict, tracker: Tracker, steps: int) -> dict:
    """The summary of a run that stopped after ``steps`` (the tracker as of steps.csv's last flush)."""
    return {**static, "first_failure": tracker.first_failure, "stopped": tracker.stopped, "steps": steps,
            "final": tracker.final, "worst": tracker.worst, "drift": tracker.drift,
            "seconds": {k: round(v, 3) for k, v in tracker.seconds.items()}}


def evaluation_diagnosis(lockstep: Lockstep) -> dict | None:
    """When no training step failed: say which evaluation did (or nothing, for a NaN stop)."""
    first = lockstep.tracker.first_failure
    if not first or first["quantity"] == "nonfinite":
        return None
    where_ = rules.where(first["step"], first["epoch"], first["phase"])
    return {"where": where_, "first_divergence": f"{where_} > {first['quantity']}", "kink_flips": None,
            "findings": ["every training step passed; an evaluation of the same parameters did not"
                         if first["quantity"] != "trained" else first["message"]]}

"""Why the sides disagree: the first stage that goes wrong, and what reproduces its numbers.

At the first failed training step, while its values are at hand (nothing is
replayed), every stage of the step is recomputed by torch from the manual
side's *own* inputs to that stage (comparisons/explain/local.py), in execution
order:

  forward    each layer's output, from the manual side's input to the layer
  loss       the loss value, from the manual side's scores
  backward   dL/dscores; then each layer, last to first: its dL/dx and its
             parameters' gradients, from its input and the manual side's
             incoming gradient
  update     each parameter's change and optimizer state, from the manual
             side's gradients and the state before the step
  buffer     each layer's running statistics, from the manual side's input
             to the layer and its buffers before the step (checked last, as
             the rows are; a declared alternative of the conventions acting
             on them that reproduces them is named: explain/buffers.py)

The first stage whose manual value is not within rounding of its
recomputation (the pass rule's allowance, measured by the referee's probes) is
the first divergence: layer x stage x operand, with the numbers. Structural
relations (comparisons/explain/relations.py) are then tested on it; one is
reported only when it reproduces the manual numbers. Where the manual side
does not expose an intermediate (a bring-your-own class without
``intermediates()``), the referee's value stands in for it and the finding
says so. When no stage's recomputation differs, a failed row no stage
recomputed is said to differ, and where; that the rows differ only through
values the manual side does not expose is said only when one was not.
"""
import math
from dataclasses import dataclass, field

import numpy as np

from comparisons.check import rules
from comparisons.explain import relations
from comparisons.explain.local import Local, pick
from comparisons.explain.referee import rounding
from comparisons.explain.relations import Context

MAX_FINDINGS = 6


@dataclass
class Diagnosis:
    where: str = ""                       # e.g. "step 1"
    first_divergence: str = ""            # e.g. "backward > fc2 (linear) > grad fc2.weight"
    findings: list[str] = field(default_factory=list)
    kink_flips: int | None = None         # branch elements where the referee followed the manual side

    def to_dict(self) -> dict:
        return {"where": self.where, "first_divergence": self.first_divergence,
                "findings": self.findings, "kink_flips": self.kink_flips}


def diagnosis_text(d: dict) -> str:
    """A Diagnosis.to_dict() in plain lines, for the terminal and diagnosis.txt."""
    lines = [f"diagnosis of {d['where']}: first divergence at {d['first_divergence'] or 'none found'}"]
    lines += [f"  - {f}" for f in d["findings"]]
    if d.get("kink_flips"):
        lines.append(f"  - branch points where the referee followed the manual side's branch (within rounding): "
                     f"{d['kink_flips']}")
    return "\n".join(lines)


SIBLING = 1e-4      # a passing check of the same layer vouches for its inputs only if its reference is at least this
                    # fraction of the failing one's (by RMS): a bias right before a batchnorm has a gradient of 0 by
                    # construction (rounding: ~1e-15 of the weight's in float64, ~1e-6 in float32), whatever the input


def _informative(sibling, check) -> bool:
    """``sibling``'s reference is not ~0 next to ``check``'s, so a wrong input would have moved it too."""
    rms = [float(np.sqrt(np.mean(np.square(np.asarray(c.ref, np.float64))))) if np.size(c.ref) else 0.0
           for c in (sibling, check)]
    return rms[0] > SIBLING * rms[1]


def constants(n: int, k: int, config, stage: str, lr: float | None = None, t: int | None = None) -> dict[str, float]:
    """The quantities a constant factor is named after, per stage: only those that can enter that
    stage's computation (so lr = 0.01 = 1/N never names a batch-size slip in an update). ``lr``: the
    step's learning rate (its schedule's; default config.lr); ``t``: the updates before it (a schedule's
    learning rates at the steps around it are named too)."""
    if stage == "update":
        lr = config.lr if lr is None else lr
        c = {f"the learning rate {lr:g}": lr, f"1/lr = {1 / lr:g}": 1 / lr, f"lr² = {lr * lr:g}": lr * lr}
        for value, which in _schedule_near(config, lr, t).items():
            c[f"the schedule's lr {value:g} at {which}"] = value
        return c | _update_hypers(config, lr)
    if stage == "init":
        return {}
    c = {f"N = {n}, the batch size": n, f"1/N = 1/{n}": 1 / n}
    if k > 1:       # one output: K, 1/K and N·K would name a factor 1 or N again
        c |= {f"K = {k}, the number of outputs": k, f"1/K = 1/{k}": 1 / k, f"N·K = {n * k}": n * k,
              f"1/(N·K) = 1/{n * k}": 1 / (n * k)}
    return c | {"2": 2.0, "1/2": 0.5}


def _schedule_near(config, lr: float, t: int | None) -> dict[float, str]:
    """{the schedule's lr at the previous, first or next step, where it is not this step's: which steps}."""
    from comparisons.registry import step_lr
    if not config.lr_schedule or t is None:
        return {}
    near: dict[float, list[str]] = {}
    steps = {t - 1: "the previous step", t + 1: "the next step"}
    steps.setdefault(0, "the first step")                 # (t = 1: the first step is the previous one)
    for at, words in steps.items():
        if at >= 0 and at != t and (value := step_lr(config, at)) != lr:
            near.setdefault(value, []).append(f"{words} (t = {at})")
    return {value: " and ".join(which) for value, which in near.items()}


def schedule_ratios(config, lr: float, t: int | None) -> dict[str, float]:
    """The factors on a whole update that a schedule off by some steps gives: the schedule's lr at a step
    around this one over this step's (named on a whole value, never on one term's coefficient:
    relations.Context.ratios)."""
    return {f"the schedule's lr at {which} over this step's, {value:g}/{lr:g} = {value / lr:g}": value / lr
            for value, which in _schedule_near(config, lr, t).items()}


def _update_hypers(config, lr: float) -> dict[str, float]:
    """The optimizer's hyper-parameters and simple functions of them."""
    from comparisons.registry import optimizer_args
    c = {}
    _, hypers = optimizer_args(config)
    for name in ("momentum", "beta1", "beta2", "alpha", "dampening"):     # the run's decay rates
        gamma = hypers.get(name)
        if gamma:
            c.update({f"the {name} {gamma:g}": gamma, f"1 - {name} = {1 - gamma:g}": 1 - gamma,
                      f"1 + {name} = {1 + gamma:g}": 1 + gamma, f"1/(1 + {name}) = {1 / (1 + gamma):g}":
                      1 / (1 + gamma), f"1/{name} = {1 / gamma:g}": 1 / gamma,
                      f"sqrt({name}) = {math.sqrt(gamma):g}": math.sqrt(gamma)})
            if gamma < 1:
                c.update({f"1/(1 - {name}) = {1 / (1 - gamma):g}": 1 / (1 - gamma),
                          f"sqrt(1 - {name}) = {math.sqrt(1 - gamma):g}": math.sqrt(1 - gamma),
                          f"1/sqrt(1 - {name}) = {1 / math.sqrt(1 - gamma):g}": 1 / math.sqrt(1 - gamma)})
    for name, words in (("eps", "eps"), ("weight_decay", "weight decay")):
        x = hypers.get(name)
        if x:
            c.update({f"the {words} {x:g}": x, f"lr × {words} = {lr * x:g}": lr * x})
    return c


@dataclass(eq=False)      # one check is one object: ``in failing`` asks which, never compares the arrays
class Check:
    """One stage operand: the manual value against its recomputation."""
    label: str           # "backward > fc2 (linear) > grad fc2.weight"
    manual: object
    ref: object
    probes: list          # [(value, partner, scale)]: each rounding probe (the first: float32 from the same inputs)
    borrowed: str = ""   # which inputs came from the referee (not exposed by the manual side)
    context: Context | None = None
    own: tuple | None = None     # (value, words): what the stage gives from the manual side's own internals
    layer: int | None = None     # backward checks: the layer's index (for hypotheses on its incoming gradient)
    param: str = ""              # backward checks of a gradient: the parameter's local key
    key: tuple | None = None     # the (quantity, name) of the row this check recomputes
    alternatives: list | None = None   # buffer checks: comparisons/explain/buffers.py's, declared first


class Diagnoser:
    def __init__(self, lockstep, where_, x, y, manual_values, recomputed, results=()):
        self.ls, self.x, self.y = lockstep, x, y
        self.mv = manual_values
        self.config, self.dtype = lockstep.config, lockstep.dtype
        self.layers = lockstep.layers
        j = lockstep.judge
        self.before = {"params": j.before, "buffers": j.before_buffers, "state": j.before_state, "step": j.before_step}
        if where_[0] == 1:    # step 1: the judge started from the declared state, the manual side from its own,
            # less what torch does not keep before its first step (a zero buffer made up front passed at step 0;
            # loaded, torch would follow it where the declared first step does not: a buffer dampened from 0)
            self.before["state"] = {k: v for k, v in lockstep.initial_state.items() if k in j.before_state}
        if recomputed is None:
            recomputed = lockstep.referee.step(self.before, x, y, lockstep.own_outputs())
        self.rec = recomputed
        self.local = Local(lockstep.referee, self.before, self.layers, self.config)
        self.derived: dict = {}     # stage inputs the manual side does not expose, recomputed from its values
        self.notes: list[str] = []  # stages that differ from torch's only through the manual side's own forward
        self.results = list(results)   # (row, message) of the step: a message on each failed row
        self.checked: set = set()      # the (quantity, name) of every row a stage recomputed
        n = len(y)
        self.constants = constants(n, lockstep.data.n_outputs, self.config, "backward")
        from comparisons.registry import step_lr
        lr_t, t = step_lr(self.config, self.before.get("step")), self.before.get("step")
        self.update_constants = constants(n, lockstep.data.n_outputs, self.config, "update", lr_t, t)
        self.update_ratios = schedule_ratios(self.config, lr_t, t)
        k = lockstep.data.n_outputs     # the batch and the outputs seldom enter an update: named only when
        self.update_weak = {f"N = {n}, the batch size": n, f"1/N = 1/{n}": 1 / n,       # nothing else is
                            f"K = {k}, the number of outputs": k, f"1/K = 1/{k}": 1 / k}
        self.previous = getattr(lockstep, "previous", {}) or {}
        self.extra = getattr(lockstep.manual, "extra", {})
        self.handed_on = getattr(lockstep, "handed_on", {})    # {"fc2.dx": "relu1.dx"}: written over in place
        self.dg = Diagnosis(where=rules.where(*where_))
        self.step = where_[0]       # this step's number: the updates before it are step - 1
        self.dg.kink_flips = sum(c for c, _ in recomputed.flips.values()) or None

    # --- where the manual side's stage inputs come from --------------------------------------

    def layer_input(self, i: int):
        """(the manual side's input to layer i, "") or, when the manual side does not expose it, (its
        recomputation by torch from the nearest value upstream that it does expose, a note)."""
        if i == 0:
            return self.x, ""
        name = self.layers[i - 1].name
        if ("out", name) in self.mv:
            return self.mv[("out", name)], ""
        if ("out", name) not in self.derived:
            x_prev, _ = self.layer_input(i - 1)
            self.derived[("out", name)] = self.local.layer(name, x_prev)["ref"]["out"]
        return self.derived[("out", name)], f"{self._unexposed(f'{name}.out')}: recomputed from the manual side's values upstream"

    def incoming(self, i: int):
        """dL/d(output of layer i) (the next layer's dL/dx, or dL/dscores for the last layer) as the
        manual side computed it, or, not exposed, recomputed by torch from its values downstream."""
        after = self.layers[i + 1].name if i + 1 < len(self.layers) else "loss"
        if ("dx", after) in self.mv:
            return self.mv[("dx", after)], ""
        if ("dx", after) not in self.derived:
            if after == "loss":
                scores, _ = self.layer_input(len(self.layers))
                self.derived[("dx", after)] = self.local.loss(scores, self.y)["ref"]["dscores"]
            else:
                x_after, _ = self.layer_input(i + 1)
                self.derived[("dx", after)] = self.local.layer(after, x_after, self.incoming(i + 1)[0])["ref"]["dx"]
        what = "dL/dscores" if after == "loss" else f"{after}.dx"
        return self.derived[("dx", after)], f"{self._unexposed(f'{after}.dx', what)}: recomputed from the manual side's values"

    def _unexposed(self, key: str, what: str = "") -> str:
        """Why a value is not the manual side's own: not exposed, or exposed in an array a later value was
        written over in place (sides/aliasing.py)."""
        what = what or key
        later = self.handed_on.get(key)
        if later:
            return f"{what} is not compared: its array is also {later}'s (written over in place, or handed on as is)"
        return f"{what} is not exposed"

    def layer_spec(self, name: str):
        """The spec of the layer that holds parameter or buffer ``name`` (bn1.running_var -> bn1's)."""
        return next(s for s in self.layers if s.name == name.split(".", 1)[0])

    def value(self, quantity: str, name: str):
        """The manual side's value of a layer's output, or its recomputation (see layer_input)."""
        index = next(i for i, s in enumerate(self.layers) if s.name == name)
        return self.layer_input(index + 1)

    # --- judging one check -------------------------------------------------------------------

    def allow(self, check: Check) -> float:
        return rules.allowance(rounding(check.probes), self.dtype)

    def fails(self, check: Check) -> bool:
        if relations.rel(check.manual, check.ref) <= self.allow(check):
            return False
        if check.own is not None and relations.rel(check.manual, check.own[0]) <= self.allow(check):
            self.notes.append(f"{check.label}: {check.own[1]}")
            return False
        return True

    def finding(self, check: Check, every: list, failing: list) -> str:
        """What reproduces ``check``'s manual value, or where it differs; ``every`` and ``failing``: its stage's
        checks, and those that fail (another value's reference, a sibling that passes)."""
        ctx = check.context or Context(constants=self.constants, dtype=self.dtype)
        if self.dtype == "float64":
            ctx.coarse = ("float32", relations.rel(check.probes[0][0], check.ref), check.probes[0][0])
        if check.alternatives:
            from comparisons.explain import buffers
            key = check.key[1].split(".", 1)[1]
            found = buffers.reproduces(key, check.alternatives, check.manual, self.allow(check))
            if found:
                note = f" ({check.borrowed})" if check.borrowed else ""
                own_class = self.config.manual not in ("builtin", "seed")
                return f"{check.label}: {buffers.finding(self.layer_spec(check.key[1]), key, found, own_class)}{note}"
        if np.ndim(check.manual) == 0:
            text, exact = relations.describe_scalar(float(check.manual), float(check.ref), self.allow(check), ctx)
        elif check.label == "forward > loss > probs":
            text, exact = softmax_epsilon(check.manual, self.value("out", self.layers[-1].name)[0])
        else:
            text, exact = relations.explain(check.manual, check.ref, self.allow(check), ctx)
        crossed = None if exact else self.crossed(check, every, failing)
        if crossed:
            return crossed
        # a check of the same layer from the same inputs that passes (fc2.weight where fc2.bias fails): a wrong
        # input would have moved it too, so the difference is this layer's own (a slip hunt's db2 summed before
        # the mask was blamed on relu2 by a hypothesis fitted to fc2.bias alone)
        own = check.layer is not None and any(o.layer == check.layer and o is not check and o not in failing
                                              and _informative(o, check) for o in every)
        if not exact and not own and check.layer is not None and self.incoming(check.layer)[1]:
            implied = self.implied_incoming(check)
            if implied:
                return f"{check.label}: {implied}"
        note = f" ({check.borrowed})" if check.borrowed else ""
        # what the stage was given is torch's recomputation, not the manual side's own (unseen) value: a slip there
        # (a ReLU's mask from the wrong array, not exposed) shows here, in a stage that may be right; exact or not
        # (a dropout backward without its 1/keep made fc1's gradients 0.8 x: fc1 was named alone). A backward's
        # unexposed input x would have failed the forward stage first: only its incoming gradient counts here.
        given = self.incoming(check.layer)[1] if check.layer is not None else check.borrowed
        if given and not own:
            stage, layer = check.label.split(" > ")[:2]
            return (f"{check.label}: {text}{note}: so the difference is in {layer.split(' (')[0]}'s {stage} or in "
                    f"what it was given, whose manual value is not seen here")
        return f"{check.label}: {text}{note}"

    def crossed(self, check: Check, every: list, failing: list) -> str | None:
        """No relation to its own reference reproduces the manual value, but it is another value's reference
        in the same stage (a gradient returned under another parameter's name): say which, and that the two
        are swapped when the other's manual value is this one's reference (a slip hunt's batchnorm returned
        dgamma and dbeta under each other's names: each said only to differ)."""
        if check.borrowed or check.key is None or np.size(check.manual) < 2 or \
                not np.all(np.isfinite(check.manual)):
            return None
        quantity, layer = check.key[0], check.key[1].split(".")[0]
        for other in every:
            # only values of the same kind in the same layer: a layer's output is the next layer's input (a ReLU
            # of positive values is its input), a dx the previous layer's incoming gradient
            if other is check or other.key is None or other.key[0] != quantity or \
                    other.key[1].split(".")[0] != layer or np.shape(other.ref) != np.shape(check.manual) or \
                    not np.any(other.ref) or not relations.rel(check.manual, other.ref) <= self.allow(check):
                continue
            this, that = (c.label.split(" > ", 1)[1] for c in (check, other))
            if other in failing and relations.rel(other.manual, check.ref) <= self.allow(other):
                return (f"{check.label}: swapped with {that}: the manual value of each is the other's reference "
                        f"(returned under each other's names)")
            return f"{check.label}: the manual value is the reference's {that}, not {this}"
        return None

    def incoming_candidates(self, i: int) -> dict[str, np.ndarray]:
        """Hypotheses about layer i's incoming gradient when the manual side does not expose it:
        the reference masked by what the producing stage knows, and (when the next layer has no
        parameters) that layer's own incoming gradient passed through unchanged, or multiplied by
        its input, its output or one of its branch masks instead of its true derivative."""
        d_ref = np.asarray(self.incoming(i)[0], np.float64)
        if i + 1 == len(self.layers):
            y = np.asarray(self.y)
            if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer) or d_ref.ndim != 2 or d_ref.shape[1] < 2:
                return {}        # a label entry per sample exists only with class scores (not binary, regression)
            labels = np.zeros(d_ref.shape, dtype=bool)
            labels[np.arange(len(self.y)), self.y] = True
            return {"dL/dscores equal to the reference at the labels' entries (y = 1) and 0 elsewhere":
                    np.where(labels, d_ref, 0.0),
                    "dL/dscores equal to the reference away from the labels' entries and 0 at them":
                    np.where(labels, 0.0, d_ref)}
        after = self.layers[i + 1]
        if _param_keys(self.before["params"], after.name):
            return {}
        g = np.asarray(self.incoming(i + 1)[0], np.float64)
        x_after = np.asarray(self.layer_input(i + 1)[0], np.float64)
        out_after = np.asarray(self.value("out", after.name)[0], np.float64)
        if g.shape != d_ref.shape:
            return {}
        who = f"{after.name}'s backward"
        found = {f"{who} returning its incoming gradient unchanged (no derivative applied)": g,
                 f"{who} multiplying its incoming gradient by its input": g * x_after,
                 f"{who} multiplying its incoming gradient by its output": g * out_after}
        for label, mask in self.branch_masks(after, x_after, g).items():
            found[f"{who} passing its incoming gradient only where {label.split(' (')[0].replace('the layer', after.name)}"] \
                = np.where(mask, g, 0.0)
        return found

    def implied_incoming(self, check: Check) -> str | None:
        """The manual side does not expose layer i's incoming gradient: does one of the hypotheses
        about it, carried through the layer's backward, reproduce the manual value? The backward is
        linear in the incoming gradient, so each hypothesis gets a least-squares scale."""
        i = check.layer
        x_in, _ = self.layer_input(i)
        spec = self.layers[i]
        for label, d in self.incoming_candidates(i).items():
            if not np.any(d):
                continue
            got = self.local.layer(spec.name, x_in, d)["ref"]
            hyp = got["grad"][check.param] if check.param else got["dx"]
            den = float(np.vdot(hyp, hyp))
            if den == 0:
                continue
            s = float(np.vdot(check.manual, hyp)) / den
            if np.size(check.manual) < 2:
                s = 1.0         # one element is any hypothesis times some scale: only the hypothesis itself counts
            if relations.rel(check.manual, s * hyp) <= self.allow(check):
                scale = "" if abs(s - 1) <= relations.NAME_MATCH else f" (× {s:.6g})"
                return (f"reproduced by {label}{scale}: that gradient is not exposed, the hypothesis was "
                        f"carried through {spec.name}'s backward")
        return None

    # --- the stages ----------------------------------------------------------------------------

    def forward_checks(self):
        for i, spec in enumerate(self.layers):
            if ("out", spec.name) not in self.mv:
                continue
            x_in, note = self.layer_input(i)
            got = self.local.layer(spec.name, x_in)
            out_shape = np.shape(got["ref"]["out"])
            operands = {"the layer's input": x_in}
            for key in _param_keys(self.before["params"], spec.name):     # a parameter broadcast over the batch
                p0 = np.asarray(self.before["params"][f"{spec.name}.{key}"], np.float64)
                try:
                    operands[f"the parameter {spec.name}.{key} (broadcast)"] = np.broadcast_to(p0, out_shape)
                except ValueError:
                    pass
            ctx = Context(constants=self.constants, dtype=self.dtype, operands=_same_shape(operands, got["ref"]["out"]),
                          previous=self.previous.get(("out", spec.name)))
            yield Check(f"forward > {spec.name} ({spec.kind.token}) > out", self.mv[("out", spec.name)],
                        *pick(got, "out"), note, ctx, key=("out", spec.name))

    def loss_checks(self):
        last = self.layers[-1].name
        scores, note = self.value("out", last)
        got = self.local.loss(scores, self.y)
        self.loss_values = got
        if "probs" in self.extra:
            probs = _softmax(np.asarray(scores, np.float64))
            probe = _softmax(np.asarray(scores, np.float32).astype(np.float64))
            scale = rules.EPS[self.dtype] / rules.EPS["float32"]
            yield Check("forward > loss > probs", np.asarray(self.extra["probs"], np.float64), probs,
                        [(probe, probs, scale)], note, Context(constants=self.constants, dtype=self.dtype))
        yield Check("forward > loss > value", self.mv[("loss", "")], *pick(got, "loss"), note, key=("loss", ""))

    def backward_checks(self):
        got = self.loss_values
        if ("dx", "loss") in self.mv:
            masks = {}
            if np.ndim(self.y) == 1 and np.ndim(got["ref"]["dscores"]) == 2 and np.shape(got["ref"]["dscores"])[1] > 1:
                labels = np.zeros(np.shape(got["ref"]["dscores"]), dtype=bool)   # class targets: one-hot masks
                labels[np.arange(len(self.y)), self.y] = True
                masks = {"the labels' entries are (y = 1)": labels, "the entries other than the labels' are": ~labels}
            ctx = Context(constants=self.constants, dtype=self.dtype, masks=masks,
                          previous=self.previous.get(("dx", "loss")))
            own = None
            if "probs" in self.extra and self.config.loss == "cross_entropy":   # d(CE)/dz = p - y, with its own p
                d = np.asarray(self.extra["probs"], np.float64) - labels
                own = (d / len(self.y) if self.config.reduction == "mean" else d,
                       "dL/dscores is p - y from the manual side's own probabilities: consistent with its forward")
            yield Check("backward > loss > dL/dscores", self.mv[("dx", "loss")], *pick(got, "dscores"), "", ctx,
                        own=own, key=("dx", "loss"))
        for i in reversed(range(len(self.layers))):
            spec = self.layers[i]
            wants = [("dx", spec.name)] if i > 0 else []
            wants += [("grad", f"{spec.name}.{k}") for k in _param_keys(self.before["params"], spec.name)]
            if not any(w in self.mv for w in wants):
                continue
            x_in, note_x = self.layer_input(i)
            dout, note_d = self.incoming(i)
            got = self.local.layer(spec.name, x_in, dout)
            note = "; ".join(filter(None, (note_x, note_d)))
            masks = self.branch_masks(spec, x_in, got["ref"].get("dx"))
            operands = {"the incoming gradient": dout, "the layer's input": x_in, "the layer's output":
                        got["ref"]["out"]}
            if ("dx", spec.name) in self.mv:
                ctx = Context(constants=self.constants, dtype=self.dtype, masks=masks,
                              operands=_same_shape(operands, got["ref"]["dx"]),
                              previous=self.previous.get(("dx", spec.name)))
                yield Check(f"backward > {spec.name} ({spec.kind.token}) > dx", self.mv[("dx", spec.name)],
                            *pick(got, "dx"), note, ctx, layer=i, key=("dx", spec.name))
            terms = self.time_terms(spec, x_in, dout)
            fed = tuple(int(t) for t in np.flatnonzero(np.any(np.asarray(dout) != 0, axis=(0, 2)))) if terms else None
            for key in got["ref"]["grad"]:
                name = f"{spec.name}.{key}"
                if ("grad", name) not in self.mv:
                    continue
                p0 = np.asarray(self.before["params"][name], np.float64)
                ctx = Context(constants=self.constants, dtype=self.dtype,
                              operands={f"the parameter {name}": p0},
                              previous=self.previous.get(("grad", name)),
                              terms={"time step": terms[key]} if key in terms else {}, fed=fed)
                yield Check(f"backward > {spec.name} ({spec.kind.token}) > grad {name}", self.mv[("grad", name)],
                            *pick(got, "grad", key), note, ctx, layer=i, param=key, key=("grad", name))

    def time_terms(self, spec, x_in, dout) -> dict:
        """A recurrent layer's gradients per time step, from the manual side's input and incoming gradient
        (comparisons/explain/time_terms.py); {} for other layers."""
        from comparisons.explain.time_terms import time_terms
        keys = _param_keys(self.before["params"], spec.name)
        return time_terms(spec.kind.token, {k: self.before["params"][f"{spec.name}.{k}"] for k in keys}, x_in, dout)

    def update_checks(self):
        grads = {k: self.mv[("grad", k)] for k in self.before["params"] if ("grad", k) in self.mv}
        if len(grads) != len(self.before["params"]):
            return
        got = self.local.update(grads)
        state_before = self.before["state"]
        for name in self.before["params"]:
            if ("update", name) not in self.mv:
                continue
            operands = {"the gradient": np.asarray(grads[name], np.float64)}
            operands.update({f"the state {k.rsplit('.', 1)[-1]} before the step": np.asarray(v, np.float64)
                             for k, v in state_before.items() if k.startswith(name + ".")})
            if ("grad", name) in self.previous:
                operands["the previous step's gradient"] = np.asarray(self.previous[("grad", name)], np.float64)
            operands["the parameter"] = np.asarray(self.before["params"][name], np.float64)
            ctx = Context(constants=self.update_constants, weak=self.update_weak,
                          ratios=self.update_ratios, dtype=self.dtype,
                          operands=operands, combine=True, previous=self.previous.get(("update", name)))
            yield Check(f"update > {name} > change", self.mv[("update", name)], *pick(got, "update", name), "", ctx,
                        key=("update", name))
        for key in got["ref"]["state"]:
            if ("state", key) not in self.mv:
                continue
            param = key.rsplit(".", 1)[0]
            operands = {"the gradient": np.asarray(grads[param], np.float64),
                        "the parameter": np.asarray(self.before["params"][param], np.float64)}
            if key in state_before:     # torch's own momentum has no buffer before its first step
                operands[f"the state {key.rsplit('.', 1)[-1]} before the step"] = np.asarray(state_before[key], np.float64)
            ctx = Context(constants=self.update_constants, weak=self.update_weak,
                          ratios=self.update_ratios, dtype=self.dtype,
                          operands=operands, combine=True)
            yield Check(f"update > {key}", self.mv[("state", key)], *pick(got, "state", key), "", ctx,
                        key=("state", key))

    def update_rule(self, checks) -> list[str]:
        """A named update rule (another convention, a known slip: comparisons/explain/update_rules.py)
        that reproduces every parameter's change from the manual side's own gradients and state."""
        from comparisons.explain.update_rules import reproduces
        changes = {c.label.split(" > ")[1]: c for c in checks if c.label.endswith(" > change")}
        grads = {k: self.mv[("grad", k)] for k in self.before["params"] if ("grad", k) in self.mv}
        if set(changes) != set(self.before["params"]) or len(grads) != len(changes):
            return []
        n, size = len(self.ls.data.train.y), self.config.batch_size
        per_epoch = 1 if size == 0 or size >= n else -(-n // size)      # lockstep.batches: the last one may be short
        found = reproduces(self.config, self.before, grads, {k: c.manual for k, c in changes.items()},
                           {k: self.allow(c) for k, c in changes.items()}, per_epoch, self.step - 1)
        if len(found) == 1:
            return [f"update: {found[0]} (it reproduces every parameter's change from the manual side's gradients)"]
        return [f"update: each of these reproduces every parameter's change from the manual side's gradients "
                f"(they agree at this step): {'; '.join(found)}"] if found else []

    def buffer_checks(self):
        """Each layer's running statistics (its buffers), recomputed from the manual side's input to the
        layer and its buffers before the step, under the run's declared conventions; the alternatives of
        the conventions acting on them (comparisons/explain/buffers.py) go with each check."""
        from comparisons.explain import buffers
        for i, spec in enumerate(self.layers):
            keys = [k for k in _param_keys(self.before["buffers"], spec.name)
                    if ("buffer", f"{spec.name}.{k}") in self.mv]
            if not keys:
                continue
            x_in, note = self.layer_input(i)
            got = self.local.buffers(spec.name, x_in)
            before = {k: self.before["buffers"][f"{spec.name}.{k}"] for k in _param_keys(self.before["buffers"],
                                                                                         spec.name)}
            alts = buffers.alternatives(spec, x_in, before)
            stats = buffers.statistics(spec, x_in)
            m = float(spec.kwargs.get("momentum") or 0)
            consts = {f"m = {m:g}, torch's momentum": m, f"1 - m = {1 - m:g}": 1 - m} if m else {}
            for key in keys:
                if key not in got["ref"]:
                    continue
                name = f"{spec.name}.{key}"
                operands = {f"the {key} before the step": np.asarray(before[key], np.float64)}
                if key in stats:
                    operands[stats[key][0]] = stats[key][1]
                ctx = Context(constants=consts, dtype=self.dtype, operands=operands, combine=True,
                              previous=self.previous.get(("buffer", name)))
                yield Check(f"buffer > {spec.name} ({spec.kind.token}) > {key}", self.mv[("buffer", name)],
                            *pick(got, key), note, ctx, key=("buffer", name), alternatives=alts)

    def branch_masks(self, spec, x_in, dx_ref) -> dict[str, np.ndarray]:
        """For a layer with branch points: where its input takes the branch, does not, sits exactly on it."""
        if not hasattr(spec.kind.twin, "decide") or dx_ref is None:
            return {}
        import torch
        twin = spec.kind.twin(**spec.kwargs, dtype=torch.float64)     # a max-pool decides with its kernel
        t = torch.from_numpy(np.asarray(x_in, np.float64))
        taken = twin.decide(t).numpy()
        if taken.shape != np.shape(dx_ref):
            return {}
        on_edge = twin.margin(t).numpy() == 0
        return {"the layer's branch is taken (e.g. ReLU input > 0)": taken,
                "the layer's branch is not taken (e.g. ReLU input <= 0)": ~taken,
                "the layer's branch is taken or its input sits on the branch point (e.g. ReLU input >= 0)":
                    taken | on_edge,
                "the layer's input sits exactly on the branch point (e.g. ReLU input == 0)": on_edge}

    # --- the walk --------------------------------------------------------------------------------

    def run(self) -> Diagnosis:
        stages = (("forward", self.forward_checks), ("loss", self.loss_checks),
                  ("backward", self.backward_checks), ("update", self.update_checks),
                  ("buffer", self.buffer_checks))
        failed = set()
        for stage, checks in stages:
            every = list(checks())
            self.checked.update(c.key for c in every if c.key is not None)
            failing = [c for c in every if self.fails(c)]
            if failing and not self.dg.first_divergence:
                self.dg.first_divergence = failing[0].label
            for check in failing[:2]:
                if len(self.dg.findings) < MAX_FINDINGS:
                    self.dg.findings.append(self.finding(check, every, failing))
            # a named update rule, after the stage's own findings (beyond MAX_FINDINGS if need be), only when a
            # change fails: where only the state does, every form agrees with the changes at this step
            if stage == "update" and any(c.key[0] == "update" for c in failing):
                self.dg.findings += self.update_rule(every)
            if failing:
                failed.add(stage)
            elif stage == "backward" and failed & {"forward", "loss"}:
                self.dg.findings.append("backward: every gradient checked follows from the manual side's own "
                                        "forward values and incoming gradients")
        self.dg.findings += self.notes[:2]
        if not self.dg.first_divergence:
            self.dg.findings += self.nothing_found()
        return self.dg

    def nothing_found(self) -> list[str]:
        """Every stage checked reproduces the manual values from its own inputs: say what is true of the
        failed rows. A failed row no stage recomputes is said to differ, and where (its row's message);
        "values the manual side does not expose" only when some stage input was not exposed and every
        failed row was checked."""
        failed = [(row, message) for row, message in self.results if message]
        unchecked = [(row, message) for row, message in failed
                     if (row.quantity, row.name) in self.mv and (row.quantity, row.name) not in self.checked]
        if unchecked:
            return [f"{message.split(' > ', 1)[-1]} (no stage recomputes {row.name or row.quantity} from the manual "
                    f"side's own inputs: this says only where the sides differ)" for row, message in unchecked[:2]]
        if self.derived:
            return ["every stage checked reproduces the manual values from its own inputs; the failed rows differ "
                    "only through values the manual side does not expose"]
        names = ", ".join(f"{row.quantity} {row.name}".strip() for row, _ in failed[:4])
        return [f"every stage checked reproduces the manual values from its own inputs within the rounding its "
                f"probes measure; the failed rows ({names}) differ from the whole step's reference"]


def diagnose_initial(lockstep, results) -> dict:
    """Step 0: the manual side's optimizer state or buffers before training differ from the declared."""
    dg = Diagnosis(where="step 0")
    ctx = Context(constants=constants(1, lockstep.data.n_outputs, lockstep.config, "init"), dtype=lockstep.dtype)
    declared = {k: v * s for k, (v, s) in lockstep.judge.state.items()} | lockstep.judge.buffers
    for row, message in results:
        if not message:
            continue
        dg.first_divergence = dg.first_divergence or f"init > {row.name}"
        if row.rule == "check":          # the class's own initialisation: the check says what it looks like
            dg.findings.append(message.split(" > ", 2)[2])
            continue
        m = lockstep.initial_state.get(row.name, lockstep.manual.buffers.get(row.name))
        text, _ = relations.explain(m, declared[row.name], rules.floor(lockstep.dtype), ctx)
        if len(dg.findings) < MAX_FINDINGS:
            dg.findings.append(f"init > {row.name}: {text} (before step 1, against the value the config declares)")
    return dg.to_dict()


def diagnose_step(lockstep, where_, x, y, results, manual_values, recomputed) -> dict:
    return Diagnoser(lockstep, where_, x, y, manual_values, recomputed, results).run().to_dict()


def _param_keys(params: dict, layer: str) -> list[str]:
    return [k.split(".", 1)[1] for k in params if k.split(".", 1)[0] == layer]


def _same_shape(operands: dict, like) -> dict:
    shape = np.shape(like)
    return {k: np.asarray(v, np.float64) for k, v in operands.items() if np.shape(v) == shape}


def softmax_epsilon(probs, logits) -> tuple[str, bool]:
    """An epsilon in the softmax denominator, and which max it shifts by, fitted from the rows' sums."""
    probs, logits = np.asarray(probs, np.float64), np.asarray(logits, np.float64)
    sums = probs.sum(axis=1)
    for label, shift in (("the global max of the matrix", logits.max()),
                         ("each row's max", logits.max(axis=1, keepdims=True))):
        s = np.exp(logits - shift).sum(axis=1)
        eps = s * (1 / sums - 1)
        if np.all(eps > 0) and np.std(eps) <= 1e-3 * np.mean(eps):
            return (f"the softmax adds ε = {np.mean(eps):.3g} to its denominator after shifting by {label}: "
                    f"rows sum to {sums.min():.6f}..{sums.max():.6f}, not 1"
                    + (", least where a row's max is far below the global max" if "global" in label else ""), True)
    if np.max(np.abs(sums - 1)) > 1e-6:
        return f"probabilities do not sum to 1 per row ({sums.min():.6f}..{sums.max():.6f})", False
    return relations.describe(probs, _softmax(logits), Context()), False


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# --- helpers the audit (comparisons/explain/audit.py) shares ----------------------------------------

rel = relations.rel


def factors(n: int, k: int, lr: float) -> dict[str, float]:
    """The constants a factor is named after when auditing one derivation (batch, classes, lr)."""
    return {f"N = {n}, the batch size": n, f"1/N = 1/{n}": 1 / n, f"K = {k}, the number of outputs": k,
            f"1/K = 1/{k}": 1 / k, f"N·K = {n * k}": n * k, f"1/(N·K) = 1/{n * k}": 1 / (n * k),
            "2": 2.0, "1/2": 0.5, "-1": -1.0, f"the learning rate {lr:g}": lr}


def describe(m, r, ctx: dict[str, float]) -> str:
    """How m differs from r (relations.explain with the given constants, exact to float64 rounding)."""
    return relations.explain(np.asarray(m, np.float64), np.asarray(r, np.float64), 1e-9, Context(constants=ctx))[0]


def describe_softmax(probs: np.ndarray, logits: np.ndarray) -> str | None:
    """An epsilon in a softmax (see softmax_epsilon), or None when the rows sum to 1 within rounding."""
    sums = np.asarray(probs, np.float64).sum(axis=1)
    if np.max(np.abs(sums - 1)) <= 100 * np.finfo(np.asarray(probs).dtype).eps * np.shape(probs)[1]:
        return None
    return softmax_epsilon(probs, logits)[0]

"""Why the sides disagree, in plain words.

At the first failed training step, the step is replayed from the manual side's
state before it and walked in order:

1. forward: each hidden pre-activation and activation, logits, probabilities,
   loss, against a float64 torch referee computing from the same state;
2. backward, given the manual side's *own* forward values: is each gradient the
   derivative of what it computed? If not, which common slip reproduces it;
3. the update, given the manual side's own gradients: which update rule
   reproduces the new parameters and velocities.

Every finding comes from a computation here; slips are named only when the
named alternative reproduces the manual side's numbers. In float32 a
difference is called rounding when the manual side is within ROUNDING_FACTOR
of torch float32's own distance from the float64 referee.
"""
import math
from dataclasses import dataclass, field

import numpy as np

from comparisons.check.metrics import tensor_diff
from comparisons.explain.referee import backprop, layer_order, reference_step

ROUNDING_FACTOR = 10     # float32: torch itself is ~1e-7..1e-5 from the referee (measured); a slip is >= 1e-3
AGREE = {"float64": 1e-9, "float32": 1e-4}   # "reproduces": float64 replays agree to ~1e-15, float32 to ~1e-6
LOSS_AGREE = {"float64": 1e-10, "float32": 1e-5}   # relative; measured loss agreement 8e-16 / 3e-7
SCALE_FIT = 1e-3         # a constant factor explains m when ||m - s r|| <= SCALE_FIT ||m||
LAYOUT_FIT = 1e-4        # a permuted layout explains m when it matches to float32 rounding (~1e-6 measured)
FACTOR_MATCH = 1e-3      # a factor is "N" when within 0.1% of N (float32 and softmax epsilons blur it slightly)


@dataclass
class Diagnosis:
    where: str = ""                       # e.g. "step 1"
    first_divergence: str = ""            # e.g. "backward > grad > output.bias"
    findings: list[str] = field(default_factory=list)
    kink_flips: int | None = None         # hidden pre-activations on different sides of 0, manual vs torch

    def to_dict(self) -> dict:
        return {"where": self.where, "first_divergence": self.first_divergence,
                "findings": self.findings, "kink_flips": self.kink_flips}



def diagnosis_text(d: dict) -> str:
    """A Diagnosis.to_dict() in plain lines, for the terminal and diagnosis.txt."""
    lines = [f"diagnosis of {d['where']}: first divergence at {d['first_divergence'] or 'none found'}"]
    lines += [f"  - {f}" for f in d["findings"]]
    if d.get("kink_flips") is not None:
        lines.append(f"  - ReLU kink flips (hidden pre-activations on different sides of 0, manual vs torch): "
                     f"{d['kink_flips']}")
    return "\n".join(lines)


def rel(m, r) -> float:
    return tensor_diff(np.asarray(m, dtype=np.float64), np.asarray(r, dtype=np.float64)).rel_l2


def named_factor(s: float, ctx: dict[str, float]) -> str | None:
    """'N (the batch size)' when s matches one of the run's quantities, else None."""
    for label, value in ctx.items():
        if value and abs(s / value - 1) <= FACTOR_MATCH:
            return label
    return None


def factors(n: int, k: int, lr: float) -> dict[str, float]:
    """The quantities of a run a constant factor is named after."""
    return {f"N = {n}, the batch size": n, f"1/N = 1/{n}": 1 / n, f"K = {k}, the number of classes": k,
            f"1/K = 1/{k}": 1 / k, f"N·K = {n * k}": n * k, f"1/(N·K) = 1/{n * k}": 1 / (n * k),
            "2": 2.0, "1/2": 0.5, f"the learning rate {lr:g}": lr, f"1/lr = {1 / lr:g}": 1 / lr, "-1": -1.0}


def describe(m: np.ndarray, r: np.ndarray, ctx: dict[str, float]) -> str:
    """How m differs from r: constant factor, sign, reshape-for-transpose, a subset, or throughout."""
    m, r = np.asarray(m, dtype=np.float64), np.asarray(r, dtype=np.float64)
    d = tensor_diff(m, r)
    if d.reference_norm > 0 and math.isfinite(d.scale) and d.manual_norm > 0:
        residual = np.linalg.norm(m - d.scale * r) / d.manual_norm
        if residual <= SCALE_FIT:
            if abs(d.scale + 1) <= FACTOR_MATCH:
                return "a sign flip: manual = -reference"
            name = named_factor(d.scale, ctx)
            return (f"a constant factor: manual = {d.scale:.6g} × reference"
                    + (f" ({name})" if name else ""))
    if m.ndim == 2 and m.shape[0] == m.shape[1] and rel(m, r.T) <= LAYOUT_FIT:
        return "a transposed layout: manual = reference.T"
    if m.ndim == 2 and m.shape[0] != m.shape[1] and min(rel(m, r.T.reshape(m.shape)),
                                                       rel(m, r.reshape(m.shape[::-1]).T)) <= LAYOUT_FIT:
        return "a transposed layout: manual holds reference.T reshaped to this shape (a reshape where a transpose was meant)"
    err = (m - r) ** 2
    total = err.sum()
    if m.ndim == 2 and total > 0:
        for axis, what in ((1, "rows"), (0, "columns")):
            per = err.sum(axis=axis)
            order = np.argsort(per)[::-1]
            k = int(np.searchsorted(np.cumsum(per[order]) / total, 0.99) + 1)
            if k <= max(1, len(per) // 20):
                shown = ", ".join(map(str, sorted(order[:k].tolist())[:8])) + (", ..." if k > 8 else "")
                return f"confined to {k} of {len(per)} {what} ({shown}), which hold 99% of the difference"
    flat = np.abs(m - r).ravel()
    share = np.count_nonzero(flat > 1e-3 * np.abs(r).max()) / flat.size if flat.size else 0
    return (f"differs throughout: rel_l2 {d.rel_l2:.2e}, cosine {d.cosine:.6f}, best scale {d.scale:.4g}, "
            f"{share:.0%} of elements off by > 0.1% of the largest reference element")


def describe_loss(m: float, r: float, reduction: str, n: int, k: int) -> str | None:
    """Name a loss reduction mismatch from the ratio of the two losses."""
    if r == 0 or not math.isfinite(m / r):
        return None
    ratio = m / r
    conventions = {"mean": {"the sum over the N samples": n, "the mean over the N·K entries": 1 / k},
                   "sum": {"the mean over the N samples": 1 / n, "the mean over the N·K entries": 1 / (n * k)}}
    for label, value in conventions[reduction].items():
        if abs(ratio / value - 1) <= 1e-2:   # 1%: an epsilon inside the log (the seed's 1e-5) shifts it slightly
            exact = "" if abs(ratio / value - 1) <= FACTOR_MATCH else f" (ratio {ratio:.6g}, {abs(ratio / value - 1):.1e} off: an epsilon inside the log?)"
            return (f"loss reduction mismatch: the manual loss is {label} (ratio {value:.6g} to the reference, "
                    f"which is the {'mean over the N samples' if reduction == 'mean' else 'sum over the N samples'})"
                    + exact)
    return None


def describe_softmax(probs: np.ndarray, logits: np.ndarray) -> str | None:
    """An epsilon in the softmax denominator, and which max it shifts by, fitted from the rows' sums."""
    sums = probs.sum(axis=1, dtype=np.float64)
    if np.max(np.abs(sums - 1)) <= 100 * np.finfo(probs.dtype).eps * probs.shape[1]:   # rounding of K terms
        return None
    found = []
    for label, shift in (("the global max of the matrix", logits.max()),
                         ("each row's max", logits.max(axis=1, keepdims=True))):
        s = np.exp(logits - shift).sum(axis=1)
        eps = s * (1 / sums - 1)
        if np.all(eps > 0) and np.std(eps) <= 1e-3 * np.mean(eps):
            found.append(f"the softmax adds ε = {np.mean(eps):.3g} to its denominator after shifting by {label}: "
                         f"rows sum to {sums.min():.6f}..{sums.max():.6f}, not 1"
                         + (", least where a row's max is far below the global max" if "global" in label else ""))
            break
    return found[0] if found else f"probabilities do not sum to 1 per row ({sums.min():.6f}..{sums.max():.6f})"


def expected_dlogits(probs: np.ndarray, y: np.ndarray, reduction: str) -> np.ndarray:
    d = probs.astype(np.float64).copy()
    d[np.arange(len(y)), y] -= 1
    return d / len(y) if reduction == "mean" else d


def backward_slips(params, values, y, probs, reduction) -> list[tuple[str, dict]]:
    """Named wrong backward passes, computed from the manual side's own forward values."""
    onehot = np.eye(probs.shape[1])[y]
    right = expected_dlogits(probs, y, reduction)
    n = len(y)
    per = (1 / n) if reduction == "mean" else 1.0
    slips = [
        ("dL/dlogits is y - p: target and prediction swapped (a sign flip)", dict(dlogits=-right)),
        ("dL/dlogits is p - y without the 1/N of the mean", dict(dlogits=right * n if reduction == "mean" else None)),
        ("dL/dlogits carries an extra 1/N", dict(dlogits=right / n)),
        ("dL/dlogits is (p - y) / (N·K) (the gradient of a mean over N·K entries)",
         dict(dlogits=(right / per) / (n * probs.shape[1]))),
        ("dL/dlogits = -y(1 - p): the softmax Jacobian taken as its diagonal p(1 - p) only",
         dict(dlogits=-onehot * (1 - probs) * per)),
        ("the ReLU derivative is missing: gradients flow through units with z <= 0", dict(mask="none")),
        ("the ReLU derivative counts z = 0 as active (z >= 0)", dict(mask="z>=0")),
        ("the ReLU derivative is replaced by the ReLU itself: multiplied by h, not by 1[z > 0]", dict(mask="act")),
        ("bias gradients are averaged over the batch instead of summed", dict(bias="mean")),
    ]
    out = []
    for label, change in slips:
        if "dlogits" in change and change["dlogits"] is None:
            continue
        out.append((label, backprop(params, values, change.get("dlogits", right),
                                    mask=change.get("mask", "z>0"), bias=change.get("bias", "sum"))))
    return out


def update_slips(p0, v0, grads, lr, gamma, init_velocity, step, bias_names):
    """Named update rules: (label, params after, velocity after or None)."""
    rules = {}
    def rule(label, vel_fn, par_fn):
        v1 = {k: vel_fn(k) for k in p0}
        rules[label] = ({k: par_fn(k, v1) for k in p0}, v1)
    rule("the assignment's rule", lambda k: gamma * v0[k] + lr * grads[k], lambda k, v: p0[k] - v[k])
    if step == 1 and init_velocity:
        rule(f"the initial velocity {init_velocity:g} is ignored (velocity starts at 0)",
             lambda k: lr * grads[k], lambda k, v: p0[k] - v[k])
    rule("momentum is applied to the weights only: biases take a plain gradient step",
         lambda k: gamma * v0[k] + lr * grads[k] if k not in bias_names else v0[k],
         lambda k, v: p0[k] - (v[k] if k not in bias_names else lr * grads[k]))
    rule("plain gradient descent, no momentum", lambda k: v0[k], lambda k, v: p0[k] - lr * grads[k])
    rule("the update adds the velocity (gradient ascent)", lambda k: gamma * v0[k] + lr * grads[k],
         lambda k, v: p0[k] + v[k])
    rule("dampened momentum: v <- gamma v + (1 - gamma) lr g",
         lambda k: gamma * v0[k] + (1 - gamma) * lr * grads[k], lambda k, v: p0[k] - v[k])
    rule("Nesterov momentum: p <- p - (gamma v_new + lr g)", lambda k: gamma * v0[k] + lr * grads[k],
         lambda k, v: p0[k] - (gamma * v[k] + lr * grads[k]))
    rule("torch's buffer form without lr in the velocity: v <- gamma v + g, p <- p - lr v",
         lambda k: gamma * v0[k] + grads[k], lambda k, v: p0[k] - lr * v[k])
    return rules


def fit_weight_decay(p0, v0, grads, p1, lr, gamma) -> float | None:
    """lambda of p1 = p0 - (gamma v0 + lr (g + lambda p0)), by least squares over every parameter."""
    num = den = 0.0
    for k in p0:
        base = p0[k] - (gamma * v0[k] + lr * grads[k])
        a = -lr * p0[k]
        num += float(np.sum((p1[k] - base) * a))
        den += float(np.sum(a * a))
    if den == 0:
        return None
    lam = num / den
    fitted = {k: p0[k] - (gamma * v0[k] + lr * (grads[k] + lam * p0[k])) for k in p0}
    ok = all(rel(p1[k], fitted[k]) <= 1e-6 for k in p0) and abs(lam) > 0
    return lam if ok else None


def update_mismatch(p0: np.ndarray, p1: np.ndarray, expected: np.ndarray, dtype: str) -> bool:
    """Does the new parameter p1 differ from the expected one by more than rounding?
    Judged on the change p1 - p0, whose rounding is ~eps |p0| (not eps |p1 - p0|)."""
    change = np.linalg.norm(expected - p0)
    eps = np.finfo(dtype).eps
    allowed = AGREE[dtype] * change + 4 * eps * np.linalg.norm(p0)
    return bool(np.linalg.norm(p1 - expected) > allowed)


def diagnose_step(replay, snapshot, x, y, config, torch_same_dtype: dict, where: str) -> Diagnosis:
    """Walk one replayed step (see the module docstring). ``replay``: the manual side's
    recomputation of the step from ``snapshot`` (params, velocity before the step)."""
    dg = Diagnosis(where=where)
    p0 = {k: v.astype(np.float64) for k, v in snapshot["params"].items()}
    ref = reference_step(p0, x.astype(np.float64), y, config.reduction)
    ctx = factors(len(y), ref["logits"].shape[1], config.lr)
    _forward(dg, replay, ref, torch_same_dtype, y, config, ctx)
    _backward(dg, replay, ref, p0, y, config, ctx)
    _update(dg, replay, snapshot, p0, config, ctx)
    inter = replay["inter"]
    if "hidden.pre" in inter and "hidden.pre" in torch_same_dtype:
        dg.kink_flips = int(np.count_nonzero((inter["hidden.pre"] > 0) != (torch_same_dtype["hidden.pre"] > 0)))
    if not dg.first_divergence:
        if config.dtype == "float32":
            dg.findings.append("the replayed step reproduces the reference within rounding (within 10x of torch "
                               "float32's own error against the float64 referee): the failed check measures "
                               "float32 rounding, not a wrong formula")
        else:
            dg.findings.append("the replayed step reproduces the reference: no formula is wrong in this step; "
                               "see the failed row itself")
    return dg


def _diverge(dg: Diagnosis, label: str, finding: str) -> None:
    """Record a finding; the first one recorded is the first divergence."""
    dg.first_divergence = dg.first_divergence or label
    dg.findings.append(finding)


def _forward(dg, replay, ref, torch_same, y, config, ctx) -> None:
    """Hidden pre-activations and activations, logits, probabilities (first divergence only), loss."""
    inter, agree = replay["inter"], AGREE[config.dtype]
    names = layer_order({k: None for k in replay["grads"]})
    for key in [f"{nm}.{part}" for nm in names[:-1] for part in ("pre", "act")] + ["logits", "probs"]:
        if key not in inter:
            continue
        err = rel(inter[key], ref[key])
        allowed = agree
        if config.dtype == "float32" and key in torch_same:     # rounding: torch float32's own error, x10
            allowed = max(ROUNDING_FACTOR * rel(torch_same[key], ref[key]), agree)
        if err > allowed:
            text = describe_softmax(inter[key], inter.get("logits", ref["logits"])) if key == "probs" else None
            _diverge(dg, f"forward > {key}", f"forward > {key}: " + (text or describe(inter[key], ref[key], ctx)))
            break
    loss, ref_loss = replay["loss"], float(ref["loss"])
    if abs(loss - ref_loss) > LOSS_AGREE[config.dtype] * abs(ref_loss):
        text = describe_loss(loss, ref_loss, config.reduction, len(y), ref["logits"].shape[1])
        _diverge(dg, "forward > loss", "forward > loss: " + (text or f"manual {loss:.6g}, reference {ref_loss:.6g}"))


def _backward(dg, replay, ref, p0, y, config, ctx) -> None:
    """Each gradient against the derivative of the manual side's own forward values."""
    inter, agree, names = replay["inter"], AGREE[config.dtype], layer_order(p0)
    values = {key: inter[key].astype(np.float64) for key in inter if key.endswith((".in", ".pre", ".act"))}
    for before, after in zip(names, names[1:]):       # a layer's input is the previous layer's activation
        if f"{before}.act" in values:
            values.setdefault(f"{after}.in", values[f"{before}.act"])
    values = {key: values.get(key, ref[key]) for key in ref if key.endswith((".in", ".pre", ".act"))}
    for nm in names[:-1]:
        pre, act = inter.get(f"{nm}.pre"), inter.get(f"{nm}.act")
        if pre is not None and act is not None and rel(act, np.maximum(pre, 0)) > AGREE[config.dtype]:
            dg.findings.append(f"backward: not judged: {nm}.act is not relu({nm}.pre), and the hand "
                               "backpropagation here assumes ReLU")
            return
    if not any(k.endswith(".pre") for k in inter):
        dg.findings.append("backward: judged with the reference's hidden values (the class exposes no "
                           "intermediates(); an activation other than ReLU would be misjudged)")
    probs = inter["probs"] if "probs" in inter else ref["probs"]
    grads = {k: v.astype(np.float64) for k, v in replay["grads"].items()}
    right_dlogits = expected_dlogits(probs, y, config.reduction)
    expected = backprop(p0, values, right_dlogits)
    order = [f"{nm}.{part}" for nm in reversed(names) for part in ("weight", "bias")]   # backprop order
    wrong = [k for k in order if rel(grads[k], expected[k]) > agree]
    if "dlogits" in inter and rel(inter["dlogits"], right_dlogits) > agree:
        wrong.insert(0, "dlogits")
    if not wrong:
        if any(rel(grads[k], ref[f"grad:{k}"]) > agree for k in grads):
            dg.findings.append("backward: every gradient is the derivative of the manual side's own forward; "
                               "the gradient differences follow from the forward")
        return
    label = "backward > dlogits" if wrong[0] == "dlogits" else f"backward > grad > {wrong[0]}"
    matched = [name for name, g in backward_slips(p0, values, y, probs, config.reduction)
               if all(rel(grads[k], g[k]) <= agree for k in grads)]
    if matched:
        _diverge(dg, label, f"backward: {matched[0]} (it reproduces every gradient)")
        return
    for k in (w for w in wrong if w != "dlogits"):
        _diverge(dg, label, f"backward > grad > {k}: {describe(grads[k], expected[k], ctx)}")


def _update(dg, replay, snapshot, p0, config, ctx) -> None:
    """The new parameters against the assignment's rule applied to the manual side's own gradients."""
    if snapshot.get("velocity") is None or replay.get("velocity_after") is None:
        if not dg.first_divergence:
            dg.findings.append("update: not replayed (the manual side keeps its optimizer state to itself)")
        return
    v0 = {k: v.astype(np.float64) for k, v in snapshot["velocity"].items()}
    p1 = {k: v.astype(np.float64) for k, v in replay["params_after"].items()}
    grads = {k: v.astype(np.float64) for k, v in replay["grads"].items()}
    step, dtype = replay["step"], config.dtype
    if step == 1 and config.init_velocity and not any(np.any(v) for v in v0.values()):
        _diverge(dg, "update > momentum (before step 1)",
                 f"update: the velocity is 0 before step 1; the config's initial velocity is "
                 f"{config.init_velocity:g} (the initial velocity is ignored)")
    bias_names = {k for k in p0 if k.endswith(".bias")}
    rules = update_slips(p0, v0, grads, config.lr, config.momentum, config.init_velocity, step, bias_names)
    v1 = {k: v.astype(np.float64) for k, v in replay["velocity_after"].items()}
    right, right_v = rules.pop("the assignment's rule")

    def mismatch(pp, vv, k) -> bool:
        return update_mismatch(p0[k], p1[k], pp[k], dtype) or update_mismatch(v0[k], v1[k], vv[k], dtype)

    bad = [k for k in p0 if mismatch(right, right_v, k)]
    if not bad:
        return
    what = "param" if update_mismatch(p0[bad[0]], p1[bad[0]], right[bad[0]], dtype) else "momentum"
    label = f"update > {what} > {bad[0]}"
    matched = [name for name, (pp, vv) in rules.items() if not any(mismatch(pp, vv, k) for k in p0)]
    lam = None if matched else fit_weight_decay(p0, v0, grads, p1, config.lr, config.momentum)
    if matched:
        _diverge(dg, label, f"update: {matched[0]} (it reproduces every new parameter)")
    elif lam is not None:
        _diverge(dg, label, f"update: weight decay λ = {lam:.3g} is added to the gradient")
    elif what == "param":
        _diverge(dg, label, f"update > param > {bad[0]}: "
                            f"{describe(p1[bad[0]] - p0[bad[0]], right[bad[0]] - p0[bad[0]], ctx)} (of the parameter change)")
    else:
        _diverge(dg, label, f"update > momentum > {bad[0]}: the parameters follow the rule but the velocity "
                            f"does not: {describe(v1[bad[0]], right_v[bad[0]], ctx)}")

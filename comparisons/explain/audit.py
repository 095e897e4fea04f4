"""lockstep audit: each hand derivation against autograd of the same forward, and central differences.

The reference for a derivation is the derivative of the user's *own* forward
(quirks included), never a textbook loss: autograd runs the class's own code
with its module's ``np`` bound to comparisons.explain.torch_numpy; central differences
call its unmodified NumPy forward. Everything runs in float64 on small
networks, on random inputs and on edge cases.
"""
import math
import sys
from dataclasses import dataclass

import numpy as np
import torch

import manual
from comparisons.sides.byo import ByoSide, load_class
from comparisons.config import Config
from comparisons.explain.diagnosis import describe, describe_softmax, factors, rel
from comparisons.errors import InputError
from comparisons.explain.torch_numpy import numpy_as_torch

AUTOGRAD_TOL = 1e-8   # a correct formula agrees with autograd to ~1e-15 in float64 (measured: examples/ student)
FD_TOL = 1e-5         # central differences, h = 1e-6: measured 1e-9..1e-7 for correct formulas away from kinks
FD_STEP = 1e-6
FD_COORDS = 12        # coordinates sampled per tensor
SIZES = (20, 16, 10)  # a small 20-16-10 network: every derivation of the 784-1000-10 one, exactly


@dataclass(frozen=True)
class AuditRow:
    derivation: str
    formula: str
    autograd_err: float      # worst relative L2 error against autograd over the cases (nan: unavailable)
    fd_err: float            # worst relative error against central differences (nan: not measured)
    verdict: str             # ok | FAIL
    finding: str             # what the difference is, from the computation


def _case(name: str, rng: np.random.Generator):
    """(params in torch layout, x (N, D), y (N,)) for one edge case."""
    n = 1 if name == "batch of one" else 8
    params = manual.init_params(SIZES, rng, np.float64)
    for key in params:
        if key.endswith(".bias"):
            params[key] += 0.1 * rng.standard_normal(params[key].shape)
    x, y = rng.random((n, SIZES[0])), rng.integers(0, SIZES[-1], n)
    if name == "zero pre-activations":
        x[:3] = 0.0
        params["hidden.bias"][:] = 0.0               # rows 0-2: every hidden pre-activation exactly 0
    elif name == "large logits":
        params["output.weight"] *= 40
    elif name == "rows on different scales":
        x *= np.geomspace(1, 30, n)[:, None]          # logit ranges differ by rows (the global-max softmax)
    return params, x, y


CASES = ("random", "zero pre-activations", "large logits", "rows on different scales", "batch of one")


def _autograd(side: ByoSide, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """Gradients of the class's own forward by torch autograd, in torch layout; "dlogits" too
    when the class exposes its logits. Raises RuntimeError naming why it is unavailable."""
    net = side.net
    live = net.parameters()
    if live is not net.parameters():
        raise RuntimeError("parameters() builds a new dict on each call, so leaf tensors cannot be put in")
    saved = dict(live)
    try:
        for k, v in saved.items():
            live[k] = torch.tensor(v, requires_grad=True)
        with numpy_as_torch(sys.modules[type(net).__module__]):
            xs, ys = side._inputs(x, y)
            loss, _ = net.forward(torch.as_tensor(xs), torch.as_tensor(ys))
            if not (isinstance(loss, torch.Tensor) and loss.requires_grad):
                raise RuntimeError("the loss forward() returns does not depend on the arrays parameters() returns "
                                   "(converted to a float, or computed from other copies)")
            logits = net.intermediates().get("logits") if callable(getattr(net, "intermediates", None)) else None
            if isinstance(logits, torch.Tensor):
                logits.retain_grad()
            loss.backward()
        grads = {k: live[k].grad.numpy() for k in saved}
        out = {name: np.array(view) for name, view in side._adapt(grads, "autograd").items()}
        if isinstance(logits, torch.Tensor):
            g = logits.grad.numpy()
            out["dlogits"] = g.T if side.layout["samples"] == "columns" else g
        return out
    except RuntimeError:
        raise
    except Exception as e:    # noqa: BLE001 - the code is the user's: any failure means "unavailable"
        raise RuntimeError(f"{type(e).__name__}: {e}") from None
    finally:
        live.update(saved)


def _central(side: ByoSide, name: str, x, y, rng) -> tuple[np.ndarray, np.ndarray]:
    """(flat indices, central-difference estimates) of dL/d<name> through the NumPy forward."""
    view = side.params[name]
    idx = rng.choice(view.size, size=min(FD_COORDS, view.size), replace=False)
    est = []
    for i in idx:
        pos = np.unravel_index(i, view.shape)
        old = view[pos]
        view[pos] = old + FD_STEP
        up = side._forward(x, y)[0]
        view[pos] = old - FD_STEP
        down = side._forward(x, y)[0]
        view[pos] = old
        est.append((up - down) / (2 * FD_STEP))
    return idx, np.array(est)


def _rel(m, r) -> float:
    """||m - r|| / ||r|| of the flattened arrays (diagnosis.rel: 0 if both are zero, inf if only r is)."""
    return rel(np.ravel(m), np.ravel(r))


def audit(spec: str, seed: int = 0) -> tuple[list[AuditRow], list[str]]:
    """Rows of the table, and findings about the forward (e.g. the softmax's epsilon)."""
    if spec == "builtin":
        raise InputError("audit checks a class (--manual seed or pkg.module:Class); the built-in manual/ "
                         "is checked against autograd and finite differences by its test suite")
    cls = load_class(spec)
    rng = np.random.default_rng(seed)
    config = Config(hidden=SIZES[1:-1], dtype="float64", manual=spec)
    formulas = dict(getattr(cls, "formulas", {}))
    found: dict[str, dict] = {}          # derivation -> {case: (hand, autograd, fd_err)}
    forward_notes: dict[str, list] = {}     # finding kind -> [(case, text)]
    unavailable = None
    for case in CASES:
        params, x, y = _case(case, rng)
        side = ByoSide(cls, SIZES, config, init=params)
        _, scores = side._forward(x, y)
        inter = {k: np.array(v) for k, v in side.intermediates().items()}
        hand = {k: np.array(v) for k, v in side._adapt(side._call("backward"), "backward()").items()}
        for key, value in hand.items():
            if not np.all(np.isfinite(value)):
                raise InputError(f"{cls.__name__}.backward() returned non-finite values for {key} "
                                 f"on finite inputs (case '{case}')")
        after_backward = side.intermediates()      # some classes set dlogits in backward()
        if "dlogits" in after_backward:
            hand = {"dlogits": np.array(after_backward["dlogits"]), **hand}
        if "probs" in inter:
            note = describe_softmax(inter["probs"], inter.get("logits", scores))
            if note:
                forward_notes.setdefault(note.split(":")[0], []).append((case, note))
        try:
            auto = _autograd(side, x, y)
        except RuntimeError as e:
            auto, unavailable = {}, str(e)
        for name, value in hand.items():
            fd = math.nan
            if name != "dlogits" and not (case == "zero pre-activations" and name.startswith("hidden")):
                idx, est = _central(side, name, x, y, rng)     # at exact kinks the derivative is a convention
                fd = _rel(value.ravel()[idx], est)
            found.setdefault(name, {})[case] = (value, auto.get(name), fd)
        for claim, (formula, fn, hand_row) in (getattr(side.net, "claims", lambda: {})()).items():
            found.setdefault(claim, {})[case] = (*_claim(fn, hand_row, inter, cls), math.nan, inter["probs"])
            formulas.setdefault(claim, formula)
    rows = [_row(name, formulas.get(name, f"backward()[{name!r}]"), per_case, unavailable)
            for name, per_case in found.items()]
    notes = [f"forward (cases {', '.join(repr(c) for c, _ in found_in)}): {found_in[-1][1]}"
             for found_in in forward_notes.values()]
    return rows, notes + ([f"autograd unavailable: {unavailable}"] if unavailable else [])


def _claim(fn, hand_row, inter, cls):
    """(hand Jacobian blocks, autograd Jacobian blocks) of ``fn`` at the case's logits, row by row."""
    logits = torch.tensor(inter["logits"])
    with numpy_as_torch(sys.modules[cls.__module__]):
        jac = torch.autograd.functional.jacobian(fn, logits).numpy()      # (N, K, N, K)
    n = logits.shape[0]
    probs = inter["probs"]
    return (np.stack([hand_row(probs[i]) for i in range(n)]), np.stack([jac[i, :, i, :] for i in range(n)]))


def _row(name: str, formula: str, per_case: dict, unavailable) -> AuditRow:
    auto_errs = {c: _rel(v[0], v[1]) for c, v in per_case.items() if v[1] is not None}
    fd_errs = [v[2] for v in per_case.values() if not math.isnan(v[2])]
    auto_worst = max(auto_errs.values()) if auto_errs else math.nan
    fd_worst = max(fd_errs) if fd_errs else math.nan
    if math.isnan(auto_worst) and math.isnan(fd_worst):
        return AuditRow(name, formula, auto_worst, fd_worst, "unchecked",
                        "neither autograd nor central differences could reach it" + (f" ({unavailable})" if unavailable else ""))
    ok = (auto_worst <= AUTOGRAD_TOL or math.isnan(auto_worst)) and (fd_worst <= FD_TOL or math.isnan(fd_worst))
    if ok:
        return AuditRow(name, formula, auto_worst, fd_worst, "ok", "")
    if not auto_errs:
        return AuditRow(name, formula, auto_worst, fd_worst, "FAIL", f"central differences disagree ({fd_worst:.1e})")
    h, a, _, *probs = per_case["random"]
    if h.ndim == 3:      # a Jacobian claim, (N, K, K) blocks
        finding = _jacobian_finding(h, a, probs[0])
    else:
        finding = describe(h, a, factors(len(a) if name == "dlogits" else 8, SIZES[-1], 1.0)) + " (case 'random')"
        residual = {c: _residual(v[0], v[1]) for c, v in per_case.items() if v[1] is not None}
        beyond = {c: r for c, r in residual.items() if r > AUTOGRAD_TOL}
        if beyond:
            finding += "; beyond a constant factor, off in " + ", ".join(f"'{c}' ({r:.1e})" for c, r in beyond.items())
    return AuditRow(name, formula, auto_worst, fd_worst, "FAIL", finding)


def _residual(h: np.ndarray, a: np.ndarray) -> float:
    """What is left after the best constant factor: ||h - s a|| / ||h||."""
    den = float(np.vdot(a, a))
    if den == 0 or not np.any(h):
        return 0.0 if not np.any(h - a) else 1.0
    s = float(np.vdot(h, a)) / den
    return float(np.linalg.norm(h - s * a) / np.linalg.norm(h))


def _jacobian_finding(hand: np.ndarray, auto: np.ndarray, probs: np.ndarray) -> str:
    """Compare a claimed per-row Jacobian (N, K, K) with autograd's, diagonal and off-diagonal apart,
    and autograd's with diag(p) - p p^T."""
    k = hand.shape[-1]
    eye = np.eye(k, dtype=bool)
    text = f"agrees with autograd on the diagonal ({_rel(hand[:, eye], auto[:, eye]):.1e})"
    off_hand, off_auto = np.abs(hand[:, ~eye]).max(), np.abs(auto[:, ~eye]).max()
    if off_hand == 0 and off_auto > 0:
        full = np.stack([np.diag(p) - np.outer(p, p) for p in probs])
        text += (f" but is 0 off it, where autograd has entries up to {off_auto:.2e}; autograd's Jacobian is "
                 f"diag(p) - p p^T to {_rel(auto, full):.1e}: the claim keeps only its diagonal")
    return text


def format_table(rows: list[AuditRow]) -> str:
    w = max(len(r.derivation) for r in rows)
    f = max(len(r.formula) for r in rows)
    lines = [f"{'derivation':<{w}}  {'formula':<{f}}  {'vs autograd':>11}  {'vs finite diff':>14}  verdict"]
    for r in rows:
        fmt = lambda v: "n/a" if math.isnan(v) else f"{v:.1e}"
        lines.append(f"{r.derivation:<{w}}  {r.formula:<{f}}  {fmt(r.autograd_err):>11}  {fmt(r.fd_err):>14}  {r.verdict}")
    return "\n".join(lines)

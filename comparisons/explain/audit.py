"""lockstep audit: each hand derivation against autograd of the same forward, and central differences.

The reference for a derivation is the derivative of the user's *own* forward
(quirks included), never a textbook loss. Autograd runs the class's own code:
its arrays are replaced by tensors where the network holds them (found on its
object graph, whether ``parameters()`` returns a live dict or builds a new one)
and ``np`` is the torch stand-in in every module whose code the network runs
(comparisons.explain.torch_numpy). Central differences call its unmodified
NumPy forward. Everything runs in float64 on small networks (the class's own
input and output widths when it fixes them), on random inputs and edge cases.

At exact kinks (every hidden pre-activation of some rows exactly 0) a
derivative is a convention: the reference is autograd's (torch: ReLU
derivative 0 at 0); a backward that takes the other one-sided derivative there
is reported as a convention difference, not hidden and not failed.
"""
import linecache
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from comparisons import spec as model_spec
from comparisons.sides import shared_init
from comparisons.sides.byo import ByoSide, legacy_name, load_class
from comparisons.config import Config
from comparisons.explain.diagnosis import describe, describe_softmax, factors, rel
from comparisons.errors import InputError, setting, spoken
from comparisons.explain.torch_numpy import Tracked, Unsupported, Untrackable, constant, modules_of, numpy_as_torch

AUTOGRAD_TOL = 1e-8   # a correct formula agrees with autograd to <= 1.4e-14 in float64 (measured: examples/ and
                      # tests/students/ fixtures); the slips found there are >= 7e-3 off
FD_TOL = 1e-5         # central differences, h = 1e-6: measured 1e-9..1e-7 for correct formulas away from kinks
FD_STEP = 1e-6
FD_COORDS = 12        # coordinates sampled per tensor
KINK_NUDGE = 1e-12    # moves the kink rows' pre-activations off 0 (they are exactly 0 + b); measured: the
                      # gradients move by <= 2.8e-12 relative otherwise (tests/students, every case), far inside AUTOGRAD_TOL
SIZES = (20, 16, 10)  # a small 20-16-10 network: every derivation of the 784-1000-10 one, exactly
KINK_CASE = "zero pre-activations"
RELU = {"above": "1 for a ReLU", "below": "0 for a ReLU"}
CASES = ("random", KINK_CASE, "large logits", "rows on different scales", "batch of one")


@dataclass(frozen=True)
class AuditRow:
    derivation: str
    formula: str
    autograd_err: float      # worst relative L2 error against autograd over the cases (nan: unavailable)
    fd_err: float            # worst relative error against central differences (nan: not measured)
    verdict: str             # ok | convention (differs only at exact kinks, by a convention) | FAIL | unchecked
    finding: str             # what the difference is, from the computation


class AuditResult(tuple):
    """What ``audit`` found: a row per derivation and notes about the forward, for the class ``manual``.
    Unpacks as ``rows, notes`` (a pair, as it always has); shows itself in one line (``repr``) and, in a
    notebook, as the verdict, the table, each finding and what to do next (``_repr_html_``)."""

    def __new__(cls, rows: list[AuditRow], notes: list[str], manual: str = ""):
        self = super().__new__(cls, (rows, notes))
        self.manual = manual
        return self

    def __getnewargs__(self):       # copy, deepcopy and pickle build it again from these
        return self[0], self[1], self.manual

    @property
    def rows(self) -> list[AuditRow]:
        return self[0]

    @property
    def notes(self) -> list[str]:
        return self[1]

    @property
    def failed(self) -> list[str]:
        return [r.derivation for r in self.rows if r.verdict == "FAIL"]

    @property
    def passed(self) -> bool:
        return not self.failed

    @property
    def findings(self) -> list[str]:
        """Each derivation's finding (``name (formula): what differs``), then the notes."""
        return [f"{r.derivation} ({r.formula}): {r.finding}" for r in self.rows if r.finding] + list(self.notes)

    @property
    def verdict(self) -> str:
        if self.failed:
            return f"FAILED: {', '.join(self.failed)}"
        unchecked = [r.derivation for r in self.rows if r.verdict == "unchecked"]
        fd_only = all(math.isnan(r.autograd_err) for r in self.rows)
        return ("PASSED: every derivation holds" + (" (by central differences only)" if fd_only else "")
                + (f"; unchecked: {', '.join(unchecked)}" if unchecked else ""))

    def next_step(self) -> str:
        """What to do next, in the words of whoever asks (errors.spoken)."""
        if self.failed:
            return ("Next: fix the derivations marked FAIL (each finding says how they are off), then audit "
                    "again.")
        call = spoken(f"lockstep run --manual {self.manual} --dtype float64 --mode synced",
                      f"comparisons.run(Config(manual={self.manual!r}, dtype='float64', mode='synced'))")
        return (f"Next: run `{call}`: the whole training (data, optimizer, state) side by side with torch, "
                "which the audit does not check.")

    def __repr__(self) -> str:
        return f"AuditResult({self.verdict!r}, derivations={len(self.rows)})"

    def _repr_html_(self) -> str:
        import html

        from comparisons.report.tables import Table, to_html
        from comparisons.report.write import COLOURS
        colour = COLOURS["failed" if self.failed else "passed"]
        table = Table(f"Audit of {self.manual}" if self.manual else "Audit",
                      ("derivation", "formula", "vs autograd", "vs finite diff", "verdict", "finding"),
                      tuple((r.derivation, r.formula, _err(r.autograd_err), _err(r.fd_err), r.verdict, r.finding)
                            for r in self.rows))
        notes = "".join(f"<li>{html.escape(n)}</li>" for n in self.notes)
        return (f'<div><p style="color:{colour}"><strong>{html.escape(self.verdict)}</strong></p>'
                f"{to_html(table, level=4)}{f'<ul>{notes}</ul>' if notes else ''}"
                f"<p>{html.escape(self.next_step())}</p></div>")


def _err(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.1e}"


@dataclass
class _Seen:
    """One derivation in one case."""
    hand: np.ndarray
    auto: np.ndarray | None          # autograd at the point (torch's convention at kinks)
    fd: float                        # relative error against (one-sided, at the kink) differences
    probs: np.ndarray | None = None  # for a Jacobian claim
    kink: str | None = None          # the difference is a kink convention: what it is


class Unavailable(Exception):
    """Why autograd cannot run the class's forward, in one line."""


def _first(sizes) -> str:
    return "fc1"


def _layers(sizes):
    """The MLP of ``sizes`` (e.g. (20, 16, 10)) as model-spec layers."""
    return model_spec.parse(model_spec.mlp(tuple(sizes[1:-1])), (sizes[0],), sizes[-1])


def _named(inter: dict, sizes) -> dict:
    """ByoSide's intermediates under the audit's names: "logits", "dlogits", "probs"."""
    renamed = {f"fc{len(sizes) - 1}.out": "logits", "loss.dx": "dlogits"}
    return {renamed.get(k, k): v for k, v in inter.items()}


def _case(name: str, rng: np.random.Generator, sizes):
    """(params in torch layout, x (N, D), y (N,)) for one edge case."""
    n = 1 if name == "batch of one" else 8
    params = shared_init.draw(_layers(sizes), rng, np.float64)
    for key in params:
        if key.endswith(".bias"):
            params[key] += 0.1 * rng.standard_normal(params[key].shape)
    x, y = rng.random((n, sizes[0])), rng.integers(0, sizes[-1], n)
    if name == KINK_CASE:
        x[:3] = 0.0
        params[f"{_first(sizes)}.bias"][:] = 0.0     # rows 0-2: every first-layer pre-activation exactly 0
    elif name == "large logits":
        params[f"fc{len(sizes) - 1}.weight"] *= 40
    elif name == "rows on different scales":
        x *= np.geomspace(1, 30, n)[:, None]          # logit ranges differ by rows (the global-max softmax)
    return params, x, y


# --- sizes: the class's own when it fixes them --------------------------------------

def _built_sizes(cls, sizes, spec) -> tuple[int, ...] | None:
    """The layer widths the class's parameters() have when built with ``sizes``, or None if unreadable."""
    try:
        params = cls(tuple(sizes), Config(hidden=tuple(sizes[1:-1]), dtype="float64", manual=spec)).parameters()
    except Exception:   # noqa: BLE001 - ByoSide reports a failing class in one line later
        return None
    if not isinstance(params, dict) or not all(isinstance(v, np.ndarray) for v in params.values()):
        return None
    names = getattr(cls, "names", None)
    if isinstance(names, dict) and set(names) == set(params):
        n_linear = sum(t.endswith(".weight") for t in names.values())
        order = [f"fc{i + 1}" for i in range(n_linear)]
        by_torch = {legacy_name(t, n_linear): params[u] for u, t in names.items()}
        weights = [by_torch.get(f"{layer}.weight") for layer in order]
    else:
        weights = list(params.values())[0::2]
    if not weights or any(w is None or w.ndim != 2 for w in weights):
        return None
    shapes = [w.shape[::-1] if getattr(cls, "weight_layout", "out_in") == "in_out" else w.shape for w in weights]
    if any(shapes[i][1] != shapes[i - 1][0] for i in range(1, len(shapes))):
        return None
    return (shapes[0][1], *(s[0] for s in shapes))


def network_sizes(cls, spec: str) -> tuple[int, ...]:
    """SIZES, unless the class fixes its widths (e.g. builds 784-x-10 whatever it is given): then its
    input and output widths with SIZES' small hidden layers if it accepts them, else all its own."""
    own = _built_sizes(cls, SIZES, spec)
    if own is None or own == SIZES:
        return SIZES
    small = (own[0], *SIZES[1:-1], own[-1])
    return small if _built_sizes(cls, small, spec) == small else own


# --- autograd through the class's own forward ---------------------------------------

def _located(e: BaseException, modules) -> str:
    """'<error> at file.py:line `code`': the deepest frame of the user's code the error passed through."""
    files = {getattr(m, "__file__", None) for m in modules}
    where = None
    tb = e.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename in files:
            where = (tb.tb_frame.f_code.co_filename, tb.tb_lineno)
        tb = tb.tb_next
    text = str(e) if isinstance(e, Unsupported) else f"{type(e).__name__}: {e}"
    if where:
        code = linecache.getline(*where).strip()
        text += f" at {Path(where[0]).name}:{where[1]}" + (f" `{code}`" if code else "")
    return text


def _slope(inter: dict, layer: str):
    """(pre-activations, d act / d pre elementwise) of ``layer`` when the class exposes both, else None."""
    # the first hidden layer, under today's names or the old ones a class may still expose
    pairs = [(f"{layer}.out", "relu1.out"), ("hidden.pre", "hidden.act"), ("hidden1.pre", "hidden1.act")]
    pre, act = next(((inter[a], inter[b]) for a, b in pairs if a in inter and b in inter), (None, None))
    if not (isinstance(pre, torch.Tensor) and isinstance(act, torch.Tensor)) or pre is act \
            or pre.shape != act.shape or not (pre.requires_grad and act.requires_grad):
        return None
    try:     # a nicety for the kink's message: never a reason to give up autograd
        (g,) = torch.autograd.grad(act, pre, torch.ones_like(act), retain_graph=True, allow_unused=True)
    except RuntimeError:
        return None
    return None if g is None else (pre.detach().numpy().copy(), g.numpy().copy())


def _autograd(side: ByoSide, x: np.ndarray, y: np.ndarray, layer: str) -> tuple[dict[str, np.ndarray], tuple | None]:
    """(gradients of the class's own forward by torch autograd in torch layout, plus "dlogits" when the
    class exposes its logits; the first layer's activation slope, see ``_slope``). Raises Unavailable."""
    net = side.net
    params = side._call("parameters")
    xs, ys = side._inputs(x, y)
    try:
        run = Tracked(net, params)
    except Untrackable as e:
        raise Unavailable(str(e)) from None
    try:
        with run, numpy_as_torch(run.modules):
            out = net.forward(constant(xs), constant(ys))
            loss = out[0] if isinstance(out, tuple) else out
            if not (isinstance(loss, torch.Tensor) and loss.requires_grad and loss.numel() == 1):
                raise Unavailable("the loss forward() returns does not depend on the arrays parameters() returns "
                                  "(converted to a float, or computed from other copies)")
            inter = net.intermediates() if callable(getattr(net, "intermediates", None)) else {}
            inter = inter if isinstance(inter, dict) else {}
            logits = inter.get("logits", inter.get(f"{side.layers[-1].name}.out"))
            logits = logits if isinstance(logits, torch.Tensor) and logits.requires_grad else None
            if logits is not None:
                logits.retain_grad()
            slope = _slope(inter, layer)
            loss.reshape(()).backward()
            grads = run.grads()
            dlogits = None if logits is None or logits.grad is None else logits.grad.numpy().copy()
    except Unavailable:
        raise
    except Exception as e:    # noqa: BLE001 - the code is the user's: any failure means "unavailable", said where
        raise Unavailable(_located(e, run.modules)) from None
    found = {name: np.array(view) for name, view in side._adapt(grads, "autograd").items()}
    if dlogits is not None:
        found["dlogits"] = dlogits.T if side.layout["samples"] == "columns" else dlogits
    return found, slope


def _nudged(side: ByoSide, x, y, layer: str, delta: float):
    """``_autograd`` with the first layer's biases moved by ``delta``: the one-sided derivatives at the kink."""
    bias = side.params[f"{layer}.bias"]
    saved = bias.copy()
    np.copyto(bias, saved + delta)
    try:
        return _autograd(side, x, y, layer)
    finally:
        np.copyto(bias, saved)


# --- central (and one-sided) differences through the NumPy forward -----------------

def _differences(side: ByoSide, name: str, x, y, rng, sided: bool):
    """(flat indices, {"central": estimates}) of dL/d<name> through the NumPy forward; with ``sided``,
    {"above": ..., "below": ...}, the second-order one-sided differences (a kink on one side is not crossed)."""
    view = side.params[name]
    idx = rng.choice(view.size, size=min(FD_COORDS, view.size), replace=False)
    steps = (-2, -1, 0, 1, 2) if sided else (-1, 1)
    est = {k: [] for k in (("above", "below") if sided else ("central",))}
    for i in idx:
        pos = np.unravel_index(i, view.shape)
        old = view[pos]
        f = {}
        for s in steps:
            view[pos] = old + s * FD_STEP
            f[s] = side._forward(x, y)[0]
        view[pos] = old
        if sided:
            est["above"].append((-3 * f[0] + 4 * f[1] - f[2]) / (2 * FD_STEP))
            est["below"].append((3 * f[0] - 4 * f[-1] + f[-2]) / (2 * FD_STEP))
        else:
            est["central"].append((f[1] - f[-1]) / (2 * FD_STEP))
    return idx, {k: np.array(v) for k, v in est.items()}


def _rel(m, r) -> float:
    """||m - r|| / ||r|| of the flattened arrays (diagnosis.rel: 0 if both are zero, inf if only r is)."""
    return rel(np.ravel(m), np.ravel(r))


# --- the kink ------------------------------------------------------------------------

def _kink_slope(slope, kink_pre) -> float | None:
    """The one derivative the activation has at the kink elements, or None if not one value / unknown."""
    if slope is None or kink_pre is None or slope[1].shape != kink_pre.shape:
        return None
    values = np.unique(slope[1][kink_pre == 0])
    return float(values[0]) if len(values) == 1 else None


def _convention(hand, point, sides: dict, slopes: dict, by_fd: bool) -> str | None:
    """The kink convention ``hand`` follows where it differs from autograd at the point, or None if
    it follows neither one-sided derivative. ``sides``: {"above"/"below": one-sided reference}."""
    matches = [s for s, ref in sides.items() if _rel(hand, ref) <= (FD_TOL if by_fd else AUTOGRAD_TOL)]
    if not matches:
        return None
    side = matches[0]
    sign = ">" if side == "above" else "<"
    if slopes.get(side) is not None and slopes.get("point") is not None:
        return (f"at z == 0 exactly your backward uses derivative {slopes[side]:g} (the slope for z {sign} 0); "
                f"torch uses {slopes['point']:g}: a convention, not a slip")
    if by_fd:
        return (f"at z == 0 exactly your backward uses the derivative from z {sign} 0 ({RELU[side]}; judged by "
                "one-sided differences, autograd unavailable); torch's ReLU uses the one from z < 0 (0): "
                "a convention, not a slip")
    torch_side = next((s for s, ref in sides.items() if point is not None and _rel(point, ref) <= AUTOGRAD_TOL), None)
    theirs = (f"the one from z {'>' if torch_side == 'above' else '<'} 0 ({RELU[torch_side]})" if torch_side
              else "neither one-sided value (a tie shares the gradient)")
    return (f"at z == 0 exactly your backward uses the derivative from z {sign} 0 ({RELU[side]}); torch (autograd "
            f"of your forward, which exposes no hidden pre-activations and activations) uses {theirs}: "
            "a convention, not a slip")


# --- the audit -------------------------------------------------------------------------

def audit(manual: str, seed: int = 0) -> AuditResult:
    """Each derivation of the class ``manual`` (``seed``, ``pkg.module:Class`` or ``file.py:Class``) against
    autograd and central differences: the rows of the table, and findings about the forward (e.g. the
    softmax's epsilon). InputError for a class that cannot be loaded or audited."""
    if manual == "builtin":
        raise InputError(f"audit checks a class ({setting('manual', 'seed')} or pkg.module:Class); the built-in "
                         "manual/ is checked against autograd and finite differences by its test suite")
    spec = manual
    cls = load_class(spec)
    rng = np.random.default_rng(seed)
    sizes = network_sizes(cls, spec)
    layer = _first(sizes)
    config = Config(hidden=sizes[1:-1], dtype="float64", manual=spec)
    formulas = dict(getattr(cls, "formulas", {}))
    found: dict[str, dict[str, _Seen]] = {}      # derivation -> {case: what was seen}
    forward_notes: dict[str, list] = {}           # finding kind -> [(case, text)]
    unavailable = None
    for case in CASES:
        params, x, y = _case(case, rng, sizes)
        side = ByoSide(cls, _layers(sizes), config, init=params)
        _, scores = side._forward(x, y)
        inter = {k: np.array(v) for k, v in _named(side.intermediates(), sizes).items()}
        hand = {k: np.array(v) for k, v in side._adapt(side._call("backward"), "backward()").items()}
        for key, value in hand.items():
            if not np.all(np.isfinite(value)):
                raise InputError(f"{cls.__name__}.backward() returned non-finite values for {key} "
                                 f"on finite inputs (case '{case}')")
        after_backward = _named(side.intermediates(), sizes)      # some classes set dlogits in backward()
        if "dlogits" in after_backward:
            hand = {"dlogits": np.array(after_backward["dlogits"]), **hand}
        if "probs" in inter:
            note = describe_softmax(inter["probs"], inter.get("logits", scores))
            if note:
                forward_notes.setdefault(note.split(":")[0], []).append((case, note))
        try:
            auto, slope = _autograd(side, x, y, layer)
        except Unavailable as e:
            auto, slope, unavailable = {}, None, unavailable or str(e)
        kink = _kink_references(side, x, y, layer, hand, auto, slope, inter) if case == KINK_CASE else None
        for name, value in hand.items():
            seen = _Seen(value, auto.get(name), math.nan)
            if name != "dlogits":
                crosses = case == KINK_CASE and name.startswith(f"{layer}.")
                idx, est = _differences(side, name, x, y, rng, sided=crosses)
                errs = {k: _rel(value.ravel()[idx], e) for k, e in est.items()}
                seen.fd = min(errs.values())         # at the kink: the nearer one-sided derivative
                if crosses and seen.auto is None and errs["above"] < errs["below"] and errs["above"] <= FD_TOL \
                        and _rel(est["above"], est["below"]) > FD_TOL:
                    seen.kink = _convention(value.ravel()[idx], None, est, {}, by_fd=True)
            if kink and name in kink:
                seen.kink = kink[name]
            found.setdefault(name, {})[case] = seen
        for claim, (formula, fn, hand_row) in (getattr(side.net, "claims", lambda: {})()).items():
            h, a = _claim(fn, hand_row, inter, side)
            found.setdefault(claim, {})[case] = _Seen(h, a, math.nan, inter["probs"])
            formulas.setdefault(claim, formula)
    rows = [_row(name, formulas.get(name, f"backward()[{name!r}]"), per_case, unavailable, sizes)
            for name, per_case in found.items()]
    notes = [f"forward (cases {', '.join(repr(c) for c, _ in found_in)}): {found_in[-1][1]}"
             for found_in in forward_notes.values()]
    if sizes != SIZES:
        notes.append(f"the class fixes its own widths: audited as {'-'.join(map(str, sizes))}")
    return AuditResult(rows, notes + ([f"autograd unavailable: {unavailable}"] if unavailable else []), manual)


def _kink_references(side, x, y, layer, hand, auto, slope, inter) -> dict[str, str]:
    """{derivation: convention note} for each hand derivation that differs from autograd at the kink
    but equals autograd's derivative from one side of it (the biases nudged by ±KINK_NUDGE)."""
    differ = [n for n, h in hand.items() if n in auto and _rel(h, auto[n]) > AUTOGRAD_TOL]
    if not differ:
        return {}
    try:
        above, slope_above = _nudged(side, x, y, layer, +KINK_NUDGE)
        below, slope_below = _nudged(side, x, y, layer, -KINK_NUDGE)
    except Unavailable:
        return {}
    kink_pre = slope[0] if slope is not None else None
    slopes = {"point": _kink_slope(slope, kink_pre), "above": _kink_slope(slope_above, kink_pre),
              "below": _kink_slope(slope_below, kink_pre)}
    notes = {}
    for name in differ:
        note = _convention(hand[name], auto[name], {"above": above[name], "below": below[name]}, slopes, by_fd=False)
        if note:
            notes[name] = note
    return notes


def _claim(fn, hand_row, inter, side):
    """(hand Jacobian blocks, autograd Jacobian blocks) of ``fn`` at the case's logits, row by row."""
    logits = torch.tensor(inter["logits"])
    with numpy_as_torch(modules_of(side.net)):
        jac = torch.autograd.functional.jacobian(fn, logits).numpy()      # (N, K, N, K)
    n = logits.shape[0]
    probs = inter["probs"]
    return np.stack([hand_row(probs[i]) for i in range(n)]), np.stack([jac[i, :, i, :] for i in range(n)])


def _row(name: str, formula: str, per_case: dict[str, _Seen], unavailable, sizes) -> AuditRow:
    judged = {c: s for c, s in per_case.items() if s.kink is None}
    kinks = sorted({s.kink for s in per_case.values() if s.kink})
    auto_errs = {c: _rel(s.hand, s.auto) for c, s in judged.items() if s.auto is not None}
    fd_errs = [s.fd for s in judged.values() if not math.isnan(s.fd)]
    auto_worst = max(auto_errs.values()) if auto_errs else math.nan
    fd_worst = max(fd_errs) if fd_errs else math.nan
    convention = "; ".join(f"{k} (case '{KINK_CASE}')" for k in kinks)
    if math.isnan(auto_worst) and math.isnan(fd_worst) and not kinks:
        return AuditRow(name, formula, auto_worst, fd_worst, "unchecked",
                        "neither autograd nor central differences could reach it" + (f" ({unavailable})" if unavailable else ""))
    ok = (auto_worst <= AUTOGRAD_TOL or math.isnan(auto_worst)) and (fd_worst <= FD_TOL or math.isnan(fd_worst))
    if ok:
        return AuditRow(name, formula, auto_worst, fd_worst, "convention" if kinks else "ok", convention)
    if not auto_errs:
        finding = f"central differences disagree ({fd_worst:.1e})"
    elif (seen := per_case.get("random")) is not None and seen.hand.ndim == 3:      # a Jacobian claim, (N, K, K)
        finding = _jacobian_finding(seen.hand, seen.auto, seen.probs)
    else:
        case = "random" if "random" in auto_errs else max(auto_errs, key=auto_errs.get)
        h, a = per_case[case].hand, per_case[case].auto
        finding = describe(h, a, factors(len(a) if name == "dlogits" else 8, sizes[-1], 1.0)) + f" (case '{case}')"
        residual = {c: _residual(judged[c].hand, judged[c].auto) for c in auto_errs}
        beyond = {c: r for c, r in residual.items() if r > AUTOGRAD_TOL}
        if beyond:
            finding += "; beyond a constant factor, off in " + ", ".join(f"'{c}' ({r:.1e})" for c, r in beyond.items())
    return AuditRow(name, formula, auto_worst, fd_worst, "FAIL", finding + (f"; {convention}" if convention else ""))


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
        lines.append(f"{r.derivation:<{w}}  {r.formula:<{f}}  {_err(r.autograd_err):>11}  {_err(r.fd_err):>14}  {r.verdict}")
    return "\n".join(lines)

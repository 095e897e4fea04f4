"""``lockstep layers FILE.py``: every function-style layer in a file against torch, one layer at a time.

The file is a cs231n-style ``layers.py``: pairs ``X_forward(...) -> (out, cache)`` and
``X_backward(dout, cache) -> gradients``, and losses ``X(x, y) -> (loss, dx)``. Each pair whose
name (or mapping, below) is a layer of comparisons/explain/layer_refs.py is run on that layer's
cases (random inputs in float64 and float32, and edge cases: exact zeros at a kink, tied maxima,
N = 1, a constant feature, masked time steps); its forward outputs (and what it leaves in a param
dict: batchnorm's running statistics) and every gradient its backward returns are compared with
the layer's torch reference and autograd of it, given the same upstream gradient.

The gate is the run's (comparisons/check/rules.py). Direct: relative L2 within 32 ulps of the
dtype. Else the referee: the reference recomputed in float64 from the same inputs, and probes
measuring this very computation's rounding (float32 against float64 from the same inputs, and from
inputs shifted by 1e-3, as comparisons/explain/referee.py does; not shifted for cases on branch
points); the value passes within FACTOR x that rounding + the floor. At branch points a backward
may take another derivative as right as torch's (a ReLU's slope 1 at 0, another of tied maxima):
reported as a convention, not failed. A failing value is explained by the diagnosis relations
(comparisons/explain/relations.py: a constant factor, a transpose, an added term, a subset ...) and
by two more about batches: a gradient not summed over an axis, and one sample's gradient alone.

Naming: cs231n's names are found as they are. Other names are declared in the file:

    LOCKSTEP_LAYERS = {"affine": ("dense_fwd", "dense_bwd"),      # known layer -> (forward, backward, ...)
                       "softmax_loss": "my_softmax_loss",         # a loss: one function
                       "conv": None}                              # not checked (listed as such)

A function pair that is not a known layer is listed as "not checked", never skipped silently.
"""
import copy
import inspect
import itertools
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from comparisons import heartbeat
from comparisons.check.rules import DIRECT, EPS, FACTOR, floor, rel64
from comparisons.errors import InputError, describe, setting
from comparisons.explain.layer_refs import KNOWN, Case, Known
from comparisons.explain.relations import Context, explain
from comparisons.sides.byo import _import

MAP_NAME = "LOCKSTEP_LAYERS"
PROBE = "float32"
PERTURBED = 2          # shifted probes beside the one from the case's own inputs (as the referee's)
SHIFT = 1e-3
COLUMNS = ["layer", "forward", "backward", "case", "dtype", "output", "verdict", "rule", "rel_l2", "tolerance",
           "referee_diff", "noise", "finding"]
TORCH = {"float64": torch.float64, "float32": torch.float32}
KEEP_SIGMAS = 5        # a dropout mask's kept fraction further than this many binomial standard deviations from
                       # p is not a mask of keep probability p (a false alarm once in 1.7 million cases)


@dataclass
class Check:
    """One compared value: a row of layers.csv."""
    layer: str
    forward: str
    backward: str
    case: str
    dtype: str
    output: str
    verdict: str          # pass | FAIL | convention
    rule: str             # direct | referee | check (a structural or statistical check)
    rel_l2: float         # against the reference in the case's dtype
    tolerance: float
    referee_diff: float   # against the float64 referee (NaN: not run)
    noise: float          # the rounding the probes measured (NaN: not run)
    finding: str


@dataclass
class Layer:
    """One line of the output."""
    name: str
    functions: str
    verdict: str          # pass | FAIL | convention | not checked
    text: str
    checks: list

    def line(self) -> str:
        return f"{self.name} ({self.functions}): {self.verdict}" + (f" {self.text}" if self.text else "")


# --- discovery ----------------------------------------------------------------------------------

def _functions(module) -> dict:
    return {k: v for k, v in vars(module).items() if inspect.isfunction(v) and not k.startswith("_")}


def discover(module, path: str) -> tuple[list, list]:
    """([(Known, forward fn, [(backward name, fn)])], [Layer not checked]) for the module."""
    funcs = _functions(module)
    declared = getattr(module, MAP_NAME, {})
    if not isinstance(declared, dict):
        raise InputError(f"{path}: {MAP_NAME} must be a dict {{known layer: (forward, backward, ...)}}, "
                         f"got {type(declared).__name__}")
    found, skipped, claimed = [], [], set()
    for name, known in KNOWN.items():
        if name in declared:
            names = declared[name]
            if names is None:
                skipped.append(Layer(name, known.pair, "not checked", f"({MAP_NAME} says so)", []))
                claimed.update((known.forward, *known.backwards))
                continue
            names = (names,) if isinstance(names, str) else names
            if not isinstance(names, (tuple, list)) or not names or not all(isinstance(n, str) for n in names):
                raise InputError(f"{path}: {MAP_NAME}[{name!r}] must be a function name or a tuple of names")
            missing = [n for n in names if n not in funcs]
            if missing:
                raise InputError(f"{path}: {MAP_NAME}[{name!r}] names {', '.join(missing)}, not a function of the file")
            forward, backwards = names[0], list(names[1:])
            if known.loss and backwards:
                raise InputError(f"{path}: {MAP_NAME}[{name!r}]: {name} is a loss, one function (loss, dx)")
        else:
            forward, backwards = known.forward, [b for b in known.backwards if b in funcs]
            if forward not in funcs:
                continue
        claimed.update((forward, *backwards))
        _signature(path, name, forward, forward, funcs[forward], len(known.params))
        for b in backwards:
            _signature(path, name, forward, b, funcs[b], len(known.outputs) + 1)
        found.append((known, forward, funcs[forward], [(b, funcs[b]) for b in backwards]))
    unknown = [n for n in declared if n not in KNOWN]
    if unknown:
        raise InputError(f"{path}: {MAP_NAME} names {', '.join(map(repr, unknown))}: not a known layer "
                         f"(known: {', '.join(KNOWN)})")
    for name in funcs:
        m = re.fullmatch(r"(.+)_forward(_\w+)?", name)
        if name in claimed or not m:
            continue
        back = [b for b in funcs if b not in claimed and re.fullmatch(rf"{re.escape(m[1])}_backward{m[2] or ''}\w*", b)]
        claimed.update((name, *back))
        skipped.append(Layer(m[1], "/".join((name, *back)), "not checked",
                             f"(not a known layer; if it is one, name it in {MAP_NAME})", []))
    for name in funcs:
        if name not in claimed and re.fullmatch(r".+_backward\w*", name):
            skipped.append(Layer(name.split("_backward")[0], name, "not checked", "(no forward of this name)", []))
    return found, skipped


def _signature(path, layer, forward, name, fn, count) -> None:
    """The function takes ``count`` positional arguments (cs231n's), or InputError naming it."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p for p in positional if p.default is p.empty]
    varargs = any(p.kind == p.VAR_POSITIONAL for p in params)
    if len(required) <= count and (len(positional) >= count or varargs):
        return
    known = KNOWN[layer]
    douts = ["dout" if o == "out" else f"d{o}" for o in known.outputs]
    want = f"({', '.join(known.params if name == forward else (*douts, 'cache'))})"
    raise InputError(f"{path}: {name}{inspect.signature(fn)} does not take {layer}'s arguments {want}")


# --- running the student's code -------------------------------------------------------------------

def _cast(value, dtype):
    if isinstance(value, np.ndarray) and np.issubdtype(value.dtype, np.floating):
        return value.astype(dtype)
    if isinstance(value, dict):
        return {k: _cast(v, dtype) for k, v in value.items()}
    return copy.deepcopy(value)


class Raised(Exception):
    """The student's function raised (or called sys.exit): the value's finding."""


def _call(fn, name, *args):
    heartbeat.current.calling(f"{name}()")
    try:
        with np.errstate(all="ignore"):
            return fn(*args)
    except KeyboardInterrupt:
        raise
    except BaseException as e:   # noqa: BLE001 - the student's code: a finding, not a crash of lockstep
        raise Raised(f"{name}() raised {describe(e)}" if not isinstance(e, SystemExit)
                     else f"{name}() {describe(e)}") from None


def _unpack(result, count: int, what: str, names: tuple):
    """``count`` values from a function's return (a tuple; one value alone when count is 1)."""
    if count == 1 and not isinstance(result, tuple):
        return (result,)
    if not isinstance(result, tuple) or len(result) != count:
        got = f"{len(result)} values" if isinstance(result, tuple) else type(result).__name__
        raise Raised(f"{what} returned {got}, expected ({', '.join(names)})")
    return result


# --- the reference ------------------------------------------------------------------------------

def _tensors(args: dict, dtype: str, wanted: set):
    out = {}
    for k, v in args.items():
        if isinstance(v, np.ndarray) and np.issubdtype(v.dtype, np.floating):
            out[k] = torch.tensor(v, dtype=TORCH[dtype], requires_grad=k in wanted)
        elif isinstance(v, np.ndarray):
            out[k] = torch.from_numpy(v.astype(np.int64) if v.dtype != bool else v.copy())
        elif isinstance(v, dict):
            out[k] = {kk: torch.tensor(vv, dtype=TORCH[dtype]) if isinstance(vv, np.ndarray) else vv
                      for kk, vv in v.items()}
        else:
            out[k] = v
    return out


def reference(known: Known, args: dict, seen: dict, douts: dict, dtype: str, grads: bool = True) -> dict:
    """{(kind, name): array}: the reference's outputs ("out"), extras ("extra") and gradients ("grad")
    computed in ``dtype`` from ``args`` with the upstream gradients ``douts``."""
    wanted = [g[1:] for g in known.grads]
    t = _tensors(args, dtype, set(wanted))
    with torch.enable_grad():
        outs = known.reference(t, seen)
        values = {("out", o): outs[o].detach().numpy().copy() for o in known.outputs}
        values.update({("extra", f"{d}['{k}']"): outs[k].detach().numpy().copy() for d, k in known.extras
                       if k in outs})
        if known.grads and grads:
            ys = [outs[o] for o in known.outputs]
            gs = [torch.ones_like(y) if known.loss else torch.tensor(douts[o], dtype=TORCH[dtype])
                  for y, o in zip(ys, known.outputs)]
            grads = torch.autograd.grad(ys, [t[w] for w in wanted], gs, allow_unused=True)
            values.update({("grad", g): (np.zeros(t[w].shape) if d is None else d.numpy().copy())
                           for g, w, d in zip(known.grads, wanted, grads)})
    return values


def _perturb(args: dict, rng) -> dict:
    def shift(v):
        if isinstance(v, np.ndarray) and np.issubdtype(v.dtype, np.floating):
            return v.astype(np.float64) * (1 + SHIFT * rng.uniform(-1, 1, v.shape))
        if isinstance(v, dict):
            return {k: shift(x) for k, x in v.items()}
        return v
    return {k: shift(v) for k, v in args.items()}


class Referee:
    """The float64 reference from the case's inputs and the rounding of each value, measured by probes."""

    def __init__(self, known, args, seen, douts, dtype, branch):
        up = _cast(args, np.float64)
        self.ref = reference(known, up, seen, douts, "float64")
        pairs = [(reference(known, up, seen, douts, PROBE), self.ref)]
        if not branch:
            rng = np.random.default_rng(0)
            for _ in range(PERTURBED):
                shifted = _perturb(up, rng)
                pairs.append((reference(known, shifted, seen, douts, PROBE),
                              reference(known, shifted, seen, douts, "float64")))
        self.pairs = pairs
        self.scale = EPS[dtype] / EPS[PROBE]

    def noise(self, key) -> float:
        return max(rel64(p[key], q[key]) * self.scale for p, q in self.pairs)

    def coarse(self, key) -> tuple:
        """("float32", how far a float32 computation of this value is from float64, the float32 computation from
        the case's own inputs): for relations.coarser_dtype."""
        return PROBE, max(rel64(p[key], q[key]) for p, q in self.pairs), self.pairs[0][0][key]


# --- relations about batches --------------------------------------------------------------------

def unsummed(m, r, allow) -> str | None:
    """m keeps axes the reference sums over (a parameter's gradient per sample or per position)."""
    if m.size <= r.size or m.ndim < r.ndim or r.size == 0 or m.size % r.size:
        return None
    for k in range(1, m.ndim + 1):
        for axes in itertools.combinations(range(m.ndim), k):
            summed = m.sum(axis=axes)
            if summed.size == r.size and rel64(summed.reshape(r.shape), r) <= allow:
                return (f"not summed over axis {axes[0]}" if k == 1 else f"not summed over axes {axes}") + \
                    f": the manual value has shape {m.shape}; summed there, it is the reference {r.shape}"
    return None


def one_sample(m, r, per_sample: list, allow) -> str | None:
    """m is one sample's gradient, or the batch's mean where the sum is meant, etc.: m equals one of
    ``per_sample`` (the reference's gradient from each sample alone)."""
    if m.shape != r.shape or len(per_sample) < 2:
        return None
    for n, g in enumerate(per_sample):
        if rel64(m, g) <= allow:
            return (f"the manual value is sample {n}'s gradient alone (of N = {len(per_sample)}): the sum over the "
                    f"batch is missing (assigned where it should accumulate?)")
    return None


BATCHED = {"x", "y", "mask", "prev_h", "prev_c", "h0"}   # arguments with a batch axis, for one_sample


def _per_sample(known: Known, args: dict, douts: dict, grad: str) -> list:
    if known.name in ("batchnorm", "spatial_batchnorm", "dropout") or grad[1:] in BATCHED:
        return []
    n = args["x"].shape[0]
    found = []
    for i in range(n):
        one = {k: (v[i:i + 1] if k in BATCHED and isinstance(v, np.ndarray) else v) for k, v in args.items()}
        d = {k: v[i:i + 1] for k, v in douts.items()}
        found.append(reference(known, one, {}, d, "float64")[("grad", grad)])
    return found


# --- checking one layer -------------------------------------------------------------------------

class LayerCheck:
    def __init__(self, known: Known, forward: str, fn, backwards: list, seed: int):
        self.known, self.forward, self.fn, self.backwards = known, forward, fn, backwards
        self.rng = np.random.default_rng([seed, list(KNOWN).index(known.name)])
        self.checks: list[Check] = []

    def run(self) -> Layer:
        for case in self.known.cases(self.rng):
            douts64 = {o: self.rng.standard_normal(self._out_shape(case, o)) for o in self.known.outputs} \
                if not self.known.loss else {}
            for dtype in case.dtypes:
                self._case(case, dtype, douts64)
        return self._summary()

    def _out_shape(self, case, output):
        if self.known.name == "dropout":
            return case.args["x"].shape
        return reference(self.known, case.args, {}, {}, "float64", grads=False)[("out", output)].shape

    def _add(self, case, dtype, backward, output, verdict, rule, rel, tol, ref=math.nan, noise=math.nan, finding=""):
        self.checks.append(Check(self.known.name, self.forward, backward, case.name, dtype, output, verdict, rule,
                                 rel, tol, ref, noise, finding))

    def _case(self, case: Case, dtype: str, douts64: dict) -> None:
        known = self.known
        args = _cast(case.args, dtype)
        given = copy.deepcopy(args)
        try:
            result = _call(self.fn, self.forward, *[given[p] for p in known.params])
            if known.loss:
                values = _unpack(result, 2, f"{self.forward}()", ("loss", "dx"))
                seen, manual_grads, cache = {"loss": values[0]}, {"dx": values[1]}, None
            else:
                values = _unpack(result, len(known.outputs) + 1, f"{self.forward}()", (*known.outputs, "cache"))
                seen, cache = dict(zip(known.outputs, values[:-1])), values[-1]
        except Raised as e:
            self._add(case, dtype, "", known.outputs[0], "FAIL", "check", math.nan, math.nan, finding=str(e))
            return
        douts = {o: d.astype(dtype) for o, d in douts64.items()}
        douts_up = {o: d.astype(np.float64) for o, d in douts.items()}
        direct = reference(known, args, seen, douts, dtype)
        referee = None

        def judge(backward, key, label, m):
            nonlocal referee
            r = direct[key]
            tol = DIRECT[dtype]
            try:
                m = np.asarray(m, dtype=np.float64)
            except (TypeError, ValueError):
                self._add(case, dtype, backward, label, "FAIL", "check", math.nan, tol,
                          finding=f"not an array of numbers ({type(m).__name__})")
                return
            if m.shape == r.shape and (err := rel64(m, r)) <= tol:
                self._add(case, dtype, backward, label, "pass", "direct", err, tol)
                return
            err = rel64(m, r) if m.shape == r.shape else math.nan
            if referee is None:
                referee = Referee(known, args, seen, douts_up, dtype, case.branch)
            ref = referee.ref[key]
            noise = referee.noise(key)
            allow = FACTOR * noise + floor(dtype)
            if m.shape == r.shape and (d := rel64(m, ref)) <= allow:
                self._add(case, dtype, backward, label, "pass", "referee", err, allow, d, noise)
                return
            d = rel64(m, ref) if m.shape == ref.shape else math.nan
            verdict, finding = "FAIL", self._explain(case, args, seen, douts_up, key, m, ref, max(allow, tol), manual_grads,
                                                    referee.coarse(key) if dtype == "float64" else None)
            if finding.startswith("convention: "):
                verdict, finding = "convention", finding[len("convention: "):]
            self._add(case, dtype, backward, label, verdict, "referee", err, allow, d, noise, finding)

        manual_grads = manual_grads if known.loss else {}
        for o in known.outputs:
            judge("", ("out", o), o, seen[o])
        for d, k in known.extras:
            key = ("extra", f"{d}['{k}']")
            if key in direct:
                judge("", key, key[1], given[d].get(k) if isinstance(given[d], dict) else None)
        if known.name == "dropout":
            self._keep_rate(case, dtype, args, seen)
        if known.loss:
            judge("", ("grad", "dx"), "dx", manual_grads["dx"])
            return
        if not case.backward:
            return
        for name, fn in self.backwards:
            try:
                result = _call(fn, name, *[douts[o].copy() for o in known.outputs], copy.deepcopy(cache))
                grads = _unpack(result, len(known.grads), f"{name}()", known.grads)
            except Raised as e:
                self._add(case, dtype, name, "", "FAIL", "check", math.nan, math.nan, finding=str(e))
                continue
            manual_grads = dict(zip(known.grads, grads))
            for g in known.grads:
                judge(name, ("grad", g), g, manual_grads[g])

    def _keep_rate(self, case, dtype, args, seen) -> None:
        p = args["dropout_param"]
        if p["mode"] != "train":
            return
        out, x = np.asarray(seen["out"]), args["x"]
        if out.shape != x.shape:            # the output's own row says so
            return
        n = int(np.count_nonzero(x))
        kept = np.count_nonzero(out[x != 0]) / n
        sd = math.sqrt(p["p"] * (1 - p["p"]) / n)
        ok = abs(kept - p["p"]) <= KEEP_SIGMAS * sd
        self._add(case, dtype, "", "mask", "pass" if ok else "FAIL", "check", float(abs(kept - p["p"])), KEEP_SIGMAS * sd,
                  finding="" if ok else f"the mask keeps {kept:.0%} of the units where p = {p['p']:g} is the keep "
                                        f"probability (cs231n: keep with probability p)")

    def _explain(self, case, args, seen, douts, key, m, r, allow, manual_grads, coarse=None) -> str:
        known = self.known
        up = _cast(args, np.float64)
        kind, name = key
        if not np.all(np.isfinite(m)):
            return f"{np.count_nonzero(~np.isfinite(m))} of {m.size} elements are NaN or infinite"
        if kind == "grad" and known.conventions is not None:
            for label, alt in known.conventions(up, douts, manual_grads):
                if name in alt and alt[name].shape == m.shape and rel64(m, alt[name]) <= allow:
                    return f"convention: {label}"
        if known.reread is not None and kind == "out":
            for label, moved in known.reread(up):
                alt = reference(known, moved, {}, douts, "float64")[key]
                if alt.shape == m.shape and rel64(m, alt) <= allow:
                    return label
        if m.shape != r.shape:
            found = unsummed(m, r, allow)
            if found:
                return found
        if kind == "grad":
            found = one_sample(m, r, _per_sample(known, up, douts, name), allow)
            if found:
                return found
        operands = {k: v for k, v in up.items() if isinstance(v, np.ndarray) and v.dtype == np.float64}
        operands.update({f"d{o}" if o != "out" else "dout": v for o, v in douts.items()})
        forward = reference(known, up, seen, {}, "float64", grads=False)
        operands.update({f"the forward's {o}": forward[("out", o)] for o in known.outputs if not known.loss})
        terms = known.terms(up, douts) if kind == "grad" and known.terms is not None else {}
        ctx = Context(constants=known.constants(up), operands=operands, masks=dict(case.masks), coarse=coarse,
                      terms={"time step": terms[name]} if name in terms else {})
        if m.ndim == 0:
            from comparisons.explain.relations import describe_scalar
            return describe_scalar(float(m), float(r), allow, ctx)[0]
        return explain(m, r, allow, ctx)[0]

    def _summary(self) -> Layer:
        functions = "/".join((self.forward, *(b for b, _ in self.backwards)))
        failed = [c for c in self.checks if c.verdict == "FAIL"]
        cases = len({c.case for c in self.checks})
        if failed:
            first = failed[0]
            where = " > ".join(filter(None, (first.backward if len(self.backwards) > 1 else "", first.output)))
            more = list(dict.fromkeys(" > ".join(filter(None, (c.backward if len(self.backwards) > 1 else "",
                                                                 c.output))) for c in failed[1:]))
            more = [w for w in more if w != where]
            measured = f"rel_l2 {first.rel_l2:.1e}, allowed {first.tolerance:.1e}; " \
                if not math.isnan(first.rel_l2) and first.rule != "check" else ""
            text = (f"{where}: {first.finding} ({measured}case {first.case}, {first.dtype})"
                    + (f"; also failing: {', '.join(more)}" if more else ""))
            return Layer(self.known.name, functions, "FAIL", text, self.checks)
        conv = [c for c in self.checks if c.verdict == "convention"]
        worst = {}
        for c in self.checks:
            if c.verdict == "pass" and c.rule != "check" and not math.isnan(c.rel_l2):
                worst[c.dtype] = max(worst.get(c.dtype, 0.0), c.rel_l2)
        shown = ", ".join(f"{v:.1e} {d}" for d, v in worst.items())
        missing = "" if self.known.loss or self.backwards else "; no backward found: the forward alone"
        text = f"({cases} cases, {len(self.checks)} values; worst rel_l2 {shown}{missing})"
        if conv:
            text += f"; a convention at {conv[0].output} (case {conv[0].case}): {conv[0].finding}"
        return Layer(self.known.name, functions, "pass", text, self.checks)


# --- the command --------------------------------------------------------------------------------

def load(path: str):
    if not path.endswith(".py"):
        raise InputError(f"{path}: expected a Python file (FILE.py)")
    heartbeat.current.calling(f"importing {path}")
    try:
        return _import(path)
    except (Exception, SystemExit) as e:    # noqa: BLE001 - any import failure is the user's file: one line
        raise InputError(f"cannot import {path}: {describe(e)}") from None


def check_file(path: str, seed: int = 0) -> list[Layer]:
    """Every layer of the file, checked or listed as not checked. InputError: bad input (exit 2)."""
    module = load(path)
    heartbeat.current.at("layers")
    found, skipped = discover(module, path)
    if not found and not skipped:
        raise InputError(f"{path}: no layer functions found (X_forward/X_backward pairs, or {MAP_NAME})")
    layers = []
    for known, forward, fn, backwards in found:
        heartbeat.current.at(f"layers > {known.name}")
        layers.append(LayerCheck(known, forward, fn, backwards, seed).run())
    return layers + skipped


def exit_code(layers: list[Layer]) -> int:
    return 1 if any(layer.verdict == "FAIL" for layer in layers) else 0


def prepare_out(out: str) -> None:
    """Create ``out`` (before any work: a directory that cannot be made is bad input, nothing checked)."""
    if not str(out).strip():
        raise InputError(f"{setting('out')} is empty: name the directory for layers.csv, layers.html and layers.md")
    try:
        Path(out).mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"{setting('out', out)}: cannot create the directory: {e.strerror or e}") from None


def write_csv(layers: list[Layer], out: str) -> str:
    import pandas as pd
    path = Path(out)
    prepare_out(out)
    rows = [vars(c) for layer in layers for c in layer.checks]
    rows += [dict.fromkeys(COLUMNS, "") | {"layer": l.name, "forward": l.functions, "verdict": l.verdict,
                                            "finding": l.text} for l in layers if not l.checks]
    target = path / "layers.csv"
    try:
        pd.DataFrame(rows, columns=COLUMNS).to_csv(target, index=False)
    except OSError as e:
        raise InputError(f"{setting('out', out)}: cannot write layers.csv: {e.strerror}") from None
    return str(target)

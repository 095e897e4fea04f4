"""Structural relations that may explain how a manual value m differs from the reference r.

Each relation is a hypothesis about m, tested on the numbers: it is reported
only when it *reproduces* m, that is when m and the hypothesis differ by no
more than ``allow`` (relative L2, the same rounding allowance the pass rule
uses). Nothing here knows a particular slip: the hypotheses are generic
(a constant factor, a sign, a transposed layout, permuted rows, a subset of
elements, a sum carried over from the previous step, an added multiple of another
operand, a stale value, a coarser dtype's rounding, one term of a sum over time),
and what they are tested against comes from the context (the run's constants, the
stage's operands, masks the stage knows). When no
hypothesis reproduces m, ``explain`` says how far apart the two are and
nothing more: a wrong cause is worse than none.
"""
import itertools
import math
from dataclasses import dataclass, field

import numpy as np

NAME_MATCH = 1e-3       # a factor is named (N, lr, ...) when within 0.1% of it; the factor itself reproduced m
APPROXIMATE = 1e-3      # closest hypothesis reported as approximate when its residual is below this
MAX_PERMUTE = 512       # rows/columns matched for a permutation (pairwise distances: n^2 d work)


@dataclass
class Context:
    """What a relation may be tested against."""
    constants: dict[str, float] = field(default_factory=dict)     # "N, the batch size" -> 100
    weak: dict[str, float] = field(default_factory=dict)          # named only when nothing above and no plain
                                                                  # number is (names_of): N, K in an update
    ratios: dict[str, float] = field(default_factory=dict)        # what a whole value's factor may also be,
                                                                  # never one term's coefficient (a schedule's
                                                                  # lr at another step over this step's)
    operands: dict[str, np.ndarray] = field(default_factory=dict)  # same-shape arrays an added term may be
    masks: dict[str, np.ndarray] = field(default_factory=dict)     # same-shape boolean arrays
    previous: np.ndarray | None = None                             # this quantity at the previous step
    dtype: str = "float64"                                         # the run's
    combine: bool = False      # the operands span the value (an update): state both as combinations of them
    coarse: tuple | None = None   # float64 runs: ("float32", the float32 probe's distance on this stage[, the
                                  # float32 probe's values from the same inputs])
    terms: dict[str, list] = field(default_factory=dict)   # "time step" -> the reference's terms, one per step,
                                                            # that sum to it (comparisons/explain/time_terms.py)
    fed: tuple | None = None   # the time steps whose incoming gradient (dL/dh from above) is not zero; None: unknown


def rel(m, r) -> float:
    m, r = np.asarray(m, np.float64), np.asarray(r, np.float64)
    num, den = float(np.linalg.norm(m - r)), float(np.linalg.norm(r))
    if den > 0:
        return num / den
    return 0.0 if num == 0 else math.inf


def _residual(m, fitted) -> float:
    """||m - fitted|| / ||m|| (relative to m: a hypothesis must reproduce what the manual side computed)."""
    den = float(np.linalg.norm(m))
    num = float(np.linalg.norm(m - fitted))
    return num / den if den > 0 else (0.0 if num == 0 else math.inf)


PLAIN_DENOMINATORS = (1, 2, 3, 4)   # a plain number: an integer (|n| <= PLAIN_MAX) or p/q with q here, |p/q| <= 10
PLAIN_MAX = 10_000


def plain(value: float) -> float | None:
    """The plain number ``value`` is within NAME_MATCH (±1, 3, 0.5, 0.25, 2/3 ...), or None. A coefficient
    that is one is a number of its own (a forgotten factor, a hard-coded 1), not a multiple of anything."""
    if not math.isfinite(value) or value == 0:
        return None
    for q in PLAIN_DENOMINATORS:
        p = round(value * q)
        if p and abs(value * q - p) <= NAME_MATCH * abs(value * q) and abs(p) <= (PLAIN_MAX if q == 1 else 10 * q):
            return p / q
    return None


def _named(value: float, constants: dict[str, float]) -> list[tuple[str, float]]:
    """(label, the value it names) of each constant ``value`` equals within NAME_MATCH, with its sign (a
    negative coefficient -0.9 is "-1 × the momentum 0.9"); a constant that fits worse than the plain number
    ``value`` is (a coefficient -1 with a momentum of 0.999: sqrt(momentum) = 0.9995) is not named."""
    near = plain(value)
    gap = abs(value - near) if near is not None else math.inf
    out = []
    for label, c in constants.items():
        if not c or not math.isfinite(c):
            continue
        for sign in (1, -1):
            if sign < 0 and c < 0:
                continue
            if abs(value / (sign * c) - 1) <= NAME_MATCH and abs(value - sign * c) <= gap:
                out.append((label if sign > 0 else f"-1 × {label}" if label.startswith("the ") else f"-({label})",
                            sign * c))
    return out


def _simple_multiplier(k: float, constants: dict[str, float]) -> bool:
    """k in "k × the learning rate" says something: one significant digit between 1e-3 and 10 (0.01, -0.9,
    2), or a hyper-parameter of the run itself (its momentum 0.99; not a function of one: 1/momentum =
    1.11111 would make lr/momentum of any lr/0.9)."""
    if not math.isfinite(k) or k == 0:
        return False
    if 1e-3 <= abs(k) <= 10:
        one = float(f"{abs(k):.1g}")
        if abs(abs(k) / one - 1) <= NAME_MATCH:
            return True
    return bool(_named(k, {label: c for label, c in constants.items() if label.startswith("the ") and
                           not label.startswith(("the learning rate", "the schedule's"))}))


def names_of(value: float, constants: dict[str, float], weak: dict[str, float] | None = None) -> list[str]:
    """What ``value`` is, in the run's terms, in this order: the constants (and simple functions of them:
    1 - x, sqrt(x) ... where the stage lists them) it equals, with their sign; nothing more when it is a
    plain number (±1, an integer, a simple fraction: a number of its own); else, when no constant is, the
    ``weak`` ones it equals (those that may but seldom enter the stage: the batch size in an update); then a
    multiple k × the learning rate with k simple (a coefficient -5e-4 with lr = 0.05 is "-0.01 × the
    learning rate 0.05": updates scale with it). Every one that fits is said: they give the same number."""
    if value == 0 or not math.isfinite(value):
        return []
    found = [label for label, _ in _named(value, constants)]
    if plain(value) is not None:
        return found
    if not found:
        found = [label for label, _ in _named(value, weak or {})]
    for label, c in constants.items():
        if c and math.isfinite(c) and label.startswith("the learning rate") and \
                _simple_multiplier(value / c, constants):
            text = label if abs(value / c - 1) <= NAME_MATCH else f"{_fmt(value / c)} × {label}"
            if text not in found and not (abs(value / c + 1) <= NAME_MATCH and f"-1 × {label}" in found):
                found.append(text)
    return found[:4]


def _fmt(value: float) -> str:
    return f"{value:.6g}"


def factor(m, r, allow, ctx) -> str | None:
    rr = float(np.vdot(r, r))
    if rr == 0:
        return None
    s = float(np.vdot(m, r)) / rr
    if not math.isfinite(s) or s == 0 or _residual(m, s * r) > allow:
        return None
    if abs(s - 1) <= allow:
        return None
    if abs(s + 1) <= NAME_MATCH:
        return "a sign flip: manual = -reference"
    named = names_of(s, ctx.ratios | ctx.constants, ctx.weak)
    if m.size < 2 and not _exact_number(s, ctx, allow):
        return None     # one element is a multiple of any other: only a factor that is exactly a number says something
    if not named:
        return f"a constant factor: manual = {_fmt(s)} × reference"
    return f"a constant factor: manual = {_fmt(s)} × reference ({'; '.join(f'= {n}' for n in named)})"


def _exactly_named(value: float, constants: dict[str, float], allow: float) -> list[str]:
    """The constants ``value`` equals within ``allow`` (not NAME_MATCH): what an exact ratio may be called."""
    return [label for label, c in _named(value, constants) if abs(value / c - 1) <= max(allow, 1e-12)]


def _exact_number(s: float, ctx, allow) -> bool:
    """``s`` is, within ``allow`` (not NAME_MATCH), a plain number of size <= 10 or one of the run's constants."""
    p = plain(s)
    if p is not None and abs(p) <= 10 and abs(s - p) <= allow * abs(p):
        return True
    return bool(_exactly_named(s, ctx.ratios | ctx.constants, allow))


def partial_sum(m, r, allow, ctx) -> str | None:
    """The reference is a sum of terms (one per time step: backpropagation through time) and m is one of
    them alone, or the sum of the first or the last few: a sum cut short (an assignment where the loop
    meant +=, the last step's term alone). Tested only when the terms do sum to the reference."""
    for label, terms in ctx.terms.items():
        T = len(terms)
        if T < 2 or any(np.shape(t) != m.shape for t in terms):
            continue
        terms = [np.asarray(t, np.float64) for t in terms]
        if rel(np.sum(terms, axis=0), r) > allow:
            continue
        for t, term in enumerate(terms):
            if np.any(term) and _residual(m, term) <= allow:
                which = " (the first)" if t == 0 else " (the last)" if t == T - 1 else ""
                if ctx.fed == (t,):     # no gradient from above but at t: dh not carried back to earlier steps
                    return (f"manual = the term of {label} t = {t}{which} alone, where the reference sums the terms "
                            f"of all T = {T} {label}s; only {label} {t} receives a gradient from above, so this is "
                            f"a sum over time cut short or dh not carried back through time (here the two give "
                            f"the same value)")
                return (f"a sum over time cut short: manual = the term of {label} t = {t}{which} alone, where the "
                        f"reference sums the terms of all T = {T} {label}s")
        for k in range(2, T):
            for part, span in (("first", terms[:k]), ("last", terms[-k:])):
                if _residual(m, np.sum(span, axis=0)) <= allow:
                    return (f"a sum over time cut short: manual = the sum of the {part} {k} {label}s' terms, where "
                            f"the reference sums all T = {T}")
    return None


def layout(m, r, allow, ctx) -> str | None:
    """A transposed or axis-permuted layout, or a reshape where a transpose was meant."""
    if r.ndim < 2:
        return None
    for axes in itertools.permutations(range(r.ndim)):
        if axes == tuple(range(r.ndim)):
            continue
        moved = np.transpose(r, axes)
        if moved.shape == m.shape and _residual(m, moved) <= allow:
            return ("a transposed layout: manual = reference.T" if r.ndim == 2 else
                    f"the axes are permuted: manual = reference transposed to axes {axes}")
        if moved.size == m.size and moved.shape != m.shape:
            if _residual(m, moved.reshape(m.shape)) <= allow:
                return (f"a reshape where a transpose was meant: manual = reference transposed to axes {axes} "
                        f"then reshaped to {m.shape}")
    if r.ndim == 2 and r.shape[0] != r.shape[1] and m.shape == r.shape:
        if _residual(m, r.reshape(r.shape[::-1]).T) <= allow:
            return ("a reshape where a transpose was meant: in the layout with the other axis first, "
                    "manual = reference reshaped instead of transposed")
    return None


def permutation(m, r, allow, ctx) -> str | None:
    """m's rows (or columns) are r's in another order."""
    if m.ndim != 2:
        return None
    for axis, what in ((0, "rows"), (1, "columns")):
        a, b = (m, r) if axis == 0 else (m.T, r.T)
        if len(a) < 2 or len(a) > MAX_PERMUTE:
            continue
        dist = ((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=2)
        order = dist.argmin(axis=1)
        if len(set(order.tolist())) != len(order) or np.array_equal(order, np.arange(len(order))):
            continue
        if _residual(a, b[order]) <= allow:
            moved = np.flatnonzero(order != np.arange(len(order)))
            pairs = ", ".join(f"{i}<-{order[i]}" for i in moved[:8]) + (", ..." if len(moved) > 8 else "")
            return f"the {what} are permuted: manual {what[:-1]} i holds reference {what[:-1]} j ({pairs})"
    return None


def accumulated(m, r, allow, ctx) -> str | None:
    """m = r + m's own value at the previous step: a sum carried over between steps (gradients never reset
    to zero). Tested before ``added_term``: it fits no coefficient, and an operand may equal the previous
    value by coincidence (a bias that started at 0 is -lr times the first step's gradient after one plain
    step, so "- 20·the parameter" fits an accumulated bias gradient exactly: found by a slip hunt)."""
    prev = ctx.previous
    if prev is None or np.shape(prev) != m.shape or not np.any(prev) or not np.any(r):
        return None
    prev = np.asarray(prev, np.float64)
    if _residual(m, r + prev) <= allow and _residual(m, r) > allow and _residual(m, prev) > allow:
        return ("the manual value is the reference plus its own value at the previous step: a sum carried over "
                "between steps (accumulated, never reset to zero)")
    return None


def added_term(m, r, allow, ctx) -> str | None:
    """m = r + c·X for one operand X, or a combination of the operands, fitted by least squares."""
    candidates = independent(ctx.operands, m.shape, allow)
    d = (m - r).ravel()
    for size in (1, 2):
        for labels in itertools.combinations(candidates, size):
            a = np.stack([candidates[k].ravel() for k in labels], axis=1)
            coef, *_ = np.linalg.lstsq(a, d, rcond=None)
            if _residual(m, r + (a @ coef).reshape(m.shape)) <= allow and np.all(coef != 0):
                # coefficients are not named after the run's constants: an added term's size is its own
                # (a weight decay 0.01 with a batch of 100 is not "1/N")
                terms = " + ".join(f"{_fmt(c)}·{k}" for c, k in zip(coef, labels)).replace("+ -", "- ")
                return f"an added term: manual = reference + {terms}".replace("+ -", "- ")
    return None


def _fit(target, basis: dict, allow) -> np.ndarray | None:
    """Coefficients c with target = sum c_i basis_i exactly (within allow), or None. A term whose
    contribution is within rounding of the target is dropped (a float32 fit gives every operand a
    tiny coefficient) and the rest refitted."""
    a = np.stack([v.ravel() for v in basis.values()], axis=1)
    keep = np.ones(a.shape[1], dtype=bool)
    norm = float(np.linalg.norm(target))
    for _ in range(a.shape[1]):
        coef = np.zeros(a.shape[1])
        if keep.any():
            coef[keep], *_ = np.linalg.lstsq(a[:, keep], target.ravel(), rcond=None)
        small = keep & (np.abs(coef) * np.linalg.norm(a, axis=0) <= allow * norm)
        if not small.any():
            break
        keep &= ~small
    return coef if _residual(target, (a @ coef).reshape(target.shape)) <= allow else None


def _terms(coef, labels, constants, weak=None, versus=None) -> str:
    """The combination's terms, each coefficient with what it equals; with ``versus`` (the reference's
    coefficients) first a plain ratio to the reference's own, which a constant may equal by coincidence
    (half of lr x weight decay 0.1 is lr^2 at lr 0.05: a slip hunt's weight decay halved was named lr^2)."""
    parts = []
    for i, (c, label) in enumerate(zip(coef, labels)):
        if abs(c) < 1e-12:
            continue
        named = names_of(c, constants, weak)
        ratio = plain(c / versus[i]) if versus is not None and abs(versus[i]) >= 1e-12 else None
        if ratio is not None and ratio != 1 and abs(ratio) <= 10:
            named = [f"{_fmt(ratio)} × the reference's"] + named
        parts.append(f"{_fmt(c)}·{label}" + (f" ({'; '.join('= ' + n for n in named)})" if named else ""))
    return " + ".join(parts).replace("+ -", "- ") or "0"


def independent(operands: dict, shape, allow: float = 0.0) -> dict:
    """The operands in order, leaving out any that is (within rounding) a combination of those kept before it:
    with linearly dependent operands (zero-initialised biases make the parameter and the velocity
    proportional) coefficients are not identifiable, so they are not reported."""
    kept: dict = {}
    for label, v in operands.items():
        if v.shape != shape or not np.any(v):
            continue
        if kept:
            a = np.stack([k.ravel() for k in kept.values()], axis=1)
            coef, *_ = np.linalg.lstsq(a, v.ravel(), rcond=None)
            if np.linalg.norm(v.ravel() - a @ coef) <= max(1e-9, 10 * allow) * np.linalg.norm(v):
                continue
        kept[label] = v
    return kept


def combination(m, r, allow, ctx) -> str | None:
    """Both m and r are combinations of the stage's operands (an update of the gradient, the state,
    the parameter): say each one's coefficients."""
    if not ctx.combine:
        return None
    basis = independent(ctx.operands, m.shape, allow)
    if not basis:
        return None
    cm, cr = _fit(m, basis, allow), _fit(r, basis, allow)
    if cm is None or cr is None:
        return None
    return (f"manual = {_terms(cm, basis, ctx.constants, ctx.weak, versus=cr)}, where the reference is "
            f"{_terms(cr, basis, ctx.constants, ctx.weak)}")


def zero(m, r, allow, ctx) -> str | None:
    if not np.any(m) and np.any(r):
        return "the manual value is 0 everywhere"
    return None


def constant(m, r, allow, ctx) -> str | None:
    """m holds one value everywhere (a hard-coded number)."""
    if m.size < 2 or not np.all(m == m.flat[0]):
        return None
    r_text = f"{r.flat[0]:.6g} everywhere" if np.all(r == r.flat[0]) else f"values from {r.min():.6g} to {r.max():.6g}"
    return f"the manual value is {m.flat[0]:.6g} everywhere (the reference: {r_text})"


def stale(m, r, allow, ctx) -> str | None:
    if ctx.previous is not None and ctx.previous.shape == m.shape and _residual(m, ctx.previous) <= allow:
        return "the manual value equals its value at the previous step (stale)"
    return None


def coarser_dtype(m, r, allow, ctx) -> str | None:
    """In a float64 run, m is off by what a float32 computation of the same stage is off by (the
    probe measures that on this very stage). That size alone does not say float32: a constant typed to
    7 digits (sqrt(2/pi) = 0.7978846) or an approximation good to 1e-7 (an erf series) is off by as much.
    float32 is named alone only with evidence of it (``_coarse_evidence``); otherwise both causes are."""
    if ctx.coarse is None:
        return None
    coarse, noise, *more = ctx.coarse
    e = rel(m, r)
    if not (noise > 0 and noise / 16 <= e <= 16 * noise):
        return None
    size = (f"the difference (rel_l2 {e:.1e}) is the size of {coarse} rounding on this stage (a {coarse} "
            f"recomputation is {noise:.1e} off)")
    evidence = _coarse_evidence(m, r, coarse, more[0] if more else None, noise)
    if evidence:
        return f"{size}: part of the manual computation runs in {coarse} ({evidence})"
    digits = round(-math.log10(float(np.finfo(coarse).eps)))
    return (f"{size}, but the manual values are neither {coarse} numbers nor close to the {coarse} recomputation: "
            f"part of the manual computation runs in {coarse}, or a constant or an approximation in it is good to "
            f"only about {digits} significant digits (a constant typed to {digits} digits, a truncated series); "
            f"both give differences of this size")


COARSE_MATCH = 4    # m follows the coarse recomputation when it is this many times closer to it than float64 is


def _coarse_evidence(m, r, coarse, probe, noise) -> str | None:
    """What shows that m was computed in ``coarse``: its values are exactly ``coarse`` numbers (where the
    reference's are not), or it is far closer to the ``coarse`` recomputation of the stage (``probe``,
    from the same inputs) than that is to the float64 reference. None: nothing does."""
    with np.errstate(over="ignore", invalid="ignore"):
        mv, rv = m[m != 0], r[r != 0]
        if mv.size and np.all(mv.astype(coarse).astype(np.float64) == mv) and \
                np.mean(rv.astype(coarse).astype(np.float64) == rv) < 0.5:
            return f"its values are exactly {coarse} numbers, the reference's are not"
    if probe is not None and np.shape(probe) == m.shape:
        d = rel(m, probe)
        if d * COARSE_MATCH <= noise:
            return f"it is {d:.1e} from the {coarse} recomputation, which is {noise:.1e} from float64"
    return None


def subset(m, r, allow, ctx) -> str | None:
    """The difference sits on a few rows, columns or elements, or exactly on a known mask; there,
    say what m equals if an operand or 0 reproduces it."""
    diff = np.abs(m - r)
    scale = np.abs(r).max() if r.size else 0.0
    where = diff > max(allow, 1e-12) * (np.abs(r) + scale)
    count = int(np.count_nonzero(where))
    if count == 0 or count == where.size and not ctx.masks:
        return None
    text = None
    # a mask that holds every differing element, and little else where the reference is not 0 (where it is, a
    # slip confined to the mask may not show: both sides 0). Several may: a ReLU's "input == 0" lies inside its
    # "input <= 0", where the reference is 0 throughout. The most specific one is named: the smallest, so a
    # slip at the kink alone is not blamed on the whole half-space (which would hold it trivially).
    fits = [(int(np.count_nonzero(mask)), label) for label, mask in ctx.masks.items()
            if mask.shape == where.shape and np.array_equal(where, mask & where) and
            np.count_nonzero(mask & ~where) <= 0.01 * max(1, np.count_nonzero(mask)) +
            np.count_nonzero(mask & (np.abs(r) <= allow * scale))]
    if fits:
        size, label = min(fits, key=lambda f: f[0])
        text = f"differs exactly where {label} ({count} of {where.size} elements)"
        if 2 * count < size:     # most of the mask agrees (within rounding): say so, its size is not the difference's
            text = (f"differs only where {label}: at {count} of its {size} elements ({where.size} in all); "
                    f"the others agree")
    if text is None and count > where.size // 2:
        return None
    if text is None:
        text = f"differs at {count} of {where.size} elements"
        if m.ndim == 2:
            for axis, what in ((1, "rows"), (0, "columns")):
                hit = np.flatnonzero(where.any(axis=axis))
                if len(hit) <= max(1, where.shape[1 - axis] // 20):
                    shown = ", ".join(map(str, hit[:8].tolist())) + (", ..." if len(hit) > 8 else "")
                    text = f"differs only in {len(hit)} of {where.shape[1 - axis]} {what} ({shown})"
                    break
        if count <= 8:
            shown = ", ".join(str(tuple(int(i) for i in ix)) for ix in np.argwhere(where)[:8])
            text += f" at {shown}"
    mv = m[where]
    if np.all(np.abs(mv) <= allow * scale):
        return text + "; there the manual value is 0"
    for label, operand in ctx.operands.items():
        if operand.shape == m.shape and _residual(mv, operand[where]) <= allow:
            return text + f"; there the manual value equals {label}"
    for label, mask in ctx.masks.items():
        if mask.shape == m.shape and np.array_equal(where, mask) is False and \
                _residual(m, np.where(mask, r, 0)) <= allow:
            return f"the manual value is the reference only where {label}, 0 elsewhere"
    return text


RELATIONS = (zero, constant, factor, partial_sum, combination, layout, permutation, accumulated, added_term, stale,
             subset, coarser_dtype)
FITTED = (combination, added_term)      # coefficients fitted by least squares: one element fits any operand exactly


def explain(m, r, allow: float, ctx: Context) -> tuple[str, bool]:
    """(what reproduces m, True) from the first relation that does, else (how m and r differ, False)."""
    m, r = np.asarray(m, np.float64), np.asarray(r, np.float64)
    if m.shape != r.shape:
        layout_text = layout(m, r, allow, ctx)
        if layout_text:
            return layout_text, True
        return f"the manual value has shape {m.shape}, the reference {r.shape}", False
    for relation in RELATIONS:
        if m.size < 2 and relation in FITTED:
            continue
        found = relation(m, r, allow, ctx)
        if found:
            return found, True
    return describe(m, r, ctx), False


def describe(m, r, ctx) -> str:
    """How far apart, with the closest constant factor when it nearly fits (said to be approximate)."""
    e = rel(m, r)
    if np.size(m) == 1:     # a cosine, "throughout" and a factor say nothing of one element
        return f"manual {float(m.flat[0]):.6g}, reference {float(r.flat[0]):.6g}: rel_l2 {e:.2e}"
    rr = float(np.vdot(r, r))
    mm = float(np.vdot(m, m))
    cosine = float(np.vdot(m, r)) / math.sqrt(rr * mm) if rr > 0 and mm > 0 else math.nan
    text = f"differs throughout: rel_l2 {e:.2e}, cosine {cosine:.6f}"
    if rr > 0:
        s = float(np.vdot(m, r)) / rr
        res = _residual(m, s * r)
        if res <= APPROXIMATE and abs(s - 1) > APPROXIMATE:
            named = names_of(s, ctx.ratios | ctx.constants, ctx.weak)
            text += (f"; approximately a factor {_fmt(s)}" + (f" ({'; '.join('≈ ' + n for n in named)})" if named else "")
                     + f" (not exactly: {res:.1e} remains, more than rounding)")
    return text


def describe_scalar(m: float, r: float, allow: float, ctx: Context) -> tuple[str, bool]:
    """A scalar (a loss): only a ratio can be said; named when it matches a constant."""
    if r == 0 or not math.isfinite(m / r):
        return f"manual {m:.6g}, reference {r:.6g}", False
    ratio = m / r
    named = names_of(ratio, ctx.ratios | ctx.constants, ctx.weak)
    exact = _exactly_named(ratio, ctx.ratios | ctx.constants, allow)
    if abs(ratio - 1) > allow and exact:
        return f"manual = {_fmt(ratio)} × reference ({'; '.join('= ' + n for n in exact)})", True
    if named:
        return (f"manual {m:.6g}, reference {r:.6g}: ratio {_fmt(ratio)}, approximately "
                f"{' or '.join(named)} (not exactly)"), False
    return f"manual {m:.6g}, reference {r:.6g} (ratio {_fmt(ratio)})", False

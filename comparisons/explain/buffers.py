"""Which convention reproduces a layer's running statistics, when the declared one does not.

A layer's buffers (batchnorm's running_mean and running_var) are a stage of
their own: each moves, during the forward pass, from its value before the step
towards a statistic of the layer's input. The diagnosis recomputes that update
from the manual side's own input to the layer and its buffers before the step
(comparisons/explain/local.py, under the run's declared conventions). When the
manual value is not that, each declared alternative of every convention that
acts on the buffer (manual/conventions.py: BN_MOMENTUM's two forms, BN_RUNNING_VAR's
two variances, and their combinations) is recomputed here in float64 NumPy; one
is named only when it reproduces the manual value within the stage's rounding
allowance (the diagnosis' own, measured by the referee's probes), with the
model token that declares it. Nothing is named otherwise.

Adding a layer kind with buffers: a function here, listed in RULES, giving its
alternatives.
"""
from dataclasses import dataclass

import numpy as np

from manual.conventions import BN_RUNNING_VAR


@dataclass
class Alternative:
    changes: dict          # convention -> (what the manual side would compute, what the run declares), in the
                           # courses' words; empty for the declared conventions
    token: str             # the model token that declares it
    values: dict           # buffer's local key -> its value under these conventions (float64)
    declaration: str = ""  # how a bring-your-own class declares it (comparisons/sides/byo.py CONVENTIONS)


def _fmt(v: float) -> str:
    return f"{v:.6g}"


def _parsed(spec) -> dict:
    """The token's arguments as written: {"momentum": number or "", "cs231n": bool, "biased": bool}."""
    from comparisons.spec import _parse_args
    _, *raw = spec.token.split(":")
    return _parse_args(spec.kind, spec.token, raw, 1)


def _bn_token(number, cs231n: bool, biased: bool) -> str:
    parts = ["batchnorm"] + ([_fmt(number)] if number != "" else [])
    return ":".join(parts + (["cs231n"] if cs231n else []) + (["biased"] if biased else []))


def batchnorm(spec, x, before: dict) -> list[Alternative]:
    """batchnorm's running statistics from the layer's input x ((N, C) or (N, C, H, W): per channel over
    N·H·W values) and the buffers before the step ({"running_mean", "running_var"}), under the declared
    conventions (first) and every alternative: the momentum form (torch's m on the new batch statistic,
    BN_MOMENTUM "torch", or cs231n's m on the old running value, "cs231n"; the token's number read in
    the other form) and the running variance (BN_RUNNING_VAR: torch's unbiased, cs231n's biased)."""
    x = np.asarray(x, np.float64)
    axes = (0, 2, 3) if x.ndim == 4 else (0,)
    n = x.size // x.shape[1]
    mean = x.mean(axis=axes)
    var = ((x - mean.reshape(1, -1, *(1,) * (x.ndim - 2))) ** 2).mean(axis=axes)
    rm0, rv0 = (np.asarray(before[k], np.float64) for k in ("running_mean", "running_var"))
    a = _parsed(spec)
    m = float(spec.kwargs["momentum"])          # torch's: the weight of the new batch statistic
    form = "cs231n" if a["cs231n"] else "torch"
    number = float(a["momentum"]) if a["momentum"] != "" else (1 - m if form == "cs231n" else m)
    declared_var = spec.kwargs.get("running_var", "unbiased")
    what = "channel" if x.ndim == 4 else "feature"
    var_words = {
        "unbiased": f"the unbiased batch variance (sum / (N - 1), N = {n} values per {what}: torch's "
                    f"nn.BatchNorm{'2d' if x.ndim == 4 else '1d'})",
        "biased": f"the biased batch variance (sum / N, N = {n} values per {what}: np.var, as cs231n's "
                  f"batchnorm_forward)"}
    form_words = {
        "torch": f"the momentum {_fmt(number)} weighs the NEW batch statistic (torch's form "
                 f"r <- (1 - m)·r + m·batch, m = {_fmt(number)})",
        "cs231n": f"the momentum {_fmt(number)} weighs the OLD running value (cs231n's form "
                  f"r <- m·r + (1 - m)·batch, m = {_fmt(number)})"}
    other = "torch" if form == "cs231n" else "cs231n"
    out = []
    for swapped in (False, True):
        w = 1 - m if swapped else m          # the weight of the new batch statistic
        for v in (declared_var, "biased" if declared_var == "unbiased" else "unbiased"):
            changes = {}
            if swapped:
                changes["momentum"] = (f"{form_words[other]}: the batch statistic weighted {_fmt(w)}, the old "
                                       f"value {_fmt(1 - w)}", form_words[form])
            if v != declared_var:
                changes["running_var"] = (f"running_var moves towards {var_words[v]}",
                                          f"running_var moves towards {var_words[declared_var]}")
            values = {"running_mean": (1 - w) * rm0 + w * mean,
                      "running_var": (1 - w) * rv0 + w * var * BN_RUNNING_VAR[v](n)}
            written = number if swapped or a["momentum"] != "" else ""
            token = _bn_token(written, (other if swapped else form) == "cs231n", v == "biased")
            attrs = ([f'bn_momentum = "{other}"'] if swapped else []) + \
                ([f'bn_running_var = "{v}"'] if v != declared_var else [])
            if swapped and a["momentum"] == "":     # the form's default number differs: write the number
                attrs.append(f"the momentum written in its model token ({_bn_token(number, False, False)})")
            out.append(Alternative(changes, token, values, " and ".join(attrs)))
    return out


def batchnorm_statistics(spec, x) -> dict:
    """Each buffer's batch statistic (what it moves towards, before any convention's factor)."""
    x = np.asarray(x, np.float64)
    axes = (0, 2, 3) if x.ndim == 4 else (0,)
    mean = x.mean(axis=axes)
    var = ((x - mean.reshape(1, -1, *(1,) * (x.ndim - 2))) ** 2).mean(axis=axes)
    return {"running_mean": ("the batch mean", mean), "running_var": ("the biased batch variance (sum / N)", var)}


RULES = {"batchnorm": batchnorm}
STATISTICS = {"batchnorm": batchnorm_statistics}

# The conventions that act on each buffer: a running variance's convention cannot move running_mean,
# so an alternative that changes it is no explanation of running_mean.
ACTS_ON = {"running_mean": ("momentum",), "running_var": ("momentum", "running_var")}


def alternatives(spec, x, before: dict) -> list[Alternative]:
    """The declared computation first, then each alternative; [] for a kind without buffers."""
    rule = RULES.get(spec.kind.token)
    return rule(spec, x, before) if rule is not None else []


def statistics(spec, x) -> dict:
    """{local key: (words, batch statistic)} of a kind with buffers; {} for others."""
    rule = STATISTICS.get(spec.kind.token)
    return rule(spec, x) if rule is not None else {}


def reproduces(key: str, alts: list[Alternative], manual, allow: float) -> list[Alternative]:
    """The alternatives (not the declared computation) that reproduce the manual value of buffer ``key``
    within ``allow`` and change only conventions that act on it, those with the fewest changes."""
    from comparisons.explain.relations import rel
    acts = ACTS_ON.get(key, ())
    found = [alt for alt in alts[1:] if key in alt.values and set(alt.changes) <= set(acts)
             and rel(manual, alt.values[key]) <= allow]
    fewest = min((len(alt.changes) for alt in found), default=0)
    return [alt for alt in found if len(alt.changes) == fewest]


def finding(spec, key: str, found: list[Alternative], own_class: bool = False) -> str:
    """The alternatives that reproduce buffer ``key``, each with what the run declares instead and the model
    token that would declare it (``own_class``: a bring-your-own class's run, and its class attributes)."""
    def one(alt):
        manual = "; and ".join(words for words, _ in alt.changes.values())
        declared = "; and ".join(words for _, words in alt.changes.values())
        on_class = f"; a class declares it with {alt.declaration}" if own_class and alt.declaration else ""
        return (f"{manual}; the run declares that {declared}. The model token that declares what the manual "
                f"side computes: {alt.token} (this layer's: {spec.token}){on_class}")
    tail = (f" [this reproduces {key} from the manual side's own input to the layer and its {key} before the "
            f"step]")
    if len(found) == 1:
        return one(found[0]) + tail
    return "each of these reproduces it (they agree at this step): " + " | ".join(map(one, found)) + tail

"""The layers ``lockstep layers`` knows: cs231n's function signatures and a torch reference for each.

One entry per layer (``KNOWN``): the forward's name and arguments, the backward(s) and what they
return, the edge cases it is run on, and its reference in torch's own functional ops
(torch.nn.functional or plain tensor ops, differentiated by autograd). Signatures are those of
cs231n's assignments 1-3: ``X_forward(*args) -> (*outputs, cache)``, ``X_backward(*douts, cache)
-> gradients`` (one array, or a tuple in the order of ``grads``); a loss is one function
``X(*args) -> (loss, dx)``. A gradient ``dNAME`` is the derivative with respect to the forward's
argument ``NAME``.

Branch points (a ReLU at exactly 0, tied maxima in a pooling window) are ``conventions``: other
derivatives that are as right as torch's there; a backward that takes one of them is reported as a
convention, not failed. ``reread``: the forward's arguments read differently (an LSTM's gate blocks
in another order), tried when the forward fails, to say how.

Shapes are small (a whole correct file takes seconds): the derivations are the same at any size.
"""
import itertools
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

FLOAT32 = ("float64", "float32")   # the random case runs in both dtypes; edge cases in float64


@dataclass
class Case:
    name: str
    args: dict                       # forward argument -> array (float64, or int), dict or number
    dtypes: tuple = ("float64",)
    backward: bool = True            # False: the forward alone (a test mode)
    branch: bool = False             # inputs sit on branch points: the referee's probes are not shifted
    masks: dict = field(default_factory=dict)   # label -> boolean array over the forward's first argument


@dataclass(frozen=True)
class Known:
    name: str
    forward: str                     # cs231n's function name
    params: tuple                    # its arguments, in order
    outputs: tuple                   # what it returns before the cache; a loss: ("loss",)
    reference: Callable              # (args as tensors/values, the forward's own outputs) -> {output: tensor}
    cases: Callable                  # rng -> [Case]
    backwards: tuple = ()            # backward function names (batchnorm: the graph one and the _alt one)
    grads: tuple = ()                # what a backward returns, in order: dx, dw, ...
    loss: bool = False               # one function returning (loss, dx)
    extras: tuple = ()               # values the forward leaves in a param dict: ("bn_param", "running_mean")
    conventions: Callable | None = None   # (args, douts, manual grads) -> [(label, {grad: array})]
    reread: Callable | None = None        # args -> [(label, args read that way)]
    constants: Callable = lambda args: {}
    terms: Callable | None = None         # (args, douts) -> {grad: [its term per time step]} (time_terms.py)

    @property
    def pair(self) -> str:
        return "/".join((self.forward, *self.backwards))


def _n(args):
    return args[next(iter(args))].shape[0]


def _constants(args) -> dict:
    x = next(iter(args.values()))
    found = {"N, the batch size": x.shape[0], "1/N": 1 / x.shape[0]}
    if x.ndim == 3:
        found.update({"T, the time steps": x.shape[1], "N·T": x.shape[0] * x.shape[1]})
    if x.ndim == 4:
        n, c, h, w = x.shape
        found.update({"H·W, the positions": h * w, "N·H·W": n * h * w, "1/(N·H·W)": 1 / (n * h * w),
                      "C·H·W": c * h * w})
    return found


# --- references -----------------------------------------------------------------------------------

def _affine(a, seen):
    return {"out": a["x"].reshape(a["x"].shape[0], -1) @ a["w"] + a["b"]}


def _svm(a, seen):
    x, y = a["x"], a["y"]
    other = 1 - F.one_hot(y, x.shape[1]).to(x.dtype)
    margins = F.relu(x - x.gather(1, y[:, None]) + 1) * other
    return {"loss": margins.sum() / x.shape[0]}


def _batchnorm(a, seen):
    p = a["bn_param"]
    eps, m = p.get("eps", 1e-5), p.get("momentum", 0.9)
    x = a["x"]
    axes = (0,) if x.ndim == 2 else (0, 2, 3)
    if p["mode"] == "test":
        return {"out": F.batch_norm(x, p["running_mean"], p["running_var"], a["gamma"], a["beta"], False, 0.0, eps)}
    out = F.batch_norm(x, None, None, a["gamma"], a["beta"], True, 0.0, eps)
    mean, var = x.detach().mean(dim=axes), x.detach().var(dim=axes, unbiased=False)
    return {"out": out, "running_mean": m * p["running_mean"] + (1 - m) * mean,
            "running_var": m * p["running_var"] + (1 - m) * var}


def _dropout(a, seen):
    p = a["dropout_param"]
    if p["mode"] != "train":
        return {"out": a["x"] * 1}
    out = np.asarray(seen.get("out", 1.0))
    if out.shape != tuple(a["x"].shape):       # no mask to recover: the output's shape is reported as it is
        out = np.ones(tuple(a["x"].shape))
    kept = torch.from_numpy(out != 0) | (a["x"].detach() == 0)   # the manual side's mask, from its output
    return {"out": a["x"] * kept.to(a["x"].dtype) / p["p"]}


def _conv(a, seen):
    c = a["conv_param"]
    return {"out": F.conv2d(a["x"], a["w"], a["b"], stride=c["stride"], padding=c["pad"])}


def _pool(a, seen):
    p = a["pool_param"]
    return {"out": F.max_pool2d(a["x"], (p["pool_height"], p["pool_width"]), p["stride"])}


def _groupnorm(a, seen):
    eps = a["gn_param"].get("eps", 1e-5)
    return {"out": F.group_norm(a["x"], a["G"], eps=eps) * a["gamma"] + a["beta"]}


def _rnn_step(x, h, Wx, Wh, b):
    return torch.tanh(x @ Wx + h @ Wh + b)


def _lstm_step(x, h, c, Wx, Wh, b):
    H = h.shape[1]
    a = x @ Wx + h @ Wh + b
    i, f, o, g = torch.sigmoid(a[:, :H]), torch.sigmoid(a[:, H:2 * H]), torch.sigmoid(a[:, 2 * H:3 * H]), \
        torch.tanh(a[:, 3 * H:])
    c = f * c + i * g
    return o * torch.tanh(c), c


def _rnn(a, seen):
    h, hs = a["h0"], []
    for t in range(a["x"].shape[1]):
        h = _rnn_step(a["x"][:, t], h, a["Wx"], a["Wh"], a["b"])
        hs.append(h)
    return {"h": torch.stack(hs, dim=1)}


def _lstm(a, seen):
    h, hs = a["h0"], []
    c = torch.zeros_like(h)
    for t in range(a["x"].shape[1]):
        h, c = _lstm_step(a["x"][:, t], h, c, a["Wx"], a["Wh"], a["b"])
        hs.append(h)
    return {"h": torch.stack(hs, dim=1)}


def _time_terms(lstm: bool):
    """A recurrent layer's dWx, dWh, db per time step (comparisons/explain/time_terms.py), cs231n's layout."""
    def terms(args, douts):
        from comparisons.explain.time_terms import unrolled
        t = {k: torch.tensor(np.asarray(args[k], np.float64)) for k in ("x", "h0", "Wx", "Wh", "b")}

        def step(x_t, state, p):
            if not lstm:
                h = _rnn_step(x_t, state, p["Wx"], p["Wh"], p["b"])
                return h, h
            h, c = _lstm_step(x_t, *state, p["Wx"], p["Wh"], p["b"])
            return h, (h, c)
        state = (t["h0"], torch.zeros_like(t["h0"])) if lstm else t["h0"]
        found = unrolled(step, {k: t[k] for k in ("Wx", "Wh", "b")}, t["x"], state,
                         torch.tensor(np.asarray(douts["h"], np.float64)))
        return {f"d{k}": v for k, v in found.items()}
    return terms


def _temporal_softmax(a, seen):
    x, y, mask = a["x"], a["y"], a["mask"]
    logp = torch.log_softmax(x, dim=2).gather(2, y[..., None])[..., 0]
    return {"loss": -(logp * mask.to(x.dtype)).sum() / x.shape[0]}


# --- branch points -----------------------------------------------------------------------------

def _kink(slope_of_args):
    """At x exactly 0 the derivative of a ReLU-like unit is a convention: the other one-sided slope."""
    def conventions(args, douts, manual):
        x = args["x"]
        if not np.any(x == 0):
            return []
        other = np.where(x == 0, douts["out"] * 1.0, douts["out"] * np.where(x > 0, 1.0, slope_of_args(args)))
        return [("the derivative at x = 0 is 1, the right-hand slope (torch: "
                 f"{slope_of_args(args):g}, the left-hand one)", {"dx": other})]
    return conventions


def _pool_ties(args, douts, manual):
    """Tied maxima: any one of them may take the window's gradient. Follow the manual side's choice
    (in each window, the tied maximum its dx is largest at) and route the gradient there."""
    x, p, dx = args["x"], args["pool_param"], manual.get("dx")
    ph, pw, s = p["pool_height"], p["pool_width"], p["stride"]
    if dx is None or np.shape(dx) != x.shape or (ph, pw) != (s, s) or x.shape[2] % s or x.shape[3] % s:
        return []
    n, c, h, w = x.shape
    win = x.reshape(n, c, h // s, s, w // s, s).transpose(0, 1, 2, 4, 3, 5).reshape(n, c, h // s, w // s, s * s)
    got = np.abs(np.asarray(dx, np.float64)).reshape(n, c, h // s, s, w // s, s).transpose(0, 1, 2, 4, 3, 5) \
        .reshape(win.shape)
    tied = win == win.max(axis=-1, keepdims=True)
    if not np.any(tied.sum(axis=-1) > 1):
        return []
    chosen = np.where(tied, got, -1.0).argmax(axis=-1)
    routed = np.zeros(win.shape)
    np.put_along_axis(routed, chosen[..., None], douts["out"][..., None], axis=-1)
    routed = routed.reshape(n, c, h // s, w // s, s, s).transpose(0, 1, 2, 4, 3, 5).reshape(x.shape)
    return [("at tied maxima the gradient goes to another one of them (torch: the first)", {"dx": routed})]


def _pool_ties_mask(x, s):
    n, c, h, w = x.shape
    win = x.reshape(n, c, h // s, s, w // s, s)
    top = win.max(axis=(3, 5), keepdims=True)
    count = (win == top).sum(axis=(3, 5), keepdims=True)
    return np.broadcast_to((win == top) & (count > 1), win.shape).reshape(x.shape)


def _gate_orders(args):
    """The LSTM's four gate blocks of Wx, Wh and b read in each other order (cs231n: i, f, o, g)."""
    H = args["Wh"].shape[0]
    names = "ifog"
    found = []
    for order in itertools.permutations(range(4)):
        if order == (0, 1, 2, 3):
            continue
        moved = dict(args)
        for k in ("Wx", "Wh", "b"):
            blocks = np.split(np.asarray(args[k]), 4, axis=-1)
            moved[k] = np.concatenate([blocks[i] for i in order], axis=-1)
        # the manual side reads block j as gate names[j]; it holds the reference's gate names[order[j]]
        taken = ", ".join(names[i] for i in np.argsort(order))
        found.append((f"the gate blocks of Wx, Wh and b are read as {taken} (cs231n's order: i, f, o, g; "
                       f"torch's LSTM: i, f, g, o)", moved))
    return found


# --- cases --------------------------------------------------------------------------------------

def _nz(rng, *shape):
    return rng.standard_normal(shape)


def _affine_cases(rng):
    return [Case("random", {"x": _nz(rng, 4, 2, 3), "w": _nz(rng, 6, 5), "b": _nz(rng, 5)}, FLOAT32),
            Case("N = 1", {"x": _nz(rng, 1, 2, 3), "w": _nz(rng, 6, 5), "b": _nz(rng, 5)})]


def _unit_cases(rng, extra=None, kink=True):
    extra = extra or {}
    cases = [Case("random", {"x": _nz(rng, 5, 6), **extra}, FLOAT32),
             Case("N = 1", {"x": _nz(rng, 1, 6), **extra})]
    if kink:
        x = _nz(rng, 5, 6)
        x[rng.random(x.shape) < 0.3] = 0.0
        cases.append(Case("exact zeros at the kink", {"x": x, **extra}, branch=True,
                          masks={"x is exactly 0": x == 0}))
    else:
        cases.append(Case("large inputs", {"x": 30 * _nz(rng, 5, 6), **extra}))
    return cases


def _loss_cases(rng):
    y = rng.integers(0, 5, 6)
    return [Case("random", {"x": _nz(rng, 6, 5), "y": y}, FLOAT32),
            Case("large scores", {"x": 80 * _nz(rng, 6, 5), "y": y}),
            Case("N = 1", {"x": _nz(rng, 1, 5), "y": y[:1]})]


def _bn_param(rng, d, mode="train"):
    return {"mode": mode, "eps": 1e-5, "momentum": 0.9,
            "running_mean": _nz(rng, d), "running_var": 1 + rng.random(d)}


def _batchnorm_cases(rng):
    x = 3 + 2 * _nz(rng, 6, 4)
    flat = x.copy()
    flat[:, 1] = 2.5
    return [Case("random", {"x": x, "gamma": _nz(rng, 4), "beta": _nz(rng, 4), "bn_param": _bn_param(rng, 4)},
                 FLOAT32),
            Case("a constant feature", {"x": flat, "gamma": _nz(rng, 4), "beta": _nz(rng, 4),
                                        "bn_param": _bn_param(rng, 4)},
                 masks={"the feature is constant over the batch": np.zeros_like(flat, bool) | (np.arange(4) == 1)}),
            Case("test mode", {"x": x, "gamma": _nz(rng, 4), "beta": _nz(rng, 4),
                               "bn_param": _bn_param(rng, 4, "test")}, backward=False)]


def _layernorm_cases(rng):
    x = _nz(rng, 4, 5)
    flat = x.copy()
    flat[2] = -1.5
    return [Case("random", {"x": x, "gamma": _nz(rng, 5), "beta": _nz(rng, 5), "ln_param": {"eps": 1e-5}}, FLOAT32),
            Case("N = 1", {"x": x[:1], "gamma": _nz(rng, 5), "beta": _nz(rng, 5), "ln_param": {"eps": 1e-5}}),
            Case("a constant sample", {"x": flat, "gamma": _nz(rng, 5), "beta": _nz(rng, 5), "ln_param": {"eps": 1e-5}})]


def _dropout_cases(rng):
    return [Case("train mode", {"x": _nz(rng, 20, 30), "dropout_param": {"p": 0.7, "mode": "train", "seed": 0}},
                 FLOAT32),
            Case("N = 1", {"x": _nz(rng, 1, 50), "dropout_param": {"p": 0.4, "mode": "train", "seed": 3}}),
            Case("test mode", {"x": _nz(rng, 4, 5), "dropout_param": {"p": 0.7, "mode": "test", "seed": 0}})]


def _conv_cases(rng):
    return [Case("stride 1, pad 1", {"x": _nz(rng, 2, 3, 5, 5), "w": _nz(rng, 4, 3, 3, 3), "b": _nz(rng, 4),
                                     "conv_param": {"stride": 1, "pad": 1}}, FLOAT32),
            Case("stride 2, pad 1", {"x": _nz(rng, 2, 2, 5, 5), "w": _nz(rng, 3, 2, 3, 3), "b": _nz(rng, 3),
                                     "conv_param": {"stride": 2, "pad": 1}}),
            Case("N = 1, no pad", {"x": _nz(rng, 1, 2, 4, 4), "w": _nz(rng, 3, 2, 2, 2), "b": _nz(rng, 3),
                                   "conv_param": {"stride": 1, "pad": 0}})]


def _pool_cases(rng):
    pool = {"pool_height": 2, "pool_width": 2, "stride": 2}
    ties = rng.integers(0, 2, (2, 3, 4, 4)).astype(np.float64)
    return [Case("random", {"x": _nz(rng, 2, 3, 4, 4), "pool_param": pool}, FLOAT32),
            Case("tied maxima", {"x": ties, "pool_param": pool}, branch=True,
                 masks={"a window has tied maxima": _pool_ties_mask(ties, 2)}),
            Case("N = 1, stride 1", {"x": _nz(rng, 1, 2, 4, 4),
                                     "pool_param": {"pool_height": 2, "pool_width": 2, "stride": 1}})]


def _spatial_bn_cases(rng):
    x = 1 + _nz(rng, 2, 3, 4, 4)
    flat = x.copy()
    flat[:, 2] = 0.5
    return [Case("random", {"x": x, "gamma": _nz(rng, 3), "beta": _nz(rng, 3), "bn_param": _bn_param(rng, 3)},
                 FLOAT32),
            Case("a constant channel", {"x": flat, "gamma": _nz(rng, 3), "beta": _nz(rng, 3),
                                        "bn_param": _bn_param(rng, 3)})]


def _groupnorm_cases(rng):
    g = lambda: _nz(rng, 1, 6, 1, 1)
    return [Case("random", {"x": _nz(rng, 2, 6, 3, 3), "gamma": g(), "beta": g(), "G": 2, "gn_param": {}},
                 FLOAT32),
            Case("N = 1, G = 3", {"x": _nz(rng, 1, 6, 2, 2), "gamma": g(), "beta": g(), "G": 3,
                                  "gn_param": {"eps": 1e-5}})]


def _rnn_step_cases(rng, lstm=False):
    g = 4 if lstm else 1
    make = lambda n: {"x": _nz(rng, n, 4), "prev_h": _nz(rng, n, 5), **({"prev_c": _nz(rng, n, 5)} if lstm else {}),
                      "Wx": 0.5 * _nz(rng, 4, g * 5), "Wh": 0.5 * _nz(rng, 5, g * 5), "b": _nz(rng, g * 5)}
    return [Case("random", make(3), FLOAT32), Case("N = 1", make(1))]


def _rnn_cases(rng, lstm=False):
    g = 4 if lstm else 1
    make = lambda n, t: {"x": _nz(rng, n, t, 4), "h0": _nz(rng, n, 5), "Wx": 0.5 * _nz(rng, 4, g * 5),
                         "Wh": 0.5 * _nz(rng, 5, g * 5), "b": _nz(rng, g * 5)}
    return [Case("random", make(2, 3), FLOAT32), Case("N = 1, T = 1", make(1, 1))]


def _embedding_cases(rng):
    x = rng.integers(0, 7, (2, 4))
    x[1, 3] = x[0, 0]            # a repeated word: its gradients add up
    return [Case("repeated words", {"x": x, "W": _nz(rng, 7, 3)}, FLOAT32)]


def _temporal_affine_cases(rng):
    return [Case("random", {"x": _nz(rng, 2, 3, 4), "w": _nz(rng, 4, 5), "b": _nz(rng, 5)}, FLOAT32),
            Case("N = 1, T = 1", {"x": _nz(rng, 1, 1, 4), "w": _nz(rng, 4, 5), "b": _nz(rng, 5)})]


def _temporal_loss_cases(rng):
    x, y = _nz(rng, 3, 4, 5), rng.integers(0, 5, (3, 4))
    mask = np.ones((3, 4), bool)
    mask[0, 2:] = mask[2, 1:] = False
    return [Case("masked time steps", {"x": x, "y": y, "mask": mask}, FLOAT32, branch=False,
                 masks={"the time step is masked": np.broadcast_to(~mask[..., None], x.shape)}),
            Case("no mask", {"x": x, "y": y, "mask": np.ones((3, 4), bool)})]


def _dropout_constants(args):
    p = args["dropout_param"]["p"]
    return {**_constants(args), "p, the keep probability": p, "1/p": 1 / p, "1 - p, the drop probability": 1 - p,
            "1/(1 - p)": 1 / (1 - p)}


def _relu_slope(args):
    return 0.0


KNOWN = {k.name: k for k in (
    Known("affine", "affine_forward", ("x", "w", "b"), ("out",), _affine, _affine_cases,
          ("affine_backward",), ("dx", "dw", "db"), constants=_constants),
    Known("relu", "relu_forward", ("x",), ("out",), lambda a, s: {"out": F.relu(a["x"])}, _unit_cases,
          ("relu_backward",), ("dx",), conventions=_kink(_relu_slope), constants=_constants),
    Known("leaky_relu", "leaky_relu_forward", ("x", "alpha"), ("out",),
          lambda a, s: {"out": F.leaky_relu(a["x"], a["alpha"])},
          lambda rng: _unit_cases(rng, {"alpha": 0.1}), ("leaky_relu_backward",), ("dx",),
          conventions=_kink(lambda a: a["alpha"]), constants=_constants),
    Known("sigmoid", "sigmoid_forward", ("x",), ("out",), lambda a, s: {"out": torch.sigmoid(a["x"])},
          lambda rng: _unit_cases(rng, kink=False), ("sigmoid_backward",), ("dx",), constants=_constants),
    Known("tanh", "tanh_forward", ("x",), ("out",), lambda a, s: {"out": torch.tanh(a["x"])},
          lambda rng: _unit_cases(rng, kink=False), ("tanh_backward",), ("dx",), constants=_constants),
    Known("softmax_loss", "softmax_loss", ("x", "y"), ("loss",), lambda a, s: {"loss": F.cross_entropy(a["x"], a["y"])},
          _loss_cases, grads=("dx",), loss=True, constants=_constants),
    Known("svm_loss", "svm_loss", ("x", "y"), ("loss",), _svm, _loss_cases, grads=("dx",), loss=True,
          constants=_constants),
    Known("batchnorm", "batchnorm_forward", ("x", "gamma", "beta", "bn_param"), ("out",), _batchnorm,
          _batchnorm_cases, ("batchnorm_backward", "batchnorm_backward_alt"), ("dx", "dgamma", "dbeta"),
          extras=(("bn_param", "running_mean"), ("bn_param", "running_var")), constants=_constants),
    Known("layernorm", "layernorm_forward", ("x", "gamma", "beta", "ln_param"), ("out",),
          lambda a, s: {"out": F.layer_norm(a["x"], a["x"].shape[1:], a["gamma"], a["beta"],
                                            a["ln_param"].get("eps", 1e-5))},
          _layernorm_cases, ("layernorm_backward",), ("dx", "dgamma", "dbeta"), constants=_constants),
    Known("dropout", "dropout_forward", ("x", "dropout_param"), ("out",), _dropout, _dropout_cases,
          ("dropout_backward",), ("dx",), constants=_dropout_constants),
    Known("conv", "conv_forward_naive", ("x", "w", "b", "conv_param"), ("out",), _conv, _conv_cases,
          ("conv_backward_naive",), ("dx", "dw", "db"), constants=_constants),
    Known("max_pool", "max_pool_forward_naive", ("x", "pool_param"), ("out",), _pool, _pool_cases,
          ("max_pool_backward_naive",), ("dx",), conventions=_pool_ties, constants=_constants),
    Known("spatial_batchnorm", "spatial_batchnorm_forward", ("x", "gamma", "beta", "bn_param"), ("out",),
          _batchnorm, _spatial_bn_cases, ("spatial_batchnorm_backward",), ("dx", "dgamma", "dbeta"),
          extras=(("bn_param", "running_mean"), ("bn_param", "running_var")), constants=_constants),
    Known("spatial_groupnorm", "spatial_groupnorm_forward", ("x", "gamma", "beta", "G", "gn_param"), ("out",),
          _groupnorm, _groupnorm_cases, ("spatial_groupnorm_backward",), ("dx", "dgamma", "dbeta"),
          constants=_constants),
    Known("rnn_step", "rnn_step_forward", ("x", "prev_h", "Wx", "Wh", "b"), ("next_h",),
          lambda a, s: {"next_h": _rnn_step(a["x"], a["prev_h"], a["Wx"], a["Wh"], a["b"])}, _rnn_step_cases,
          ("rnn_step_backward",), ("dx", "dprev_h", "dWx", "dWh", "db"), constants=_constants),
    Known("rnn", "rnn_forward", ("x", "h0", "Wx", "Wh", "b"), ("h",), _rnn, _rnn_cases,
          ("rnn_backward",), ("dx", "dh0", "dWx", "dWh", "db"), constants=_constants, terms=_time_terms(False)),
    Known("lstm_step", "lstm_step_forward", ("x", "prev_h", "prev_c", "Wx", "Wh", "b"), ("next_h", "next_c"),
          lambda a, s: dict(zip(("next_h", "next_c"), _lstm_step(a["x"], a["prev_h"], a["prev_c"], a["Wx"],
                                                                 a["Wh"], a["b"]))),
          lambda rng: _rnn_step_cases(rng, lstm=True), ("lstm_step_backward",),
          ("dx", "dprev_h", "dprev_c", "dWx", "dWh", "db"), reread=_gate_orders, constants=_constants),
    Known("lstm", "lstm_forward", ("x", "h0", "Wx", "Wh", "b"), ("h",), _lstm, lambda rng: _rnn_cases(rng, lstm=True),
          ("lstm_backward",), ("dx", "dh0", "dWx", "dWh", "db"), reread=_gate_orders, constants=_constants,
          terms=_time_terms(True)),
    Known("word_embedding", "word_embedding_forward", ("x", "W"), ("out",), lambda a, s: {"out": a["W"][a["x"]]},
          _embedding_cases, ("word_embedding_backward",), ("dW",), constants=_constants),
    Known("temporal_affine", "temporal_affine_forward", ("x", "w", "b"), ("out",),
          lambda a, s: {"out": a["x"] @ a["w"] + a["b"]}, _temporal_affine_cases, ("temporal_affine_backward",),
          ("dx", "dw", "db"), constants=_constants),
    Known("temporal_softmax_loss", "temporal_softmax_loss", ("x", "y", "mask"), ("loss",), _temporal_softmax,
          _temporal_loss_cases, grads=("dx",), loss=True, constants=_constants),
)}

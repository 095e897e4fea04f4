"""Every layer kind and loss lockstep knows: one entry each, read by every part.

An entry ties a spec token (``linear:100``) to a class name: the manual class
of that name (NumPy, manual/) and its torch twin of the same name (torch_ref/),
looked up only when a side is built (so validating a spec needs no torch), and
to the prefix of its layers' names (``fc`` -> ``fc1``, ``fc2``). The two classes take the same
constructor arguments: ``make(in_shape, args)`` turns the layer's input shape
(one sample's, no batch axis) and the token's arguments into them. Adding a
kind: a manual class, its twin, one line here; tests/test_twins.py picks it up.

Branch points (a ReLU's kink, a max's tie) are the twin's business: a twin with
``decide``/``margin``/``forward_with`` (torch_ref/layers.py) is followed by the
referee on the manual side's branch where the two are within rounding.
"""
import importlib
import math
from dataclasses import dataclass, field
from typing import Callable


@dataclass(frozen=True)
class Arg:
    """A positional argument of a token: ``linear:OUT`` has Arg("out", int)."""
    name: str
    type: type
    default: object = None      # None: required; DATA: the data's output width (an output layer's)


DATA = "data"


class Twins:
    """``manual`` and ``twin``: the class named ``cls`` in manual/ and in torch_ref/."""

    @property
    def manual(self) -> type:
        return getattr(importlib.import_module("manual"), self.cls)

    @property
    def twin(self) -> type:
        return getattr(importlib.import_module("torch_ref"), self.cls)


@dataclass(frozen=True)
class Kind(Twins):
    token: str
    cls: str
    prefix: str
    make: Callable[[tuple, dict], dict] = lambda shape, a: {}   # (input shape, parsed args) -> constructor kwargs
    args: tuple[Arg, ...] = ()
    flags: tuple[str, ...] = ()     # words that may stand among the arguments, e.g. "nobias"
    init: dict = field(default_factory=dict)   # param -> "scheme" (the run's --init), "zeros" (the
                                               # run's --init-bias), "ones", "zero" (always 0)
    examples: tuple[tuple[str, tuple], ...] = ()   # (token, one sample's input shape) the twin test builds

    @property
    def usage(self) -> str:
        parts = [a.name.upper() if a.default is None else f"[{a.name.upper()}]" for a in self.args]
        return ":".join([self.token, *parts, *(f"[{f}]" for f in self.flags)])


def _one(shape: tuple, what: str) -> int:
    if len(shape) != 1:
        raise ValueError(f"{what} needs flat input (features), got shape {shape}; add flatten before it")
    return shape[0]


def _finite(value: float, what: str, low: float, high: float, high_open: bool = False) -> float:
    if not (math.isfinite(value) and low <= value and (value < high if high_open else value <= high)):
        raise ValueError(f"{what} must be in [{low:g}, {high:g}{')' if high_open else ']'}, got {value!r}")
    return value


def _gelu(shape, a):
    if a["approximate"] not in ("none", "tanh"):
        raise ValueError(f"gelu takes 'tanh' (or nothing: exact erf), got {a['approximate']!r}")
    return dict(approximate=a["approximate"])


def _batchnorm(shape, a):
    """``batchnorm[:MOMENTUM][:cs231n]``: torch's momentum (weight of the new batch, default 0.1), or
    with ``cs231n`` the course's (weight of the old running value, default 0.9), mapped onto torch's."""
    from manual.conventions import BN_MOMENTUM, BN_MOMENTUM_DEFAULT
    convention = "cs231n" if a["cs231n"] else "torch"
    m = BN_MOMENTUM_DEFAULT[convention] if a["momentum"] == "" else _finite(a["momentum"], "momentum", 0, 1)
    return dict(num_features=_one(shape, "batchnorm"), momentum=BN_MOMENTUM[convention](m))


def _dropout(shape, a):
    """``dropout[:P][:keep]``: P the drop probability, as torch (default 0.5); with ``keep`` (cs231n) P is
    the probability of keeping a unit, mapped onto torch's drop probability 1 - P."""
    from manual import DropoutMask
    from manual.conventions import DROPOUT_P
    p = DROPOUT_P["keep" if a["keep"] else "drop"](_finite(a["p"], "p", 0, 1))
    if not 0 <= p < 1:
        raise ValueError(f"the drop probability must be in [0, 1), got {p:g}")
    return dict(p=p, mask=DropoutMask())


NORM_INIT = {"weight": "ones", "bias": "zero"}

KINDS = {k.token: k for k in (
    Kind("linear", "Linear", "fc", args=(Arg("out", int, DATA),), flags=("nobias",),
         make=lambda s, a: dict(in_features=_one(s, "linear"), out_features=a["out"], bias=not a["nobias"]),
         init={"weight": "scheme", "bias": "zeros"},
         examples=(("linear:7", (5,)), ("linear:3:nobias", (4,)))),
    Kind("relu", "ReLU", "relu", examples=(("relu", (6,)),)),
    Kind("leakyrelu", "LeakyReLU", "lrelu", args=(Arg("slope", float, 0.01),),
         make=lambda s, a: dict(negative_slope=_finite(a["slope"], "slope", -1e6, 1e6)),
         examples=(("leakyrelu", (6,)), ("leakyrelu:0.2", (5,)))),
    Kind("sigmoid", "Sigmoid", "sigmoid", examples=(("sigmoid", (6,)),)),
    Kind("tanh", "Tanh", "tanh", examples=(("tanh", (6,)),)),
    Kind("gelu", "GELU", "gelu", args=(Arg("approximate", str, "none"),), make=_gelu,
         examples=(("gelu", (6,)), ("gelu:tanh", (6,)))),
    Kind("flatten", "Flatten", "flatten", examples=(("flatten", (2, 3)), ("flatten", (4,)))),
    Kind("layernorm", "LayerNorm", "ln", make=lambda s, a: dict(normalized_shape=_one(s, "layernorm")),
         init=NORM_INIT, examples=(("layernorm", (6,)),)),
    Kind("batchnorm", "BatchNorm1d", "bn", args=(Arg("momentum", float, ""),), flags=("cs231n",), make=_batchnorm,
         init=NORM_INIT, examples=(("batchnorm", (5,)), ("batchnorm:0.9:cs231n", (3,)))),
    Kind("dropout", "Dropout", "drop", args=(Arg("p", float, 0.5),), flags=("keep",), make=_dropout,
         examples=(("dropout:0.3", (6,)), ("dropout:0.8:keep", (5,)))),
)}


@dataclass(frozen=True)
class Loss(Twins):
    token: str
    cls: str
    target: str                      # "class": integer labels, one output per class; "binary": 0/1 labels,
                                     # one output; "regression": float targets (N, k) (comparisons/data)
    threshold: float | None = None   # binary: the score a prediction compares with (0 for logits, 0.5 for p)
    kwargs: dict = field(default_factory=dict)   # a named convention (manual/conventions.py)

    def make_manual(self, reduction: str):
        return self.manual(reduction, **self.kwargs)

    def make_twin(self, reduction: str):
        return self.twin(reduction, **self.kwargs)


LOSSES = {loss.token: loss for loss in (
    Loss("cross_entropy", "CrossEntropy", "class"),
    Loss("svm", "SVM", "class"),
    Loss("mse", "MSE", "regression"),
    Loss("mse:half", "MSE", "regression", kwargs={"convention": "half"}),
    Loss("bce", "BCE", "binary", 0.5),
    Loss("bce:nnfs", "BCE", "binary", 0.5, kwargs={"convention": "nnfs"}),
    Loss("bce_logits", "BCEWithLogits", "binary", 0.0),
)}


def penalty_args(config, layers) -> tuple | None:
    """(kind, lambda, convention, covered parameter names) of the run's --reg, or None. The course
    conventions cover the linear layers' weights (nnfs: and biases); torch's weight_decay every parameter."""
    from comparisons.config import parse_reg
    from manual.conventions import REG
    parsed = parse_reg(config.reg, config.reg_convention)
    if parsed is None:
        return None
    convention = config.reg_convention
    keys = ("weight", "bias") if REG[convention]["biases"] else ("weight",)
    names = [f"{s.name}.{k}" for s in layers for k in s.kind.init       # the kind's parameters (a side keeps
             if convention == "torch" or (s.kind.token == "linear" and k in keys)]   # those it has)
    return (*parsed, convention, names)

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
    init: dict = field(default_factory=dict)   # param -> "scheme" (the run's --init), "zeros", "ones"
    examples: tuple[tuple[str, tuple], ...] = ()   # (token, one sample's input shape) the twin test builds
    size: Callable[[dict], int] = lambda kw: 0     # constructor kwargs -> parameter elements (memory check)

    @property
    def usage(self) -> str:
        parts = [a.name.upper() if a.default is None else f"[{a.name.upper()}]" for a in self.args]
        return ":".join([self.token, *parts, *(f"[{f}]" for f in self.flags)])


def _one(shape: tuple, what: str) -> int:
    if len(shape) != 1:
        raise ValueError(f"{what} needs flat input (features), got shape {shape}; add flatten before it")
    return shape[0]


KINDS = {k.token: k for k in (
    Kind("linear", "Linear", "fc", args=(Arg("out", int, DATA),), flags=("nobias",),
         make=lambda s, a: dict(in_features=_one(s, "linear"), out_features=a["out"], bias=not a["nobias"]),
         init={"weight": "scheme", "bias": "zeros"},
         size=lambda kw: kw["out_features"] * (kw["in_features"] + kw["bias"]),
         examples=(("linear:7", (5,)), ("linear:3:nobias", (4,)))),
    Kind("relu", "ReLU", "relu", examples=(("relu", (6,)),)),
)}


@dataclass(frozen=True)
class Loss(Twins):
    token: str
    cls: str
    target: str                      # "class": integer labels, one output per class
    threshold: float | None = None   # binary: the score a prediction compares with (0 for logits, 0.5 for p)


LOSSES = {loss.token: loss for loss in (
    Loss("cross_entropy", "CrossEntropy", "class"),
)}

"""Named initialisation schemes, drawn from an explicit numpy.random.Generator.

A scheme is a frozen ``Scheme``: a family (``normal``, ``uniform`` or ``constant``)
and its spread as a function of the layer's fans (the standard deviation of a
normal, the bound A of U(-A, A), the value of a constant). Every draw is made in
float64 and rounded once to the requested dtype, so a float32 run starts from the
float64 run's values rounded, not from a different draw.

Config strings (``parse_scheme``)::

    xavier_normal   N(0, 2/(fan_in+fan_out))          Glorot & Bengio 2010 (alias glorot_normal)
    xavier_uniform  U(-A, A), A = sqrt(6/(fan_in+fan_out)): variance 2/(fan_in+fan_out)
    he_normal       N(0, 2/fan_in)                     He et al. 2015, fan_in mode, gain sqrt(2)
    he_uniform      U(-A, A), A = sqrt(6/fan_in): variance 2/fan_in    (alias kaiming_*)
    lecun_normal    N(0, 1/fan_in)
    torch_default   U(-1/sqrt(fan_in), 1/sqrt(fan_in)): variance 1/(3 fan_in)
    normal:S        N(0, S^2), e.g. normal:0.01 (0.01 * randn; cs231n's weight_scale * randn)
    uniform:A       U(-A, A)
    zeros, ones     constants (biases; norm-layer gammas)

``torch_default`` is what ``torch.nn.Linear.reset_parameters`` (and ``_ConvNd``'s)
does, read in torch 2.13's torch/nn/modules/linear.py and torch/nn/init.py:
weights ``kaiming_uniform_(w, a=sqrt(5))``: gain = calculate_gain("leaky_relu", sqrt(5))
= sqrt(2 / (1 + 5)), std = gain / sqrt(fan_in), bound = sqrt(3) * std = 1/sqrt(fan_in)
(the comment in linear.py says so too, citing pytorch/pytorch#57109); biases
``uniform_(b, -1/sqrt(fan_in), 1/sqrt(fan_in))`` with the weight's fan_in. So one
scheme covers both, given the weight's fans.

Fans follow torch's ``_calculate_fan_in_and_fan_out``: for a weight of shape
(out, in, *kernel), fan_in = in * prod(kernel), fan_out = out * prod(kernel).
"""
import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np



def fans(shape) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight in torch layout (out, in, *kernel), as torch computes them."""
    shape = tuple(int(s) for s in shape)
    if len(shape) < 2:
        raise ValueError(f"fan_in and fan_out need a weight of 2 or more dimensions, got shape {shape}")
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


@dataclass(frozen=True)
class Scheme:
    """One initialisation scheme.

    ``spread(fan_in, fan_out)`` is the normal's standard deviation, the uniform's
    bound A, or the constant's value. ``formula`` is the variance in words (the
    checker names observed variances with the same words).
    """
    name: str                                          # config string, e.g. "normal:0.01"
    family: str                                        # "normal" | "uniform" | "constant"
    spread: Callable[[int, int], float] = field(compare=False)
    formula: str                                       # variance in words, e.g. "2/(fan_in+fan_out)"
    uses_fans: bool = True

    def variance(self, fan_in: int = 0, fan_out: int = 0) -> float:
        s = float(self.spread(fan_in, fan_out))
        return {"normal": s * s, "uniform": s * s / 3, "constant": 0.0}[self.family]

    def draw(self, rng: np.random.Generator, shape, dtype, fan_in: int = 0, fan_out: int = 0) -> np.ndarray:
        """An array of ``shape`` drawn in float64 from ``rng``, rounded once to ``dtype``."""
        s = self.spread(fan_in, fan_out)
        if self.family == "normal":
            x = rng.standard_normal(shape) * s
        elif self.family == "uniform":
            x = rng.uniform(-s, s, shape)
        else:
            x = np.full(shape, s, dtype=np.float64)
        return x.astype(dtype)

    def __str__(self) -> str:
        return self.name


def _positive(text: str, what: str) -> float:
    try:
        v = float(text)
    except ValueError:
        v = math.nan
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"{what} must be a positive number, got {text!r}")
    return v


def _normal(scale: float) -> Scheme:
    return Scheme(f"normal:{scale:g}", "normal", lambda fi, fo: scale, f"{scale:g}^2", uses_fans=False)


def _uniform(bound: float) -> Scheme:
    return Scheme(f"uniform:{bound:g}", "uniform", lambda fi, fo: bound, f"{bound:g}^2/3", uses_fans=False)


# np.sqrt (not math.sqrt) and this exact expression: xavier_normal's draws are pinned bit for bit.
SCHEMES: dict[str, Scheme] = {s.name: s for s in (
    Scheme("xavier_normal", "normal", lambda fi, fo: np.sqrt(2.0 / (fi + fo)), "2/(fan_in+fan_out)"),
    Scheme("xavier_uniform", "uniform", lambda fi, fo: np.sqrt(6.0 / (fi + fo)), "2/(fan_in+fan_out)"),
    Scheme("he_normal", "normal", lambda fi, fo: np.sqrt(2.0 / fi), "2/fan_in"),
    Scheme("he_uniform", "uniform", lambda fi, fo: np.sqrt(6.0 / fi), "2/fan_in"),
    Scheme("lecun_normal", "normal", lambda fi, fo: np.sqrt(1.0 / fi), "1/fan_in"),
    Scheme("torch_default", "uniform", lambda fi, fo: 1.0 / np.sqrt(fi), "1/(3 fan_in)"),
    Scheme("zeros", "constant", lambda fi, fo: 0.0, "0", uses_fans=False),
    Scheme("ones", "constant", lambda fi, fo: 1.0, "0", uses_fans=False),
)}
ALIASES = {"glorot_normal": "xavier_normal", "glorot_uniform": "xavier_uniform",
           "kaiming_normal": "he_normal", "kaiming_uniform": "he_uniform"}


def parse_scheme(text) -> Scheme:
    """A Scheme from its config string ("he_uniform", "normal:0.01", "uniform:0.05", "zeros"...).

    A Scheme passes through. Raises ValueError naming the problem and the choices.
    """
    if isinstance(text, Scheme):
        return text
    t = str(text).strip().lower()
    t = ALIASES.get(t, t)
    if t in SCHEMES:
        return SCHEMES[t]
    kind, sep, arg = t.partition(":")
    if sep and kind == "normal":
        return _normal(_positive(arg, "the scale of normal:SCALE"))
    if sep and kind == "uniform":
        return _uniform(_positive(arg, "the bound of uniform:A"))
    choices = ", ".join([*SCHEMES, *ALIASES, "normal:SCALE", "uniform:A"])
    raise ValueError(f"unknown init scheme {text!r}; choose one of {choices}")


XAVIER_NORMAL = SCHEMES["xavier_normal"]
ZEROS = SCHEMES["zeros"]


def xavier_normal(rng: np.random.Generator, fan_out: int, fan_in: int, dtype) -> np.ndarray:
    """(fan_out, fan_in) zero-mean Gaussian, variance 2 / (fan_in + fan_out).

    Drawn in float64 and rounded once to ``dtype``, so a float32 run starts
    from the float64 run's weights rounded, not from a different draw.
    """
    return XAVIER_NORMAL.draw(rng, (fan_out, fan_in), dtype, fan_in, fan_out)

"""Slips of kinds tests/mutants.py lacks, written for issue 10 after the diagnosis was built.

Each is the student network of examples/ with one slip, loaded as
``--manual tests/mutants_new.py:<Name>``. tests/test_diagnosis.py asserts for each one
the step where it first acts, that lockstep fails there, and that the diagnosis names the
right cause or says only where the sides differ (never a wrong cause).
"""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
from student_adapter import Adapter  # noqa: E402
from student_mlp import StudentMLP  # noqa: E402


class _Mutant(Adapter):
    net_class = StudentMLP

    def __init__(self, sizes, config):
        self.net = self.net_class(*sizes, lr=config.lr, gamma=config.momentum, v0=config.init_velocity,
                                  dtype=config.dtype)


def mutant(name, **members):
    net = type(f"{name}Net", (StudentMLP,), members)
    return type(name, (_Mutant,), {"net_class": net})


def _velocity_step(self, grads, lr=None, dampen=1.0, scale_step=None):
    for k, g in grads.items():
        self.v[k] = self.gamma * self.v[k] + dampen * (self.lr if lr is None else lr) * g
        step = self.v[k] if scale_step is None else scale_step * self.v[k]
        setattr(self, k, getattr(self, k) - step)


# --- the update ---------------------------------------------------------------------------------

def _skip_third(self, grads):
    self.calls = getattr(self, "calls", 0) + 1
    if self.calls != 3:
        _velocity_step(self, grads)


SkipsUpdateAtStep3 = mutant("SkipsUpdateAtStep3", update=_skip_third)
LrAppliedTwice = mutant("LrAppliedTwice", update=lambda s, g: _velocity_step(s, g, scale_step=s.lr))
IgnoresConfigLr = mutant("IgnoresConfigLr", update=lambda s, g: _velocity_step(s, g, lr=0.1))
DampenedMomentum = mutant("DampenedMomentum", update=lambda s, g: _velocity_step(s, g, dampen=1 - s.gamma))


def _stale_update(self, grads):
    previous = getattr(self, "last_grads", grads)
    self.last_grads = {k: v.copy() for k, v in grads.items()}
    _velocity_step(self, previous)


StaleGradient = mutant("StaleGradient", update=_stale_update)


def _hardcoded_velocity_init(self, *args, **kw):
    StudentMLP.__init__(self, *args, **kw)
    self.v = {k: np.full_like(v, 0.1) for k, v in self.v.items()}


HardcodedVelocity = mutant("HardcodedVelocity", __init__=_hardcoded_velocity_init)


# --- the backward -------------------------------------------------------------------------------

def _backward_then(edit):
    def backward(self, Y):
        grads = StudentMLP.backward(self, Y)
        edit(self, grads)
        return grads
    return backward


ClassesPermuted = mutant("ClassesPermuted", backward=_backward_then(
    lambda s, g: g.__setitem__("W2", np.roll(g["W2"], 1, axis=1))))       # class j's column holds class j-1's
L2GradientOnly = mutant("L2GradientOnly", backward=_backward_then(
    lambda s, g: [g.__setitem__(k, g[k] + 1e-2 * getattr(s, k)) for k in ("W1", "W2")]))
DoubleBias = mutant("DoubleBias", backward=_backward_then(lambda s, g: g.__setitem__("b2", 2 * g["b2"])))


def _float32_backward(self, Y):
    """The whole backward in float32, whatever the run's dtype."""
    f = np.float32
    dO = ((self.P.astype(f) - Y.astype(f)) / len(Y)).astype(f)
    dZ1 = (dO @ self.W2.T.astype(f)) * (self.Z1 > 0)
    grads = {"W1": self.X.T.astype(f) @ dZ1, "b1": dZ1.sum(axis=0, keepdims=True),
             "W2": self.H.T.astype(f) @ dO, "b2": dO.sum(axis=0, keepdims=True)}
    return {k: v.astype(self.W1.dtype) for k, v in grads.items()}


BackwardInFloat32 = mutant("BackwardInFloat32", backward=_float32_backward)


def _drops_last_sample(self, Y):
    dO = (self.P - Y) / len(Y)
    X, H, Z1, dO = self.X[:-1], self.H[:-1], self.Z1[:-1], dO[:-1]     # an off-by-one slice
    dZ1 = (dO @ self.W2.T) * (Z1 > 0)
    return {"W1": X.T @ dZ1, "b1": dZ1.sum(axis=0, keepdims=True), "W2": H.T @ dO, "b2": dO.sum(axis=0, keepdims=True)}


DropsLastSample = mutant("DropsLastSample", backward=_drops_last_sample)


# --- the forward ----------------------------------------------------------------------------------

def _forward_without(hidden_bias=True):
    def forward(self, X):
        self.X = X
        self.Z1 = X @ self.W1 + (self.b1 if hidden_bias else 0)
        self.H = np.maximum(self.Z1, 0)
        self.O = self.H @ self.W2 + self.b2
        e = np.exp(self.O - self.O.max(axis=1, keepdims=True))
        self.P = e / e.sum(axis=1, keepdims=True)
        return self.P
    return forward


HiddenBiasMissing = mutant("HiddenBiasMissing", forward=_forward_without(hidden_bias=False))   # acts once b1 != 0


def _stale_activation_backward(self, Y):
    """Uses the hidden activations of the previous batch (a cache updated one call late)."""
    H = getattr(self, "H_before", self.H)
    if H.shape != self.H.shape:            # lockstep's first probe ran on two samples
        H = self.H
    self.H_before = self.H.copy()
    dO = (self.P - Y) / len(Y)
    dZ1 = (dO @ self.W2.T) * (self.Z1 > 0)
    return {"W1": self.X.T @ dZ1, "b1": dZ1.sum(axis=0, keepdims=True), "W2": H.T @ dO,
            "b2": dO.sum(axis=0, keepdims=True)}


StaleActivations = mutant("StaleActivations", backward=_stale_activation_backward)

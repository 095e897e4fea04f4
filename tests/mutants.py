"""Realistic wrong implementations: the student's network of examples/ with one slip each.

Loaded by the tests as ``--manual tests/mutants.py:<Name>``.
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


def _grads(net, dO, mask=None, bias=lambda d: d.sum(axis=0, keepdims=True)):
    """The student's backward with pieces swappable: dO, the ReLU mask, the bias reduction."""
    dZ1 = (dO @ net.W2.T) * (net.Z1 > 0 if mask is None else mask)
    return {"W1": net.X.T @ dZ1, "b1": bias(dZ1), "W2": net.H.T @ dO, "b2": bias(dO)}


def mutant(name, backward=None, update=None, loss=None, init=None):
    """A _Mutant subclass whose StudentMLP has ``backward``/``update``/``loss``/``__init__`` replaced."""
    members = {k: v for k, v in (("backward", backward), ("update", update), ("loss", loss)) if v}
    if init:
        def __init__(self, *args, **kw):
            StudentMLP.__init__(self, *args, **kw)
            init(self)
        members["__init__"] = __init__
    net = type(f"{name}Net", (StudentMLP,), members)
    return type(name, (_Mutant,), {"net_class": net})


def _momentum(self, grads, rule):
    for k, g in grads.items():
        self.v[k], new = rule(self, k, g)
        setattr(self, k, new)


MissingOneOverN = mutant("MissingOneOverN", backward=lambda s, Y: _grads(s, s.P - Y))
SwappedTargetPrediction = mutant("SwappedTargetPrediction", backward=lambda s, Y: _grads(s, (Y - s.P) / len(Y)))
MeanOverNK = mutant("MeanOverNK", backward=lambda s, Y: _grads(s, (s.P - Y) / Y.size))
DiagonalSoftmaxJacobian = mutant("DiagonalSoftmaxJacobian",
                                 backward=lambda s, Y: _grads(s, -Y * (1 - s.P) / len(Y)))
NoReluDerivative = mutant("NoReluDerivative", backward=lambda s, Y: _grads(s, (s.P - Y) / len(Y), mask=1.0))
ReluDerivativeIsRelu = mutant("ReluDerivativeIsRelu",
                              backward=lambda s, Y: _grads(s, (s.P - Y) / len(Y), mask=s.H))
BiasAveraged = mutant("BiasAveraged", backward=lambda s, Y: _grads(s, (s.P - Y) / len(Y),
                                                                  bias=lambda d: d.mean(axis=0, keepdims=True)))


def _transposed(s, Y):
    g = _grads(s, (s.P - Y) / len(Y))
    g["W2"] = ((s.P - Y) / len(Y)).T @ s.H      # (out, in) ...
    g["W2"] = g["W2"].reshape(s.W2.shape)        # ... reshaped to (in, out): a reshape where .T was meant
    return g


TransposedGradient = mutant("TransposedGradient", backward=_transposed)
MomentumOnWeightsOnly = mutant("MomentumOnWeightsOnly", update=lambda s, grads: _momentum(
    s, grads, lambda s, k, g: ((s.gamma * s.v[k] + s.lr * g), getattr(s, k) - (s.gamma * s.v[k] + s.lr * g))
    if k.startswith("W") else (s.v[k], getattr(s, k) - s.lr * g)))
InitialVelocityIgnored = mutant("InitialVelocityIgnored",
                                init=lambda s: s.v.update({k: np.zeros_like(v) for k, v in s.v.items()}))
GradientAscent = mutant("GradientAscent", update=lambda s, grads: _momentum(
    s, grads, lambda s, k, g: (s.gamma * s.v[k] + s.lr * g, getattr(s, k) + (s.gamma * s.v[k] + s.lr * g))))
WeightDecay = mutant("WeightDecay", update=lambda s, grads: _momentum(
    s, grads, lambda s, k, g: (s.gamma * s.v[k] + s.lr * (g + 1e-2 * getattr(s, k)),
                               getattr(s, k) - (s.gamma * s.v[k] + s.lr * (g + 1e-2 * getattr(s, k))))))
Nesterov = mutant("Nesterov", update=lambda s, grads: _momentum(
    s, grads, lambda s, k, g: (s.gamma * s.v[k] + s.lr * g,
                               getattr(s, k) - (s.gamma * (s.gamma * s.v[k] + s.lr * g) + s.lr * g))))
TorchFormWithoutLr = mutant("TorchFormWithoutLr", update=lambda s, grads: _momentum(
    s, grads, lambda s, k, g: (s.gamma * s.v[k] + g, getattr(s, k) - s.lr * (s.gamma * s.v[k] + g))))
LossSummed = mutant("LossSummed", loss=lambda s, Y: -np.sum(Y * np.log(s.P)))


# --- correct but unusual: must pass ---------------------------------------------------------

def _inplace_probs_backward(s, Y):
    dO = s.P                       # edits the probabilities forward() returned
    dO -= Y
    dO /= len(Y)
    return _grads(s, dO)


InplaceProbs = mutant("InplaceProbs", backward=_inplace_probs_backward)


def _inplace_grad_update(s, grads):
    for k, g in grads.items():
        g *= s.lr                  # edits the gradients it was handed
        s.v[k] = s.gamma * s.v[k] + g
        setattr(s, k, getattr(s, k) - s.v[k])


InplaceGradStep = mutant("InplaceGradStep", update=_inplace_grad_update)
SummedLoss = mutant("SummedLoss", loss=lambda s, Y: -np.sum(Y * np.log(s.P)), backward=lambda s, Y: _grads(s, s.P - Y))


class BufferForm(_Mutant):
    """torch's buffer form, velocity() exposing the buffer (v / lr): right parameters, wrong velocity."""
    def step(self, grads):
        n = self.net
        for k, g in grads.items():
            n.v[k] = n.gamma * n.v[k] + g
            setattr(n, k, getattr(n, k) - n.lr * n.v[k])


# --- not usable: refused with one line -------------------------------------------------------

class CopyParams(_Mutant):
    def parameters(self):
        return {k: v.copy() for k, v in super().parameters().items()}


class VectorLoss(_Mutant):
    def forward(self, x, y):
        self.y = y
        probs = self.net.forward(x)
        return -np.sum(y * np.log(probs), axis=1), probs

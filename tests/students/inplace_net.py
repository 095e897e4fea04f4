"""Correct students who edit arrays in place (test fixtures): their intermediates share memory.

    lockstep run --manual tests/students/inplace_net.py:Backward     (cs231n's relu_backward:
                                                                     dx = dout; dx[x <= 0] = 0)
    lockstep run --manual tests/students/inplace_net.py:Forward      (ReLU written over Z1)
    lockstep run --manual tests/students/inplace_net.py:BackwardSlip (the same, dH twice too large)
"""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))
from student_adapter import Adapter  # noqa: E402
from student_mlp import StudentMLP  # noqa: E402


class InPlaceBackwardNet(StudentMLP):
    factor = 1.0

    def backward(self, Y):
        dO = (self.P - Y) / len(Y)
        dW2 = self.H.T @ dO
        db2 = dO.sum(axis=0, keepdims=True)
        self.dH = self.factor * (dO @ self.W2.T)
        dZ1 = self.dH                      # cs231n's relu_backward: dx = dout
        dZ1[self.Z1 <= 0] = 0              # dx[x <= 0] = 0: dout edited in place
        self.dZ1 = dZ1
        dW1 = self.X.T @ dZ1
        db1 = dZ1.sum(axis=0, keepdims=True)
        return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}


class InPlaceForwardNet(StudentMLP):
    def forward(self, X):
        self.X = X
        self.Z1 = X @ self.W1 + self.b1
        self.H = self.Z1                   # the ReLU written over Z1: Z1 is gone
        np.maximum(self.H, 0, out=self.H)
        self.O = self.H @ self.W2 + self.b2
        e = np.exp(self.O - self.O.max(axis=1, keepdims=True))
        self.P = e / e.sum(axis=1, keepdims=True)
        return self.P

    def backward(self, Y):
        dO = (self.P - Y) / len(Y)
        dW2 = self.H.T @ dO
        db2 = dO.sum(axis=0, keepdims=True)
        dZ1 = (dO @ self.W2.T) * (self.H > 0)
        dW1 = self.X.T @ dZ1
        db1 = dZ1.sum(axis=0, keepdims=True)
        return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}


class SlipNet(InPlaceBackwardNet):
    factor = 2.0


class Backward(Adapter):
    net_class = InPlaceBackwardNet

    def __init__(self, sizes, config):
        self.net = self.net_class(*sizes, lr=config.lr, gamma=config.momentum, v0=config.init_velocity,
                                  dtype=config.dtype)

    def intermediates(self):
        n = self.net
        out = {"hidden.pre": n.Z1, "hidden.act": n.H, "logits": n.O, "probs": n.P}
        if hasattr(n, "dH"):
            out.update({"fc2.dx": n.dH, "relu1.dx": n.dZ1})
        return out


class Forward(Backward):
    net_class = InPlaceForwardNet


class BackwardSlip(Backward):
    net_class = SlipNet

"""The torch twins of manual/layers.py: same class names, same constructor arguments.

Each is a torch.nn module computing the kind the way torch does. A kind with
branch points (a ReLU's kink, a max's tie) also says how to take its branches
from outside, so the referee can follow the manual side's branch where the
two sides' inputs are within rounding of the boundary:
  decide(x)               the branch each element takes (a bool or index tensor)
  margin(x)               how far each element is from changing branch, in x's units
  forward_with(x, taken)  the output (differentiable) with the branches ``taken``
"""
import torch
from torch import nn


class Linear(nn.Linear):
    def __init__(self, in_features: int, out_features: int, bias: bool = True, dtype=torch.float32):
        super().__init__(in_features, out_features, bias=bias, dtype=dtype)


class ReLU(nn.ReLU):
    def __init__(self, dtype=torch.float32):
        super().__init__()

    @staticmethod
    def decide(x):
        return x > 0

    @staticmethod
    def margin(x):
        return x.abs()

    @staticmethod
    def forward_with(x, taken):
        return torch.where(taken, x, torch.zeros((), dtype=x.dtype))

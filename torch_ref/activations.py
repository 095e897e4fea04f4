"""The torch twins of manual/activations.py."""
import torch
from torch import nn


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


class LeakyReLU(nn.LeakyReLU):
    """Branch point at 0, like ReLU: the slope is 1 where taken (x > 0), negative_slope elsewhere."""

    def __init__(self, negative_slope: float = 0.01, dtype=torch.float32):
        super().__init__(negative_slope)

    decide = staticmethod(ReLU.decide)
    margin = staticmethod(ReLU.margin)

    def forward_with(self, x, taken):
        return torch.where(taken, x, x * self.negative_slope)


class Sigmoid(nn.Sigmoid):
    def __init__(self, dtype=torch.float32):
        super().__init__()


class Tanh(nn.Tanh):
    def __init__(self, dtype=torch.float32):
        super().__init__()


class GELU(nn.GELU):
    def __init__(self, approximate: str = "none", dtype=torch.float32):
        super().__init__(approximate=approximate)

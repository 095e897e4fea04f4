"""The torch twins of manual/norm.py."""
import torch
from torch import nn


class BatchNorm1d(nn.BatchNorm1d):
    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, dtype=torch.float32):
        super().__init__(num_features, eps=eps, momentum=momentum, dtype=dtype)


class LayerNorm(nn.LayerNorm):
    def __init__(self, normalized_shape: int, eps: float = 1e-5, dtype=torch.float32):
        super().__init__(normalized_shape, eps=eps, dtype=dtype)

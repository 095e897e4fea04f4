"""The torch.nn twin of manual.MLP."""
import torch
from torch import nn


def layer_names(n_hidden: int) -> list[str]:
    """``hidden``, ``output`` for one hidden layer; ``hidden1``..``hiddenN``, ``output`` for more."""
    hidden = ["hidden"] if n_hidden == 1 else [f"hidden{i + 1}" for i in range(n_hidden)]
    return hidden + ["output"]


class MLP(nn.Module):
    """Linear -> ReLU -> ... -> Linear. sizes e.g. (784, 1000, 10); x (N, 784) -> logits (N, 10)."""

    def __init__(self, sizes, dtype=torch.float32):
        super().__init__()
        self.names = layer_names(len(sizes) - 2)
        for name, fan_in, fan_out in zip(self.names, sizes[:-1], sizes[1:]):
            setattr(self, name, nn.Linear(fan_in, fan_out, dtype=dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for name in self.names[:-1]:
            x = torch.relu(getattr(self, name)(x))
        return getattr(self, self.names[-1])(x)

"""The torch twins of manual/layers.py: same class names, same constructor arguments.

Each is a torch.nn module computing the kind the way torch does. A kind with
branch points (a ReLU's kink, a max's tie) also says how to take its branches
from outside, so the referee can follow the manual side's branch where the
two sides' inputs are within rounding of the boundary:
  decide(x)               the branch each element takes (a bool or index tensor); static
  margin(x)               how far each element is from changing branch, in x's units; static
  forward_with(x, taken)  the output (differentiable) with the branches ``taken``
Families: this module (affine, reshape, dropout), ``activations``, ``norm``; losses in ``losses``.
"""
import numpy as np
import torch
from torch import nn


class Linear(nn.Linear):
    def __init__(self, in_features: int, out_features: int, bias: bool = True, dtype=torch.float32):
        super().__init__(in_features, out_features, bias=bias, dtype=dtype)


class Flatten(nn.Flatten):
    """torch.nn.Flatten; ``order="hwc"`` permutes an NCHW input to NHWC first (manual/conventions.py FLATTEN_ORDER)."""

    def __init__(self, order: str = "chw", dtype=torch.float32):
        super().__init__()
        from manual.conventions import FLATTEN_ORDER
        self.perm = FLATTEN_ORDER[order]

    def forward(self, x):
        return super().forward(x.permute(self.perm) if x.dim() == 4 else x)


class Dropout(nn.Module):
    """torch.nn.Dropout's computation with a mask given from outside (manual.DropoutMask, shared with
    the manual side): in training x · (mask / (1 - p)), the noise formed as torch's dropout forms it
    (bernoulli(1 - p) divided by 1 - p, in x's dtype); in evaluation x. torch.nn.Dropout draws its
    own mask from torch's generator, so it cannot be used as is."""

    def __init__(self, p: float = 0.5, mask=None, dtype=torch.float32):
        super().__init__()
        self.p, self.source = p, mask

    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        keep = self.source.keep(tuple(x.shape), self.p)
        noise = torch.from_numpy(np.ascontiguousarray(keep)).to(x.dtype).div_(1 - self.p)
        return x * noise

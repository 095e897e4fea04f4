"""The torch twins of manual/norm.py."""
import torch
from torch import nn


class BatchNorm1d(nn.BatchNorm1d):
    """torch.nn.BatchNorm1d; with ``running_var="biased"`` (cs231n) the running statistics are updated
    here, in torch operations, towards the batch mean and the BIASED batch variance, which torch's own
    update (always unbiased) cannot express; the normalisation is torch's."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, running_var: str = "unbiased",
                 dtype=torch.float32):
        super().__init__(num_features, eps=eps, momentum=momentum, dtype=dtype)
        self.biased = running_var == "biased"

    def _check_input_dim(self, x) -> None:
        """(N, C) as nn.BatchNorm1d, or (N, C, H, W) as nn.BatchNorm2d, which differs from BatchNorm1d
        only in this check (torch 2.13, torch/nn/modules/batchnorm.py): both call F.batch_norm."""
        if x.dim() not in (2, 4):
            raise ValueError(f"expected 2D or 4D input (got {x.dim()}D input)")

    def forward(self, x):
        if not (self.biased and self.training):
            return super().forward(x)
        self._check_input_dim(x)
        with torch.no_grad():
            dims = (0, 2, 3) if x.dim() == 4 else (0,)
            mean = x.mean(dim=dims, keepdim=True)
            centred = x - mean
            var = (centred * centred).mean(dim=dims)
            self.running_mean.mul_(1 - self.momentum).add_(self.momentum * mean.flatten())
            self.running_var.mul_(1 - self.momentum).add_(self.momentum * var)
            self.num_batches_tracked.add_(1)
        return nn.functional.batch_norm(x, None, None, self.weight, self.bias, True, 0.0, self.eps)


class LayerNorm(nn.LayerNorm):
    def __init__(self, normalized_shape: int, eps: float = 1e-5, dtype=torch.float32):
        super().__init__(normalized_shape, eps=eps, dtype=dtype)


class GroupNorm(nn.GroupNorm):
    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, dtype=torch.float32):
        super().__init__(num_groups, num_channels, eps=eps, dtype=dtype)

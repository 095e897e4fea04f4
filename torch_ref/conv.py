"""The torch twins of manual/conv.py: torch.nn.Conv2d, MaxPool2d, AvgPool2d under the same constructor
arguments. MaxPool2d has branch points (which element of a window is its maximum) and says how to
take them from outside (torch_ref/layers.py): its branches are one index per output element, the
position of the chosen maximum in its window (row-major, 0 .. K²-1)."""
import torch
from torch import nn


class Conv2d(nn.Conv2d):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0,
                 dtype=torch.float32):
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=padding, dtype=dtype)


class MaxPool2d(nn.MaxPool2d):
    """torch.nn.MaxPool2d. decide(x): the index of each window's first maximum (torch.argmax returns the
    first of equal maxima, the element max_pool2d itself picks); margin(x): the window's maximum minus its
    second largest value (0 at a tie: the branch point); forward_with(x, taken): each window's element at
    ``taken``, differentiable (the gradient goes to that element only)."""

    per_window = True      # branches are per output element (window), not per input element

    def __init__(self, kernel_size: int, stride: int | None = None, dtype=torch.float32):
        super().__init__(kernel_size, stride=stride or kernel_size)

    def _windows(self, x):
        k, s = self.kernel_size, self.stride
        win = x.unfold(2, k, s).unfold(3, k, s)                     # (N, C, OH, OW, K, K)
        return win.reshape(*win.shape[:4], k * k)

    def decide(self, x):
        return self._windows(x).argmax(dim=-1)

    def margin(self, x):
        win = self._windows(x)
        if win.shape[-1] < 2:
            return torch.full(win.shape[:4], float("inf"), dtype=x.dtype)
        top = win.topk(2, dim=-1).values
        return top[..., 0] - top[..., 1]

    def forward_with(self, x, taken):
        return self._windows(x).gather(-1, taken.unsqueeze(-1)).squeeze(-1)


class AvgPool2d(nn.AvgPool2d):
    def __init__(self, kernel_size: int, stride: int | None = None, dtype=torch.float32):
        super().__init__(kernel_size, stride=stride or kernel_size)

"""The reference side: torch.nn twins of manual/ under the same names, and torch.optim.

Knows nothing of the harness.
"""
from torch_ref.layers import Linear, ReLU
from torch_ref.losses import CrossEntropy
from torch_ref.network import Network
from torch_ref.optim import SGDMomentum

__all__ = ["CrossEntropy", "Linear", "Network", "ReLU", "SGDMomentum"]

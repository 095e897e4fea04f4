"""The reference side: torch.nn, torch.nn.functional.cross_entropy, torch.optim.SGD.

Same parameter names and shapes as ``manual``; knows nothing of the harness.
"""
from torch_ref.mlp import MLP, layer_names
from torch_ref.optim import momentum_buffers, set_velocity, sgd_momentum

__all__ = ["MLP", "layer_names", "momentum_buffers", "set_velocity", "sgd_momentum"]

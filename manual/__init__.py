"""The hand-written side: NumPy only, explicit forward and backward.

Layout shared with torch.nn: weights are (out, in), samples are rows, and
parameters, gradients and optimizer state are dicts keyed by the torch
``state_dict`` names (``hidden.weight``, ``hidden.bias``, ``output.weight``...).
This package never imports torch.
"""
from manual.init import init_params, xavier_normal
from manual.layers import Linear, ReLU
from manual.losses import SoftmaxCrossEntropy
from manual.mlp import MLP, layer_names
from manual.optim import SGDMomentum

__all__ = [
    "MLP", "Linear", "ReLU", "SGDMomentum", "SoftmaxCrossEntropy",
    "init_params", "layer_names", "xavier_normal",
]

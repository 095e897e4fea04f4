"""The hand-written side: NumPy only, explicit forward and backward.

Layout shared with torch.nn: weights are (out, in), samples are rows, and
parameters, gradients, buffers and optimizer state are dicts keyed by torch's
names (``fc1.weight``, ``fc1.weight.momentum_buffer``). Never imports torch.
"""
from manual.init import SCHEMES, Scheme, fans, parse_scheme, xavier_normal
from manual.layers import Layer, Linear, ReLU
from manual.losses import CrossEntropy
from manual.network import Network
from manual.optim import SGDMomentum

__all__ = ["CrossEntropy", "Layer", "Linear", "Network", "ReLU", "SCHEMES", "SGDMomentum", "Scheme", "fans",
           "parse_scheme", "xavier_normal"]

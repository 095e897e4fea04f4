"""The hand-written side: NumPy only, explicit forward and backward.

Layout shared with torch.nn: weights are (out, in), samples are rows, and
parameters, gradients, buffers and optimizer state are dicts keyed by torch's
names (``fc1.weight``, ``fc1.weight.momentum_buffer``). Never imports torch.
Layer kinds by family: layers (Linear, Flatten, Dropout), activations, norm; losses.
"""
from manual.activations import GELU, LeakyReLU, ReLU, Sigmoid, Tanh
from manual.init import SCHEMES, Scheme, fans, parse_scheme, xavier_normal
from manual.layers import Dropout, DropoutMask, Flatten, Layer, Linear
from manual.losses import BCE, MSE, SVM, BCEWithLogits, CrossEntropy
from manual.network import Network
from manual.norm import BatchNorm1d, LayerNorm
from manual.optim import SGDMomentum
from manual.recurrent import LSTM, RNN, Embedding, TemporalLinear
from manual.losses import TemporalCrossEntropy

__all__ = ["BCE", "BCEWithLogits", "BatchNorm1d", "CrossEntropy", "Dropout", "DropoutMask", "Flatten", "GELU",
           "Layer", "LayerNorm", "LeakyReLU", "Linear", "MSE", "Network", "ReLU", "SCHEMES", "SGDMomentum", "SVM",
           "Scheme", "Sigmoid", "Tanh", "fans", "parse_scheme", "xavier_normal"]
__all__ += ["Embedding", "LSTM", "RNN", "TemporalCrossEntropy", "TemporalLinear"]
from manual.conv import AvgPool2d, Conv2d, MaxPool2d  # noqa: E402
from manual.norm import GroupNorm  # noqa: E402

__all__ += ["AvgPool2d", "Conv2d", "GroupNorm", "MaxPool2d"]

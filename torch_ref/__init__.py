"""The reference side: torch.nn twins of manual/ under the same names, and torch.optim.

Knows nothing of the harness.
"""
from torch_ref.activations import GELU, LeakyReLU, ReLU, Sigmoid, Tanh
from torch_ref.layers import Dropout, Flatten, Linear
from torch_ref.losses import BCE, MSE, SVM, BCEWithLogits, CrossEntropy
from torch_ref.network import Network
from torch_ref.norm import BatchNorm1d, LayerNorm
from torch_ref.optim import SGDMomentum
from torch_ref.recurrent import LSTM, RNN, Embedding, TemporalLinear
from torch_ref.losses import TemporalCrossEntropy

__all__ = ["BCE", "BCEWithLogits", "BatchNorm1d", "CrossEntropy", "Dropout", "Flatten", "GELU", "LayerNorm",
           "LeakyReLU", "Linear", "MSE", "Network", "ReLU", "SGDMomentum", "SVM", "Sigmoid", "Tanh"]
__all__ += ["Embedding", "LSTM", "RNN", "TemporalCrossEntropy", "TemporalLinear"]
from torch_ref.conv import AvgPool2d, Conv2d, MaxPool2d  # noqa: E402
from torch_ref.norm import GroupNorm  # noqa: E402

__all__ += ["AvgPool2d", "Conv2d", "GroupNorm", "MaxPool2d"]

"""The torch twins of manual/recurrent.py: torch.nn.Embedding, RNN and LSTM (batch_first, one layer,
h_0 = c_0 = 0; the output sequence only) and torch.nn.Linear applied per time step."""
import torch
from torch import nn


class Embedding(nn.Embedding):
    def __init__(self, num_embeddings: int, embedding_dim: int, dtype=torch.float32):
        super().__init__(num_embeddings, embedding_dim, dtype=dtype)


class TemporalLinear(nn.Linear):
    """nn.Linear on (N, T, D): torch applies it to the last axis, at every step."""

    def __init__(self, in_features: int, out_features: int, dtype=torch.float32):
        super().__init__(in_features, out_features, dtype=dtype)


class RNN(nn.RNN):
    def __init__(self, input_size: int, hidden_size: int, dtype=torch.float32):
        super().__init__(input_size, hidden_size, nonlinearity="tanh", batch_first=True, dtype=dtype)

    def forward(self, x):
        return super().forward(x)[0]


class LSTM(nn.LSTM):
    def __init__(self, input_size: int, hidden_size: int, dtype=torch.float32):
        super().__init__(input_size, hidden_size, batch_first=True, dtype=dtype)

    def forward(self, x):
        return super().forward(x)[0]

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


def _one_bias(module) -> None:
    """Leave the layer one bias (manual/conventions.py RECURRENT_BIAS, ``onebias``): bias_hh_l0 stops being
    a parameter and is a constant zero the recurrence still reads (torch's flat weights are rebuilt). Not a
    buffer either, so that no buffer row expects it: ``.double()``/``.to()`` leave it in its dtype, so the
    layer is built in the dtype it runs in (``dtype=``) and never converted."""
    zero = torch.zeros_like(module.bias_hh_l0)
    del module.bias_hh_l0
    module.bias_hh_l0 = zero         # a plain tensor attribute: neither a parameter nor a buffer
    module._init_flat_weights()


class RNN(nn.RNN):
    def __init__(self, input_size: int, hidden_size: int, one_bias: bool = False, dtype=torch.float32):
        super().__init__(input_size, hidden_size, nonlinearity="tanh", batch_first=True, dtype=dtype)
        if one_bias:
            _one_bias(self)

    def forward(self, x):
        return super().forward(x)[0]


class LSTM(nn.LSTM):
    def __init__(self, input_size: int, hidden_size: int, one_bias: bool = False, dtype=torch.float32):
        super().__init__(input_size, hidden_size, batch_first=True, dtype=dtype)
        if one_bias:
            _one_bias(self)

    def forward(self, x):
        return super().forward(x)[0]

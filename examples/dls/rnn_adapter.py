"""The adapter that lets lockstep check examples/dls/rnn.py unchanged (and its slipped variant), on the
built-in next-token task as one-hot characters. The course's layout is declared, not converted: samples
as columns with time last (x (n_x, m, T_x), scores and hidden states (n, m, T_x)), column biases, one-hot
labels (a padded step all zeros), one bias per recurrent layer (ba: recurrent_bias = "one").

    lockstep run --data builtin:sequence:onehot --manual examples/dls/rnn_adapter.py:Adapter --epochs 1 --out runs/dls-rnn
    lockstep run --data builtin:sequence:onehot --manual examples/dls/rnn_adapter.py:WithSlip --epochs 1 --out runs/slip
"""
import numpy as np

import rnn
import rnn_slip


class Adapter:
    backward_pass = staticmethod(rnn.model_backward)
    model, loss, init = "rnn:16,temporal_linear", "temporal_cross_entropy", "normal:0.01"
    samples, bias_shape, labels, recurrent_bias = "columns", "column", "onehot", "one"
    names = {"Wax": "rnn1.weight_ih_l0", "Waa": "rnn1.weight_hh_l0", "ba": "rnn1.bias_ih_l0",
             "Wya": "tfc1.weight", "by": "tfc1.bias"}

    def __init__(self, sizes, config):       # builtin:sequence:onehot: 10 tokens in, 10 scores out
        self.parameters_ = rnn.initialize_parameters(n_x=10, n_a=16, n_y=10, dtype=config.dtype)

    def parameters(self):
        return self.parameters_

    def forward(self, x, y):
        self.Y = y
        a0 = np.zeros((self.parameters_["Waa"].shape[0], x.shape[1]), x.dtype)
        self.a, self.z, self.y_pred, self.caches = rnn.rnn_forward(x, a0, self.parameters_)
        return rnn.compute_cost(self.y_pred, y), self.z

    def backward(self):
        self.grads = self.backward_pass(self.y_pred, self.Y, self.a, self.caches, self.parameters_)
        return {k: self.grads["d" + k] for k in self.parameters_}

    def intermediates(self):
        outs = {"rnn1.out": self.a, "tfc1.out": self.z}
        if hasattr(self, "grads"):
            outs.update({"loss.dx": self.grads["dz"], "tfc1.dx": self.grads["da"]})
        return outs


class WithSlip(Adapter):
    backward_pass = staticmethod(rnn_slip.model_backward)

"""rnn.py with one deliberate slip: rnn_backward assigns dWax = dWaxt in its loop where it accumulates
(+=) the other gradients. lockstep localises it at the RNN's input weight and names it: the gradient is
the first time step's term alone, where backpropagation through time sums every step's."""
import numpy as np

import rnn


def rnn_backward(da, caches):
    (cache_list, x) = caches
    n_a, m, T_x = da.shape
    grads = {"dx": np.zeros((x.shape[0], m, T_x), da.dtype), "dWaa": 0, "dba": 0}
    da_prevt = np.zeros((n_a, m), da.dtype)
    for t in reversed(range(T_x)):
        g = rnn.rnn_cell_backward(da[:, :, t] + da_prevt, cache_list[t])
        grads["dx"][:, :, t], da_prevt = g["dxt"], g["da_prev"]
        grads["dWax"] = g["dWax"]
        grads["dWaa"] = grads["dWaa"] + g["dWaa"]
        grads["dba"] = grads["dba"] + g["dba"]
    grads["da0"] = da_prevt
    return grads


def model_backward(y_pred, Y, a, caches, parameters):
    return rnn.model_backward(y_pred, Y, a, caches, parameters, rnn_backward=rnn_backward)

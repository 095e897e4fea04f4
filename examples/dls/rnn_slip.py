"""rnn.py with one deliberate slip: rnn_backward assigns dWax = dWaxt in its loop where it accumulates
(+=) the other gradients. lockstep localises it at the RNN's input weight and names it: the gradient is
the first time step's term alone, where backpropagation through time sums every step's."""
import numpy as np

import rnn


def rnn_backward(da, caches):
    (cache_list, x) = caches
    n_a, m, T_x = da.shape
    n_x = x.shape[0]
    dx = np.zeros((n_x, m, T_x), da.dtype)
    dWax = np.zeros((n_a, n_x), da.dtype)
    dWaa = np.zeros((n_a, n_a), da.dtype)
    dba = np.zeros((n_a, 1), da.dtype)
    da_prevt = np.zeros((n_a, m), da.dtype)
    for t in reversed(range(T_x)):
        gradients = rnn.rnn_cell_backward(da[:, :, t] + da_prevt, cache_list[t])
        dx[:, :, t], da_prevt = gradients["dxt"], gradients["da_prev"]
        dWax = gradients["dWax"]
        dWaa += gradients["dWaa"]
        dba += gradients["dba"]
    return {"dx": dx, "da0": da_prevt, "dWax": dWax, "dWaa": dWaa, "dba": dba}


def model_backward(y_pred, Y, a, caches, parameters):
    return rnn.model_backward(y_pred, Y, a, caches, parameters, rnn_backward=rnn_backward)

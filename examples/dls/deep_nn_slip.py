"""deep_nn.py with one deliberate slip: linear_backward forgets the 1/m of db (dW keeps it).
lockstep names it: each ``fc.bias`` gradient is the reference times m, the batch size."""
import numpy as np

import deep_nn


def linear_backward(dZ, cache):
    A_prev, W, b = cache
    m = A_prev.shape[1]
    dW = dZ @ A_prev.T / m
    db = np.sum(dZ, axis=1, keepdims=True)
    dA_prev = W.T @ dZ
    return dA_prev, dW, db


def L_model_backward(AL, Y, caches):
    return deep_nn.L_model_backward(AL, Y, caches, linear_backward=linear_backward)

"""cnn.py with one deliberate slip: conv_backward takes db as course 1 taught, 1/m times the sum of dZ,
where dZ already carries the 1/m of the cost (dW and dA_prev are right). lockstep catches it at the
first step and localises it: each conv bias gradient is the reference divided by m, the batch size."""
import numpy as np

import cnn


def conv_backward(dZ, cache):
    dA_prev, dW, _ = cnn.conv_backward(dZ, cache)
    m = dZ.shape[0]
    db = 1 / m * np.sum(dZ, axis=(0, 1, 2), keepdims=True)
    return dA_prev, dW, db


def backward_propagation(AL, Y, caches, parameters):
    return cnn.backward_propagation(AL, Y, caches, parameters, conv_backward=conv_backward)

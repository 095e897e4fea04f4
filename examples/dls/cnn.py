"""A Deep Learning Specialization-style convolutional network (course 4 week 1, "Convolutional Model:
step by step"), written as a student writes it, without lockstep in mind: channels-last data A (m, n_H,
n_W, n_C), filters W (f, f, n_C_prev, n_C) and biases b (1, 1, 1, n_C) in a dict, zero_pad, a forward
and backward that loop over the output positions (vectorised over the examples and channels), a max
pool whose backward puts each window's gradient where its maximum was, then the activations flattened
as A.reshape(m, -1) (features in the order h, w, c), one dense softmax layer (numpy-ml's layout:
W (n_in, n_out), b (1, n_out)) and the cross-entropy cost over one-hot labels Y (m, n_y). NumPy only.

    CONV(3x3, same) -> RELU -> MAXPOOL(2) -> CONV(3x3, same) -> RELU -> MAXPOOL(2) -> FLATTEN -> DENSE -> SOFTMAX
"""
import numpy as np


def initialize_parameters(n_C=(4, 8), n_C0=1, side=28, n_y=10, f=3, dtype=np.float64, seed=1):
    rng = np.random.default_rng(seed)
    parameters, previous = {}, n_C0
    for l, channels in enumerate(n_C, start=1):
        parameters["W" + str(l)] = (rng.standard_normal((f, f, previous, channels))
                                    * np.sqrt(2 / (f * f * previous))).astype(dtype)
        parameters["b" + str(l)] = np.zeros((1, 1, 1, channels), dtype)
        previous, side = channels, side // 2
    L = len(n_C) + 1
    n_in = side * side * previous
    parameters["W" + str(L)] = (rng.standard_normal((n_in, n_y)) * np.sqrt(2 / n_in)).astype(dtype)
    parameters["b" + str(L)] = np.zeros((1, n_y), dtype)
    return parameters


def zero_pad(X, pad):
    return np.pad(X, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="constant", constant_values=(0, 0))


def conv_forward(A_prev, W, b, hparameters):
    (m, n_H_prev, n_W_prev, n_C_prev) = A_prev.shape
    (f, f, n_C_prev, n_C) = W.shape
    stride, pad = hparameters["stride"], hparameters["pad"]
    n_H = int((n_H_prev - f + 2 * pad) / stride) + 1
    n_W = int((n_W_prev - f + 2 * pad) / stride) + 1
    Z = np.zeros((m, n_H, n_W, n_C), A_prev.dtype)
    A_prev_pad = zero_pad(A_prev, pad)
    for h in range(n_H):
        vert_start = h * stride
        vert_end = vert_start + f
        for w in range(n_W):
            horiz_start = w * stride
            horiz_end = horiz_start + f
            a_slice_prev = A_prev_pad[:, vert_start:vert_end, horiz_start:horiz_end, :]   # (m, f, f, n_C_prev)
            Z[:, h, w, :] = np.tensordot(a_slice_prev, W, axes=([1, 2, 3], [0, 1, 2])) + b[0, 0, 0]
    cache = (A_prev, W, b, hparameters)
    return Z, cache


def conv_backward(dZ, cache):
    (A_prev, W, b, hparameters) = cache
    (f, f, n_C_prev, n_C) = W.shape
    stride, pad = hparameters["stride"], hparameters["pad"]
    (m, n_H, n_W, n_C) = dZ.shape
    A_prev_pad = zero_pad(A_prev, pad)
    dA_prev_pad = np.zeros_like(A_prev_pad)
    dW = np.zeros_like(W)
    for h in range(n_H):
        rows = slice(h * stride, h * stride + f)
        for w in range(n_W):
            cols = slice(w * stride, w * stride + f)
            dA_prev_pad[:, rows, cols, :] += np.tensordot(dZ[:, h, w, :], W, axes=([1], [3]))
            dW += np.tensordot(A_prev_pad[:, rows, cols, :], dZ[:, h, w, :], axes=([0], [0]))
    db = np.sum(dZ, axis=(0, 1, 2), keepdims=True)
    dA_prev = dA_prev_pad[:, pad:pad + A_prev.shape[1], pad:pad + A_prev.shape[2], :]
    return dA_prev, dW, db


def relu(Z):
    return np.maximum(0, Z)


def pool_forward(A_prev, hparameters):
    (m, n_H_prev, n_W_prev, n_C) = A_prev.shape
    f, stride = hparameters["f"], hparameters["stride"]
    n_H, n_W = 1 + (n_H_prev - f) // stride, 1 + (n_W_prev - f) // stride
    A = np.zeros((m, n_H, n_W, n_C), A_prev.dtype)
    for h in range(n_H):
        for w in range(n_W):
            a_slice = A_prev[:, h * stride:h * stride + f, w * stride:w * stride + f, :]
            A[:, h, w, :] = np.max(a_slice, axis=(1, 2))
    return A, (A_prev, hparameters)


def pool_backward(dA, cache):
    """Each window's gradient to its (first) maximum: the mask is the one-hot of the window's argmax."""
    (A_prev, hparameters) = cache
    f, stride = hparameters["f"], hparameters["stride"]
    (m, n_H, n_W, n_C) = dA.shape
    dA_prev = np.zeros_like(A_prev)
    for h in range(n_H):
        for w in range(n_W):
            a_slice = A_prev[:, h * stride:h * stride + f, w * stride:w * stride + f, :].reshape(m, f * f, n_C)
            mask = np.zeros_like(a_slice)
            np.put_along_axis(mask, np.argmax(a_slice, axis=1)[:, None, :], 1, axis=1)
            dA_prev[:, h * stride:h * stride + f, w * stride:w * stride + f, :] += \
                (mask * dA[:, h, w, None, :]).reshape(m, f, f, n_C)
    return dA_prev


def softmax(Z):
    e = np.exp(Z - np.max(Z, axis=1, keepdims=True))
    return e / np.sum(e, axis=1, keepdims=True)


def forward_propagation(X, parameters):
    caches, A = [], X
    L = len(parameters) // 2
    for l in range(1, L):
        Z, conv_cache = conv_forward(A, parameters["W" + str(l)], parameters["b" + str(l)], {"stride": 1, "pad": 1})
        R = relu(Z)
        A, pool_cache = pool_forward(R, {"f": 2, "stride": 2})
        caches.append((conv_cache, Z, R, pool_cache, A))
    F = A.reshape(A.shape[0], -1)
    Z_out = F @ parameters["W" + str(L)] + parameters["b" + str(L)]
    caches.append((F, A.shape, Z_out))
    return softmax(Z_out), caches


def compute_cost(AL, Y):
    m = Y.shape[0]
    return float(-np.sum(Y * np.log(AL)) / m)


def backward_propagation(AL, Y, caches, parameters, conv_backward=conv_backward):
    grads, m = {}, Y.shape[0]
    L = len(caches)
    F, shape, _ = caches[-1]
    dZ_out = (AL - Y) / m
    grads["dZ" + str(L)] = dZ_out
    grads["dW" + str(L)] = F.T @ dZ_out
    grads["db" + str(L)] = np.sum(dZ_out, axis=0, keepdims=True)
    dA = (dZ_out @ parameters["W" + str(L)].T).reshape(shape)
    for l in reversed(range(1, L)):
        conv_cache, Z, R, pool_cache, _ = caches[l - 1]
        grads["dA" + str(l)] = dA
        dR = pool_backward(dA, pool_cache)
        dZ = dR * (Z > 0)
        grads["dR" + str(l)], grads["dZ" + str(l)] = dR, dZ
        dA, grads["dW" + str(l)], grads["db" + str(l)] = conv_backward(dZ, conv_cache)
    return grads


def update_parameters(parameters, grads, learning_rate):
    for key in parameters:
        parameters[key] -= learning_rate * grads["d" + key]
    return parameters

"""A Deep Learning Specialization-style recurrent network (course 5 week 1, "Building your Recurrent Neural
Network - Step by Step"), written as a student writes it, without lockstep in mind: time last, x (n_x, m,
T_x) one-hot characters, hidden states a (n_a, m, T_x), parameters Wax (n_a, n_x), Waa (n_a, n_a), one bias
ba (n_a, 1), Wya (n_y, n_a), by (n_y, 1) in a dict; rnn_cell_forward / rnn_forward, a softmax output at
every step, the cross-entropy summed over the steps a one-hot label marks (a padded step's label is all
zeros) and divided by m, and rnn_cell_backward / rnn_backward looping over t from T_x - 1 down to 0.
NumPy only.
"""
import numpy as np


def initialize_parameters(n_x, n_a, n_y, dtype=np.float64, seed=1):
    rng = np.random.default_rng(seed)
    return {"Wax": (rng.standard_normal((n_a, n_x)) * 0.01).astype(dtype),
            "Waa": (rng.standard_normal((n_a, n_a)) * 0.01).astype(dtype),
            "ba": np.zeros((n_a, 1), dtype),
            "Wya": (rng.standard_normal((n_y, n_a)) * 0.01).astype(dtype),
            "by": np.zeros((n_y, 1), dtype)}


def softmax(x):
    e_x = np.exp(x - np.max(x, axis=0, keepdims=True))
    return e_x / e_x.sum(axis=0, keepdims=True)


def rnn_cell_forward(xt, a_prev, parameters):
    Wax, Waa, Wya, ba, by = (parameters[k] for k in ("Wax", "Waa", "Wya", "ba", "by"))
    a_next = np.tanh(np.dot(Waa, a_prev) + np.dot(Wax, xt) + ba)
    zt = np.dot(Wya, a_next) + by
    yt_pred = softmax(zt)
    cache = (a_next, a_prev, xt, parameters)
    return a_next, zt, yt_pred, cache


def rnn_forward(x, a0, parameters):
    caches = []
    n_x, m, T_x = x.shape
    n_y, n_a = parameters["Wya"].shape
    a = np.zeros((n_a, m, T_x), x.dtype)
    z = np.zeros((n_y, m, T_x), x.dtype)
    y_pred = np.zeros((n_y, m, T_x), x.dtype)
    a_next = a0
    for t in range(T_x):
        a_next, zt, yt_pred, cache = rnn_cell_forward(x[:, :, t], a_next, parameters)
        a[:, :, t], z[:, :, t], y_pred[:, :, t] = a_next, zt, yt_pred
        caches.append(cache)
    return a, z, y_pred, (caches, x)


def compute_cost(y_pred, Y):
    m = Y.shape[1]
    return float(-np.sum(Y * np.log(y_pred)) / m)


def rnn_cell_backward(da_next, cache):
    (a_next, a_prev, xt, parameters) = cache
    Wax, Waa = parameters["Wax"], parameters["Waa"]
    dtanh = (1 - a_next ** 2) * da_next
    dxt = np.dot(Wax.T, dtanh)
    dWax = np.dot(dtanh, xt.T)
    da_prev = np.dot(Waa.T, dtanh)
    dWaa = np.dot(dtanh, a_prev.T)
    dba = np.sum(dtanh, axis=1, keepdims=True)
    return {"dxt": dxt, "da_prev": da_prev, "dWax": dWax, "dWaa": dWaa, "dba": dba}


def rnn_backward(da, caches):
    (caches, x) = caches
    (a1, a0, x1, parameters) = caches[0]
    n_a, m, T_x = da.shape
    n_x, m = x1.shape
    dx = np.zeros((n_x, m, T_x), da.dtype)
    dWax = np.zeros((n_a, n_x), da.dtype)
    dWaa = np.zeros((n_a, n_a), da.dtype)
    dba = np.zeros((n_a, 1), da.dtype)
    da_prevt = np.zeros((n_a, m), da.dtype)
    for t in reversed(range(T_x)):
        gradients = rnn_cell_backward(da[:, :, t] + da_prevt, caches[t])
        dxt, da_prevt, dWaxt, dWaat, dbat = (gradients[k] for k in ("dxt", "da_prev", "dWax", "dWaa", "dba"))
        dx[:, :, t] = dxt
        dWax += dWaxt
        dWaa += dWaat
        dba += dbat
    da0 = da_prevt
    return {"dx": dx, "da0": da0, "dWax": dWax, "dWaa": dWaa, "dba": dba}


def model_backward(y_pred, Y, a, caches, parameters, rnn_backward=rnn_backward):
    """The softmax output layer's gradients at every step, then backpropagation through time."""
    m, T_x = Y.shape[1], Y.shape[2]
    dz = (y_pred - Y) * np.sum(Y, axis=0, keepdims=True) / m       # 0 at a padded step (its label is all zeros)
    dWya = sum(np.dot(dz[:, :, t], a[:, :, t].T) for t in range(T_x))
    dby = np.sum(dz, axis=(1, 2))[:, None]
    da = np.einsum("ya,ymt->amt", parameters["Wya"], dz)
    gradients = rnn_backward(da, caches)
    gradients.update({"dWya": dWya, "dby": dby, "dz": dz, "da": da})
    return gradients

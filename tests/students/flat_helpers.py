"""Helpers of flat_net.py, in a module of their own (a test fixture)."""
import numpy as np


def softmax(o):
    e = np.exp(o - o.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def zeros_like_rows(n, k):
    return np.zeros((n, k))

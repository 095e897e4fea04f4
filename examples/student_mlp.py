"""A typical student implementation of the assignment, written without lockstep in mind.

Weights (in, out), biases (1, n), samples as rows, one-hot labels, mean
cross-entropy, momentum in the course's velocity form.
"""
import numpy as np


class StudentMLP:
    def __init__(self, n_in, n_hidden, n_out, lr, gamma, v0, dtype="float64"):
        rng = np.random.default_rng(0)
        self.W1 = rng.normal(0, np.sqrt(2 / (n_in + n_hidden)), (n_in, n_hidden)).astype(dtype)
        self.b1 = np.zeros((1, n_hidden), dtype)
        self.W2 = rng.normal(0, np.sqrt(2 / (n_hidden + n_out)), (n_hidden, n_out)).astype(dtype)
        self.b2 = np.zeros((1, n_out), dtype)
        self.lr, self.gamma = lr, gamma
        self.v = {k: np.full_like(getattr(self, k), v0) for k in ("W1", "b1", "W2", "b2")}

    def forward(self, X):
        self.X = X
        self.Z1 = X @ self.W1 + self.b1
        self.H = np.maximum(self.Z1, 0)
        self.O = self.H @ self.W2 + self.b2
        e = np.exp(self.O - self.O.max(axis=1, keepdims=True))
        self.P = e / e.sum(axis=1, keepdims=True)
        return self.P

    def loss(self, Y):
        return -np.mean(np.sum(Y * np.log(self.P), axis=1))

    def backward(self, Y):
        dO = (self.P - Y) / len(Y)
        dW2 = self.H.T @ dO
        db2 = dO.sum(axis=0, keepdims=True)
        dZ1 = (dO @ self.W2.T) * (self.Z1 > 0)
        dW1 = self.X.T @ dZ1
        db1 = dZ1.sum(axis=0, keepdims=True)
        return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}

    def update(self, grads):
        for k, g in grads.items():
            self.v[k] = self.gamma * self.v[k] + self.lr * g
            setattr(self, k, getattr(self, k) - self.v[k])

"""A student network whose forward uses the NumPy idioms students write (a test fixture).

Each line of ``forward`` exercises one idiom the audit's torch stand-in must
follow (named in the comment); the network is still an ordinary ReLU MLP with
softmax cross-entropy plus a small regulariser, and ``backward`` is its
correct hand derivation. W (in, out), flat biases, integer labels.
"""
import numpy as np


class IdiomNet:
    decay = 1e-3

    def __init__(self, n_in, n_hidden, n_out, dtype="float64"):
        rng = np.random.default_rng(1)
        self.W1 = (0.3 * rng.standard_normal((n_in, n_hidden))).astype(dtype)
        self.b1 = np.zeros(n_hidden, dtype=dtype)
        self.W2 = (0.3 * rng.standard_normal((n_hidden, n_out))).astype(dtype)
        self.b2 = np.zeros(n_out, dtype=dtype)

    def forward(self, X, y):
        assert X.ndim == 2                                  # .ndim
        N, K = X.shape[0], self.b2.size                     # .shape, .size
        if X.dtype == np.float32:                           # np.float32 ...
            X = X.astype(np.float64)                        # ... .astype
        z = X.dot(self.W1) + self.b1.reshape(1, -1)         # X.dot(W), reshape
        mask = z > 0
        h = z.copy()                                        # .copy()
        h[~mask] = 0.0                                      # boolean-mask assignment: ReLU
        h = np.where(mask, h, 0.0)                          # np.where: the same ReLU again
        h = np.maximum(h, 0)                                # np.maximum: and again
        o = np.zeros((N, K))                                # np.zeros: a buffer made in forward ...
        o += np.einsum("nh,kh->nk", h, np.transpose(self.W2))  # ... accumulated into; einsum, np.transpose
        o += self.b2                                        # += on a value autograd tracks
        np.clip(o, -1e3, 1e3, out=o)                        # np.clip with out= (never active here)
        shift = o - o.max(axis=1, keepdims=True)            # method with axis=, keepdims=
        p = np.exp(shift)
        p /= p.sum(axis=1, keepdims=True)                   # /= on the value exp's backward needs
        picked = np.log(p[np.arange(N), y])                 # np.arange indexing
        log_p = shift - np.log(np.sum(np.exp(shift), axis=1, keepdims=True))
        onehot = np.eye(K)[y]                               # np.eye(K)[y]
        ce = 0.5 * (-np.mean(picked) - np.sum(onehot * log_p) / N)
        reg = self.decay * (np.sum(np.square(self.W1.transpose()))          # square, .transpose()
                            + np.sqrt(np.sum(self.W2.T ** 2))               # sqrt, .T
                            + np.mean(np.abs(self.b2))                      # abs, mean
                            + np.sum(np.log1p(np.tanh(self.b1) ** 2)))      # log1p, tanh
        self.X, self.y, self.z, self.h, self.o, self.p = X, y, z, h, o, p
        return ce + reg, p

    def backward(self):
        N, K = len(self.y), self.b2.size
        d = (self.p - np.eye(K)[self.y]) / N
        t = np.tanh(self.b1)
        dW2 = self.h.T @ d + self.decay * self.W2 / np.sqrt(np.sum(self.W2 ** 2))
        db2 = d.sum(axis=0) + self.decay * np.sign(self.b2) / K
        dz = (d @ self.W2.T) * (self.z > 0)
        dW1 = self.X.T @ dz + 2 * self.decay * self.W1
        db1 = dz.sum(axis=0) + self.decay * 2 * t * (1 - t ** 2) / (1 + t ** 2)
        return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}

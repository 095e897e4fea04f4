"""A cs231n-style FullyConnectedNet (assignment 2), written as a student writes it, without lockstep
in mind: layer functions returning (out, cache) and their backward passes, weights W (in, out) used
as x @ W, parameters in self.params (W1, b1, gamma1, beta1, ...), batchnorm and dropout parameters in
dicts with a "mode" (cs231n's conventions: dropout's p is the KEEP probability, batchnorm's momentum
weighs the old running value, running_var follows np.var), softmax loss averaged over the batch, L2
as 0.5 * reg * sum(W^2) on the weights. {affine - batchnorm - relu - dropout} x (L - 1) - affine.
NumPy only. Two accommodations a debugging student might make: dropout takes a given keep mask
("keep" in its param dict) instead of drawing one, and the network keeps each layer's output and
upstream gradient (self.outputs, self.upstream) for inspection.
"""
import numpy as np


def affine_forward(x, w, b):
    return x @ w + b, (x, w)


def affine_backward(dout, cache):
    x, w = cache
    return dout @ w.T, x.T @ dout, dout.sum(axis=0)


def relu_forward(x):
    return np.maximum(x, 0), x


def relu_backward(dout, x):
    return dout * (x > 0)


def batchnorm_forward(x, gamma, beta, bn_param):
    eps, momentum = bn_param.get("eps", 1e-5), bn_param.get("momentum", 0.9)
    n, d = x.shape
    running_mean = bn_param.get("running_mean", np.zeros(d, dtype=x.dtype))
    running_var = bn_param.get("running_var", np.zeros(d, dtype=x.dtype))
    if bn_param["mode"] == "train":
        mu, var = x.mean(axis=0), x.var(axis=0)
        xhat = (x - mu) / np.sqrt(var + eps)
        running_mean = momentum * running_mean + (1 - momentum) * mu
        running_var = momentum * running_var + (1 - momentum) * var
    else:
        var = running_var
        xhat = (x - running_mean) / np.sqrt(running_var + eps)
    bn_param["running_mean"], bn_param["running_var"] = running_mean, running_var
    return gamma * xhat + beta, (xhat, gamma, var, eps)


def batchnorm_backward_alt(dout, cache):
    xhat, gamma, var, eps = cache
    dgamma, dbeta = (dout * xhat).sum(axis=0), dout.sum(axis=0)
    dxhat = dout * gamma
    dx = (dxhat - dxhat.mean(axis=0) - xhat * (dxhat * xhat).mean(axis=0)) / np.sqrt(var + eps)
    return dx, dgamma, dbeta


def dropout_forward(x, dropout_param):
    p = dropout_param["p"]                          # keep probability (cs231n)
    if dropout_param["mode"] != "train":
        return x, (dropout_param, None)
    keep = dropout_param.get("keep")
    if keep is None:
        keep = np.random.rand(*x.shape) < p
    mask = (keep / p).astype(x.dtype)
    return x * mask, (dropout_param, mask)


def dropout_backward(dout, cache):
    dropout_param, mask = cache
    return dout * mask if dropout_param["mode"] == "train" else dout


def softmax_loss(x, y):
    shifted = x - x.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    n = x.shape[0]
    loss = -log_probs[np.arange(n), y].mean()
    dx = np.exp(log_probs)
    dx[np.arange(n), y] -= 1
    return loss, dx / n


class FullyConnectedNet:
    # the layer functions, as class attributes so that a variant can swap one (fc_net_slip.py)
    dropout_backward = staticmethod(dropout_backward)

    def __init__(self, hidden_dims, input_dim=3 * 32 * 32, num_classes=10, dropout_keep_ratio=1.0,
                 normalization="batchnorm", reg=0.0, weight_scale=1e-2, dtype=np.float32, seed=0):
        rng = np.random.default_rng(seed)
        dims = [input_dim, *hidden_dims, num_classes]
        self.num_layers, self.reg, self.dtype = len(dims) - 1, reg, dtype
        self.params = {}
        for i in range(1, self.num_layers + 1):
            self.params[f"W{i}"] = (weight_scale * rng.standard_normal((dims[i - 1], dims[i]))).astype(dtype)
            self.params[f"b{i}"] = np.zeros(dims[i], dtype)
            if i < self.num_layers and normalization == "batchnorm":
                self.params[f"gamma{i}"] = np.ones(dims[i], dtype)
                self.params[f"beta{i}"] = np.zeros(dims[i], dtype)
        self.normalization = normalization
        self.use_dropout = dropout_keep_ratio != 1
        self.dropout_params = [{"mode": "train", "p": dropout_keep_ratio} for _ in range(self.num_layers - 1)]
        self.bn_params = [{"mode": "train"} for _ in range(self.num_layers - 1)]

    def scores(self, X, mode):
        """The forward pass; keeps the caches (and each layer's output) for backward."""
        for param in self.dropout_params + self.bn_params:
            param["mode"] = mode
        self.caches, self.outputs, out = [], {}, X
        for i in range(1, self.num_layers + 1):
            out, cache = affine_forward(out, self.params[f"W{i}"], self.params[f"b{i}"])
            self.caches.append(cache)
            self.outputs[f"fc{i}"] = out
            if i == self.num_layers:
                break
            if self.normalization == "batchnorm":
                out, cache = batchnorm_forward(out, self.params[f"gamma{i}"], self.params[f"beta{i}"],
                                               self.bn_params[i - 1])
                self.caches.append(cache)
                self.outputs[f"bn{i}"] = out
            out, cache = relu_forward(out)
            self.caches.append(cache)
            self.outputs[f"relu{i}"] = out
            if self.use_dropout:
                out, cache = dropout_forward(out, self.dropout_params[i - 1])
                self.caches.append(cache)
                self.outputs[f"drop{i}"] = out
        return out

    def loss(self, X, y):
        """(loss, grads) on a training batch."""
        scores = self.scores(X, "train")
        loss, dout = softmax_loss(scores, y)
        grads, caches, self.upstream = {}, list(self.caches), {"loss": dout}
        for i in range(self.num_layers, 0, -1):
            if i < self.num_layers:
                if self.use_dropout:
                    dout = self.dropout_backward(dout, caches.pop())
                    self.upstream[f"drop{i}"] = dout
                dout = relu_backward(dout, caches.pop())
                self.upstream[f"relu{i}"] = dout
                if self.normalization == "batchnorm":
                    dout, grads[f"gamma{i}"], grads[f"beta{i}"] = batchnorm_backward_alt(dout, caches.pop())
                    self.upstream[f"bn{i}"] = dout
            dout, grads[f"W{i}"], grads[f"b{i}"] = affine_backward(dout, caches.pop())
            self.upstream[f"fc{i}"] = dout
            loss += 0.5 * self.reg * np.sum(self.params[f"W{i}"] ** 2)
            grads[f"W{i}"] += self.reg * self.params[f"W{i}"]
        return loss, grads

"""Losses on the network's scores: ``forward(scores, y) -> float``, ``backward() -> dL/dscores``,
``predict(scores)``: the predicted class per sample (None for regression).

Targets: class losses take y (N,) integers, binary ones y (N,) of 0/1 with one score per sample,
regression ones y (N, k) floats. ``reduction``: "mean" (over the samples, as each torch loss does) or
"sum". Conventions the courses differ on are named in manual/conventions.py.
"""
import numpy as np

from manual.conventions import BCE_CLIP, BCE_GRAD_EPS, BCE_LOG_FLOOR, MSE_SCALE
from manual.conventions import SEQUENCE_PAD


class CrossEntropy:
    """Softmax + cross-entropy, fused: loss = -mean_i log softmax(z_i)[y_i] (``reduction="sum"``:
    the sum over i), as torch.nn.functional.cross_entropy. z (N, K) logits, y (N,) integers.

    The softmax shifts each row by its own max (stable for any logit scale) and adds no
    epsilon. dL/dz = (softmax(z) - onehot(y)) / N, without the 1/N for the sum.
    """

    def __init__(self, reduction: str = "mean"):
        self.reduction = reduction

    def forward(self, logits, y):
        row_max = logits.max(axis=1, keepdims=True)
        probs = np.subtract(logits, row_max)
        np.exp(probs, out=probs)
        sums = probs.sum(axis=1, keepdims=True)
        probs /= sums
        self.probs, self.y = probs, y
        # log p_y = (z_y - max) - log(sum exp(z - max)), as torch's log_softmax.
        log_py = logits[np.arange(len(y)), y] - row_max[:, 0] - np.log(sums[:, 0])
        return float(-log_py.mean() if self.reduction == "mean" else -log_py.sum())

    def backward(self):
        d = self.probs.copy()
        d[np.arange(len(self.y)), self.y] -= 1
        if self.reduction == "mean":
            d /= len(self.y)
        return d

    @staticmethod
    def predict(scores):
        return scores.argmax(axis=1)


class SVM:
    """Multiclass hinge (cs231n's SVM loss, margin 1): L_i = sum over j != y_i of
    max(0, s_j - s_{y_i} + 1), averaged over the samples (or summed).
    dL/ds_j = [margin_j > 0], dL/ds_{y_i} = -(number of positive margins), / N for the mean;
    at a margin of exactly 0 the derivative is 0, as torch's. The margin is computed as torch does,
    (1 - s_y) + s_j, so both sides round it alike. torch.nn.MultiMarginLoss divides each sample's
    sum by the number of classes K: the twin multiplies it back.
    """

    def __init__(self, reduction: str = "mean"):
        self.reduction = reduction

    def margins(self, scores, y):
        rows = np.arange(len(y))
        margins = (1 - scores[rows, y])[:, None] + scores
        margins[rows, y] = 0
        return margins

    def forward(self, scores, y):
        margins = np.maximum(self.margins(scores, y), 0)
        self.positive, self.y, self.dtype = margins > 0, y, scores.dtype
        total = margins.sum(axis=1)
        return float(total.mean() if self.reduction == "mean" else total.sum())

    def backward(self):
        d = self.positive.astype(self.dtype)
        d[np.arange(len(self.y)), self.y] = -d.sum(axis=1)
        if self.reduction == "mean":
            d /= len(self.y)
        return d

    predict = staticmethod(CrossEntropy.predict)


class MSE:
    """Mean squared error over every element, as torch.nn.MSELoss: L = c · mean((s - y)²) (sum: the
    sum), s and y (N, k); dL/ds = c · 2 (s - y) / (N k) (sum: without the 1/(N k)).
    ``convention``: "torch" (c = 1) or "half" (c = 1/2, the courses' 0.5 · mean form)."""

    def __init__(self, reduction: str = "mean", convention: str = "torch"):
        self.reduction, self.c = reduction, MSE_SCALE[convention]

    def forward(self, scores, y):
        self.diff = scores - y
        sq = self.diff * self.diff
        return float(self.c * (sq.mean() if self.reduction == "mean" else sq.sum()))

    def backward(self):
        d = self.diff * self.diff.dtype.type(2 * self.c)
        if self.reduction == "mean":
            d /= self.diff.size
        return d

    @staticmethod
    def predict(scores):
        return None


class BCE:
    """Binary cross-entropy on probabilities p (N, 1) (after a sigmoid), y (N,) of 0/1:
    L = -mean(y log p + (1 - y) log(1 - p)).
    "torch" (torch.nn.BCELoss): each log clamped at >= -100; dL/dp = (p - y) / max(p (1 - p), 1e-12) / N.
    "nnfs": p clipped to [1e-7, 1 - 1e-7] first; dL/dp = -(y / p_c - (1 - y) / (1 - p_c)) / N at the
    clipped p_c, passed on unchanged (NNFS's ``Loss_BinaryCrossentropy``)."""

    def __init__(self, reduction: str = "mean", convention: str = "torch"):
        self.reduction, self.clip = reduction, BCE_CLIP[convention]

    def forward(self, p, y):
        p = p[:, 0]
        t = p.dtype.type
        if self.clip is not None:
            p = np.clip(p, t(self.clip), t(1 - self.clip))
        self.p, self.y = p, y.astype(p.dtype)
        floor = t(BCE_LOG_FLOOR)
        loss = -(self.y * np.maximum(np.log(p), floor) + (1 - self.y) * np.maximum(np.log1p(-p), floor))
        return float(loss.mean() if self.reduction == "mean" else loss.sum())

    def backward(self):
        p, y = self.p, self.y
        if self.clip is not None:
            d = -(y / p - (1 - y) / (1 - p))
        else:
            d = (p - y) / np.maximum(p * (1 - p), p.dtype.type(BCE_GRAD_EPS))
        if self.reduction == "mean":
            d /= len(p)
        return d[:, None]

    @staticmethod
    def predict(scores):
        return (scores[:, 0] > 0.5).astype(np.int64)


class BCEWithLogits:
    """Binary cross-entropy on a logit z (N, 1), y (N,) of 0/1, as torch.nn.BCEWithLogitsLoss:
    L = mean((1 - y) z - log sigmoid(z)), log sigmoid(z) = min(z, 0) - log1p(exp(-|z|)) (stable);
    dL/dz = (sigmoid(z) - y) / N."""

    def __init__(self, reduction: str = "mean"):
        self.reduction = reduction

    def forward(self, z, y):
        z = z[:, 0]
        self.z, self.y = z, y.astype(z.dtype)
        log_sig = np.minimum(z, 0) - np.log1p(np.exp(-np.abs(z)))
        loss = (1 - self.y) * z - log_sig
        return float(loss.mean() if self.reduction == "mean" else loss.sum())

    def backward(self):
        z = self.z
        e = np.exp(-np.abs(z))
        s = np.where(z >= 0, 1 / (1 + e), e / (1 + e))
        d = s - self.y
        if self.reduction == "mean":
            d /= len(z)
        return d[:, None]

    @staticmethod
    def predict(scores):
        return (scores[:, 0] > 0).astype(np.int64)


class TemporalCrossEntropy:
    """cs231n's temporal softmax loss: scores (N, T, V), y (N, T) integer targets, SEQUENCE_PAD (-1) at
    masked steps. L = -(1/N) sum over unmasked (n, t) of log softmax(s[n, t])[y[n, t]] (``reduction="sum"``:
    without the 1/N); dL/ds[n, t] = (softmax(s[n, t]) - onehot(y[n, t])) / N at unmasked steps, 0 at masked
    ones (manual/conventions.py SEQUENCE_PAD). ``predict``: the argmax at every step, (N, T)."""

    def __init__(self, reduction: str = "mean"):
        self.reduction = reduction
        self.step = CrossEntropy("sum")

    def forward(self, scores, y):
        N, T, V = scores.shape
        self.shape, self.dtype, self.keep = scores.shape, scores.dtype, (y != SEQUENCE_PAD).reshape(-1)
        flat = scores.reshape(-1, V)[self.keep]
        total = self.step.forward(flat, y.reshape(-1)[self.keep]) if len(flat) else 0.0
        return float(total / N if self.reduction == "mean" else total)

    def backward(self):
        N, T, V = self.shape
        d = np.zeros((N * T, V), self.dtype)
        if self.keep.any():
            d[self.keep] = self.step.backward()
        if self.reduction == "mean":
            d /= N
        return d.reshape(self.shape)

    @staticmethod
    def predict(scores):
        return scores.argmax(axis=-1)

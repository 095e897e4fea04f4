"""Losses on the network's scores: ``forward(scores, y) -> float``, ``backward() -> dL/dscores``."""
import numpy as np


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

"""Softmax + cross-entropy, fused, averaged or summed over the batch."""
import numpy as np


class SoftmaxCrossEntropy:
    """loss = -mean_i log softmax(logits_i)[y_i] (``reduction="sum"``: the sum over i),
    like torch.nn.functional.cross_entropy with the same reduction.

    logits (N, K), labels (N,) integers. The softmax shifts each row by its
    own max (numerically stable for any logit scale) and adds no epsilon.
    ``backward`` returns dL/dlogits = (softmax(logits) - onehot(y)) / N, or
    without the 1/N for the sum.
    """

    def __init__(self, reduction: str = "mean"):
        if reduction not in ("mean", "sum"):
            raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
        self.reduction = reduction
        self.probs = None
        self.labels = None

    def forward(self, logits: np.ndarray, labels: np.ndarray) -> float:
        row_max = logits.max(axis=1, keepdims=True)
        probs = np.subtract(logits, row_max)
        np.exp(probs, out=probs)
        sums = probs.sum(axis=1, keepdims=True)
        probs /= sums
        self.probs, self.labels = probs, labels
        # log p_y = (z_y - max) - log(sum exp(z - max)), as torch's log_softmax.
        log_py = logits[np.arange(len(labels)), labels] - row_max[:, 0] - np.log(sums[:, 0])
        return float(-log_py.mean() if self.reduction == "mean" else -log_py.sum())

    def backward(self) -> np.ndarray:
        n = len(self.labels)
        grad = self.probs.copy()
        grad[np.arange(n), self.labels] -= 1
        if self.reduction == "mean":
            grad /= n
        return grad

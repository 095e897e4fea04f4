"""Softmax + cross-entropy, fused, averaged over the batch."""
import numpy as np


class SoftmaxCrossEntropy:
    """loss = -mean_i log softmax(logits_i)[y_i], like torch.nn.functional.cross_entropy.

    logits (N, K), labels (N,) integers. The softmax shifts each row by its
    own max (numerically stable for any logit scale) and adds no epsilon.
    ``backward`` returns dL/dlogits = (softmax(logits) - onehot(y)) / N.
    """

    def __init__(self):
        self.probs = None
        self.labels = None

    def forward(self, logits: np.ndarray, labels: np.ndarray) -> float:
        row_max = logits.max(axis=1, keepdims=True)
        probs = np.exp(logits - row_max)
        sums = probs.sum(axis=1, keepdims=True)
        probs /= sums
        self.probs, self.labels = probs, labels
        # log p_y = (z_y - max) - log(sum exp(z - max)), as torch's log_softmax.
        log_py = logits[np.arange(len(labels)), labels] - row_max[:, 0] - np.log(sums[:, 0])
        return float(-log_py.mean())

    def backward(self) -> np.ndarray:
        n = len(self.labels)
        grad = self.probs.copy()
        grad[np.arange(n), self.labels] -= 1
        grad /= n
        return grad

"""The torch twins of manual/losses.py: torch's loss functions, with the conventions of
manual/conventions.py mapped onto them."""
import torch
import torch.nn.functional as F

from manual.conventions import BCE_CLIP, MSE_SCALE, SEQUENCE_PAD


class CrossEntropy(torch.nn.Module):
    def __init__(self, reduction: str = "mean"):
        super().__init__()
        self.reduction = reduction

    def forward(self, logits, y):
        return F.cross_entropy(logits, y, reduction=self.reduction)

    @staticmethod
    def predict(scores):
        return scores.argmax(dim=1)


class SVM(CrossEntropy):
    """torch.nn.MultiMarginLoss (p=1, margin=1) divides each sample's hinge sum by the number of
    classes K; cs231n's SVM loss does not: K times torch's.

    Its hinges are branch points, as a ReLU's (torch_ref/layers.py), decided from the scores and labels:
    the referee follows the manual side's branch (a margin > 0 or not) where the sides are within rounding.
    """

    def forward(self, scores, y):
        return F.multi_margin_loss(scores, y, p=1, margin=1.0, reduction=self.reduction) * scores.shape[1]

    @staticmethod
    def margins(scores, y):
        """(1 - s_y) + s_j, as torch's kernel forms it; 0 at the label's own column."""
        m = (1 - scores.gather(1, y[:, None])) + scores
        return m.scatter(1, y[:, None], 0.0)

    @staticmethod
    def decide(scores, y):
        return SVM.margins(scores, y) > 0

    @staticmethod
    def margin(scores, y):
        return SVM.margins(scores, y).abs()

    def forward_with(self, scores, y, taken):
        total = torch.where(taken, self.margins(scores, y), torch.zeros((), dtype=scores.dtype)).sum()
        return total / len(y) if self.reduction == "mean" else total


class MSE(torch.nn.Module):
    def __init__(self, reduction: str = "mean", convention: str = "torch"):
        super().__init__()
        self.reduction, self.c = reduction, MSE_SCALE[convention]

    def forward(self, scores, y):
        loss = F.mse_loss(scores, y, reduction=self.reduction)
        return loss if self.c == 1.0 else loss * self.c

    @staticmethod
    def predict(scores):
        return None


class BCE(torch.nn.Module):
    """torch.nn.BCELoss on the one output. NNFS's clip maps onto torch as a clamp whose gradient passes
    straight through (NNFS differentiates at the clipped value and does not zero the gradient outside)."""

    def __init__(self, reduction: str = "mean", convention: str = "torch"):
        super().__init__()
        self.reduction, self.clip = reduction, BCE_CLIP[convention]

    def forward(self, p, y):
        p = p[:, 0]
        if self.clip is not None:
            p = p + (p.clamp(self.clip, 1 - self.clip) - p).detach()
        return F.binary_cross_entropy(p, y.to(p.dtype), reduction=self.reduction)

    @staticmethod
    def predict(scores):
        return (scores[:, 0] > 0.5).long()


class BCEWithLogits(torch.nn.Module):
    def __init__(self, reduction: str = "mean"):
        super().__init__()
        self.reduction = reduction

    def forward(self, z, y):
        return F.binary_cross_entropy_with_logits(z[:, 0], y.to(z.dtype), reduction=self.reduction)

    @staticmethod
    def predict(scores):
        return (scores[:, 0] > 0).long()


class TemporalCrossEntropy(torch.nn.Module):
    """F.cross_entropy over every (n, t), SEQUENCE_PAD ignored, summed, / N for "mean" (cs231n's
    temporal_softmax_loss; torch's own "mean" would divide by the unmasked count)."""

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        self.reduction = reduction

    def forward(self, scores, y):
        N, T, V = scores.shape
        total = F.cross_entropy(scores.reshape(N * T, V), y.reshape(N * T), ignore_index=SEQUENCE_PAD,
                                reduction="sum")
        return total / N if self.reduction == "mean" else total

    @staticmethod
    def predict(scores):
        return scores.argmax(dim=-1)

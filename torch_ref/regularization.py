"""The torch twin of manual/regularization.py: the penalty as a differentiable loss term (autograd gives
its gradient); the "torch" convention is the torch optimizer's own weight_decay (registry.optimizer_args)."""
from manual.conventions import REG


class Penalty:
    def __init__(self, kind: str, lam: float, convention: str, names: list[str]):
        self.kind, self.lam, self.names = kind, lam, list(names)
        self.coef = REG[convention][kind]

    @property
    def weight_decay(self) -> float:
        return self.lam if self.coef is None else 0.0

    def __call__(self, named: dict, n: int):
        """The loss term over the covered parameters in ``named`` (a tensor), or None."""
        if self.coef is None:
            return None
        c = self.coef(self.lam, n)
        terms = [(named[k] * named[k]).sum() if self.kind == "l2" else named[k].abs().sum()
                 for k in self.names if k in named]
        return sum(terms) * c if terms else None

"""The regularisation penalty of manual/conventions.py's REG, on a flat params dict (NumPy only)."""
import numpy as np

from manual.conventions import REG


class Penalty:
    """``kind`` "l2" or "l1", ``lam`` lambda, ``convention`` a REG key, ``names`` the parameters covered.
    ``value(params, n)`` is the term added to the loss; ``add_grads(grads, params, n)`` adds its gradient.
    The "torch" convention has no term: its weight decay is the optimizer's (registry.optimizer_args)."""

    def __init__(self, kind: str, lam: float, convention: str, names: list[str]):
        self.kind, self.lam, self.names = kind, lam, list(names)
        self.coef = REG[convention][kind]

    @property
    def weight_decay(self) -> float:
        return self.lam if self.coef is None else 0.0

    def value(self, params: dict, n: int) -> float:
        if self.coef is None:
            return 0.0
        c = self.coef(self.lam, n)
        if self.kind == "l2":
            return float(sum(c * np.sum(params[k] * params[k]) for k in self.names))
        return float(sum(c * np.sum(np.abs(params[k])) for k in self.names))

    def add_grads(self, grads: dict, params: dict, n: int) -> None:
        if self.coef is None:
            return
        c = self.coef(self.lam, n)
        for k in self.names:
            p = params[k]
            grads[k] += p * p.dtype.type(2 * c) if self.kind == "l2" else np.sign(p) * p.dtype.type(c)

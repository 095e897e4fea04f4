"""The example student with its own Adam (cs231n's optim.adam, per-parameter config dicts), exposing
its state through optimizer_state(); and the same with one slip (no bias correction)."""
import numpy as np

from mutants import _Mutant


class OwnAdam(_Mutant):
    optimizer = "adam:eps=1e-8"
    correct = True

    def __init__(self, sizes, config):
        super().__init__(sizes, config)
        self.lr = config.lr
        self.configs = {k: {"m": np.zeros_like(v), "v": np.zeros_like(v), "t": 0} for k, v in self.parameters().items()}

    def step(self, grads):
        for k, w in self.parameters().items():
            c, g = self.configs[k], grads[k]
            c["t"] += 1
            c["m"] = 0.9 * c["m"] + (1 - 0.9) * g
            c["v"] = 0.999 * c["v"] + (1 - 0.999) * g * g
            m_hat = c["m"] / (1 - 0.9 ** c["t"]) if self.correct else c["m"]
            v_hat = c["v"] / (1 - 0.999 ** c["t"]) if self.correct else c["v"]
            w -= (self.lr * m_hat / (np.sqrt(v_hat) + 1e-8)).astype(w.dtype)

    def optimizer_state(self):
        return {f"{k}.{name}": c[ours] for k, c in self.configs.items()
                for name, ours in (("exp_avg", "m"), ("exp_avg_sq", "v"), ("step", "t"))}


class OwnAdamNoBiasCorrection(OwnAdam):
    correct = False


class OwnAdamBadState(OwnAdam):
    def optimizer_state(self):
        return {"W1.exp_avg": self.configs["W1"]["m"].T}      # its own (in, out) array, transposed

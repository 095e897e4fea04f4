"""One initialisation, drawn on the NumPy side, copied into torch and verified bit-equal."""
import numpy as np

import manual
from comparisons.sides.byo import ByoSide, load_class
from comparisons.config import Config
from comparisons.sides.builtin import ManualSide, TorchSide


def make_sides(sizes: tuple[int, ...], config: Config, rng: np.random.Generator, loss=None, probe=None):
    """(manual side, TorchSide) starting from the same Xavier draw of ``rng``.

    The manual side is manual.MLP (``config.manual == "builtin"``) or the user's
    class behind comparisons.byo. Raises AssertionError if any torch parameter is
    not bit-equal to its manual twin. ``loss`` replaces the built-in manual loss
    object (tests use it to plant a wrong backward). ``probe`` = (x, y): a few samples a
    bring-your-own class runs forward and backward on first, so bad outputs are refused up front.
    """
    params = manual.init_params(sizes, rng, np.dtype(config.dtype))
    if config.manual == "builtin":
        m = ManualSide(params, config, loss=loss)
    else:
        m = ByoSide(load_class(config.manual), sizes, config, init=params)   # copied into its own arrays
        if probe is not None:
            m.probe(*probe)
    t = TorchSide(params, sizes, config)
    for name, p in m.params.items():
        q = t.params[name]
        if p.dtype != q.dtype or p.shape != q.shape or not np.array_equal(p, q):
            raise AssertionError(f"shared init: torch {name} is not bit-equal to manual {name}")
        if np.shares_memory(p, q):
            raise AssertionError(f"shared init: torch {name} aliases the manual array")
    return m, t

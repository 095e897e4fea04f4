"""One initialisation, drawn on the NumPy side, written into every side and verified bit-equal."""
import numpy as np

import manual


def draw(layers, rng: np.random.Generator, dtype, weights: str = "xavier_normal",
         biases: str = "zeros") -> dict[str, np.ndarray]:
    """The initial parameters of ``layers`` (spec.LayerSpec), in order, from ``rng``: each kind's
    registry entry gives each parameter's role: "scheme" takes the ``weights`` scheme (default
    Xavier-normal, variance 2 / (fan_in + fan_out)), "zeros" (biases) the ``biases`` scheme (default
    zeros; a random one is drawn right after its layer's weight, with that weight's fans; a weight takes its own
    fans), "ones" ones and "zero" zeros
    (a normalisation's scale and shift, as torch). Drawn in float64, rounded once to ``dtype`` (manual/init.py)."""
    dtype = np.dtype(dtype)
    w_scheme, b_scheme = manual.parse_scheme(weights), manual.parse_scheme(biases)
    values = {}
    for layer in layers:
        probe = layer.kind.manual(**layer.kwargs, dtype=dtype)
        weight = next((p.shape for k, p in probe.params.items() if layer.kind.init.get(k) == "scheme"), None)
        fan_in, fan_out = manual.fans(weight) if weight is not None else (0, 0)
        for key, p in probe.params.items():
            role = layer.kind.init.get(key, "zeros")
            scheme = {"scheme": w_scheme, "zeros": b_scheme}.get(role) or manual.parse_scheme("zeros" if role == "zero" else "ones")
            fan = manual.fans(p.shape) if role == "scheme" else (fan_in, fan_out)   # a recurrent layer's two
            values[f"{layer.name}.{key}"] = scheme.draw(rng, p.shape, dtype, *fan)   # weights: each its own
    return values


def write(values: dict[str, np.ndarray], *sides) -> None:
    """Copy ``values`` into each side's parameters and check every copy bit-equal and unaliased."""
    for side in sides:
        if set(side.params) != set(values):
            raise AssertionError(f"shared init: {side.name} has parameters {sorted(side.params)}, "
                                 f"the draw {sorted(values)}")
        for name, value in values.items():
            np.copyto(side.params[name], value)
    for name, value in values.items():
        for side in sides:
            p = side.params[name]
            if p.dtype != value.dtype or p.shape != value.shape or not np.array_equal(p, value):
                raise AssertionError(f"shared init: {side.name} {name} is not bit-equal to the draw")
        arrays = [side.params[name] for side in sides]
        for i, a in enumerate(arrays):
            if any(np.shares_memory(a, b) for b in arrays[i + 1:]):
                raise AssertionError(f"shared init: two sides share the memory of {name}")

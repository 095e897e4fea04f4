"""One initialisation, drawn on the NumPy side, written into every side and verified bit-equal."""
import numpy as np

import manual


def draw(layers, rng: np.random.Generator, dtype) -> dict[str, np.ndarray]:
    """The initial parameters of ``layers`` (spec.LayerSpec), in order, from ``rng``: weights
    Xavier-normal (variance 2 / (fan_in + fan_out), drawn in float64 and rounded once to
    ``dtype``), biases zero, normalisation scales one, as each kind's registry entry says."""
    dtype = np.dtype(dtype)
    values = {}
    for layer in layers:
        probe = layer.kind.manual(**layer.kwargs, dtype=dtype)
        for key, p in probe.params.items():
            role = layer.kind.init.get(key, "zeros")
            if role == "scheme":
                fan_out, fan_in = p.shape[0], int(np.prod(p.shape[1:]))
                value = manual.xavier_normal(rng, fan_out, fan_in, dtype).reshape(p.shape)
            else:
                value = (np.ones if role == "ones" else np.zeros)(p.shape, dtype)
            values[f"{layer.name}.{key}"] = value
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

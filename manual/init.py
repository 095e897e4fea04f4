"""Xavier initialisation from an explicit numpy.random.Generator."""
import numpy as np



def xavier_normal(rng: np.random.Generator, fan_out: int, fan_in: int, dtype) -> np.ndarray:
    """(fan_out, fan_in) zero-mean Gaussian, variance 2 / (fan_in + fan_out).

    Drawn in float64 and rounded once to ``dtype``, so a float32 run starts
    from the float64 run's weights rounded, not from a different draw.
    """
    std = np.sqrt(2.0 / (fan_in + fan_out))
    return (rng.standard_normal((fan_out, fan_in)) * std).astype(dtype)


def init_params(sizes, rng: np.random.Generator, dtype=np.float32) -> dict[str, np.ndarray]:
    """Parameters of an MLP with layer widths ``sizes`` (e.g. (784, 1000, 10)).

    Weights Xavier-normal, biases zero. Keys are torch ``state_dict`` names.
    """
    params = {}
    names = [f"fc{i + 1}" for i in range(len(sizes) - 1)]
    for name, fan_in, fan_out in zip(names, sizes[:-1], sizes[1:]):
        params[f"{name}.weight"] = xavier_normal(rng, fan_out, fan_in, dtype)
        params[f"{name}.bias"] = np.zeros(fan_out, dtype=dtype)
    return params

"""Data in: the built-in generated set, notMNIST/MNIST files, and the presets (named configurations)."""
from comparisons.data.dataset import N_CLASSES, SIDE, Dataset, Split, validate

__all__ = ["N_CLASSES", "SIDE", "Dataset", "Split", "load_data", "validate"]


def load_data(source: str) -> Dataset:
    """``builtin`` -> the generated set; anything else is a path for comparisons.loaders."""
    if source == "builtin":
        from comparisons.data.builtin import synthetic
        return synthetic()
    from comparisons.data.loaders import load
    return load(source)

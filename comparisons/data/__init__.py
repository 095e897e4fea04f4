"""Data in: the built-in generated set, notMNIST/MNIST files, and the presets (named configurations)."""
from comparisons.data.dataset import N_CLASSES, SIDE, Dataset, Split, validate

__all__ = ["BUILTIN", "N_CLASSES", "SIDE", "Dataset", "Split", "load_data", "validate"]


BUILTIN = ("builtin", "builtin:binary", "builtin:regression", "builtin:sequence")


def load_data(source: str) -> Dataset:
    """``builtin`` (``:binary``, ``:regression``; ``:sequence``: the next-token set) -> the generated set;
    anything else is a path for comparisons.data.loaders."""
    if source in BUILTIN:
        from comparisons.data.builtin import synthetic
        return synthetic(task=source.partition(":")[2] or "class")
    from comparisons.data.loaders import load
    return load(source)

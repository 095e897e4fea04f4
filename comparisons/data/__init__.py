"""Data in: the built-in generated set, notMNIST/MNIST files, and the presets (named configurations)."""
from comparisons.data.dataset import N_CLASSES, SIDE, Dataset, Split, validate

__all__ = ["BUILTIN", "N_CLASSES", "SIDE", "Dataset", "Split", "load_data", "validate"]


BUILTIN = ("builtin", "builtin:binary", "builtin:regression", "builtin:images", "builtin:sequence",
           "builtin:sequence:onehot")


def load_data(source: str) -> Dataset:
    """``builtin`` (``:binary``, ``:regression``) -> the generated set; ``builtin:images``: the same
    samples and classes as images (N, 1, 28, 28), for conv nets; ``builtin:sequence``: the next-token
    set (``:onehot``: its ids as one-hot vectors); anything else is a path for comparisons.data.loaders."""
    if source in BUILTIN:
        from comparisons.data.builtin import images, synthetic
        if source == "builtin:images":
            return images()
        if source == "builtin:sequence:onehot":
            from comparisons.data.builtin import sequences
            return sequences(onehot=True)
        return synthetic(task=source.partition(":")[2] or "class")
    from comparisons.data.loaders import load
    return load(source)

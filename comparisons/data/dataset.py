"""A dataset: three splits of flat images and integer labels, and their validation."""
from dataclasses import dataclass

import numpy as np

from comparisons.errors import InputError

SIDE = 28                    # images are SIDE x SIDE, flattened to SIDE**2 = 784 features
N_CLASSES = 10


@dataclass(frozen=True)
class Split:
    """x: (N, D) float in [0, 1]; y: (N,) int64 labels in [0, n_classes)."""
    x: np.ndarray
    y: np.ndarray


@dataclass(frozen=True)
class Dataset:
    name: str
    train: Split
    valid: Split
    test: Split
    n_classes: int = N_CLASSES

    def splits(self) -> dict[str, Split]:
        return {"train": self.train, "valid": self.valid, "test": self.test}

    @property
    def n_features(self) -> int:
        return self.train.x.shape[1]

    @property
    def sample_shape(self) -> tuple:
        """One sample's shape, without the batch axis: (784,) for flat images."""
        return tuple(self.train.x.shape[1:])

    def astype(self, dtype) -> "Dataset":
        """The same data with features in ``dtype`` (one rounding from float64)."""
        cast = {k: Split(np.ascontiguousarray(s.x, dtype=dtype), s.y) for k, s in self.splits().items()}
        return Dataset(self.name, **cast, n_classes=self.n_classes)


def validate(data: Dataset) -> None:
    """Raise InputError naming the first problem: shapes, NaN/Inf, labels out of range."""
    d = data.n_features
    for split_name, s in data.splits().items():
        where = f"{data.name}: {split_name} split"
        if s.x.ndim != 2 or s.x.shape[1] != d:
            raise InputError(f"{where}: features have shape {s.x.shape}, expected (N, {d})")
        if s.y.shape != (s.x.shape[0],):
            raise InputError(f"{where}: {s.x.shape[0]} samples but labels of shape {s.y.shape}")
        if len(s.y) == 0:
            raise InputError(f"{where} is empty")
        if not np.isfinite(s.x).all():
            bad = np.argwhere(~np.isfinite(s.x))[0]
            raise InputError(f"{where}: non-finite feature at sample {bad[0]}, feature {bad[1]}")
        if not np.issubdtype(s.y.dtype, np.integer) or s.y.min() < 0 or s.y.max() >= data.n_classes:
            raise InputError(f"{where}: labels must be integers in [0, {data.n_classes})")

"""A dataset: three splits of samples and targets, and their validation.

The target kind says what the labels are and how many outputs a network needs:
  class        y (N,) integers in [0, n_classes): one output per class
  binary       y (N,) integers 0 or 1: one output
  regression   y (N, k) floats: k outputs
  sequence     x (N, T) integer token ids (or (N, T, D) float vectors: one-hot tokens), y (N, T) integers
               in [0, n_classes) (the next token at every step) or SEQUENCE_PAD (-1) at masked (padded)
               steps: n_classes outputs at every step
"""
from dataclasses import dataclass

import numpy as np

from comparisons.errors import InputError

SIDE = 28                    # images are SIDE x SIDE, flattened to SIDE**2 = 784 features
N_CLASSES = 10


TARGETS = ("class", "binary", "regression", "sequence")


@dataclass(frozen=True)
class Split:
    """x: (N, ...) float features; y: the targets (see the module docstring)."""
    x: np.ndarray
    y: np.ndarray


@dataclass(frozen=True)
class Dataset:
    name: str
    train: Split
    valid: Split
    test: Split
    n_classes: int = N_CLASSES          # class targets; 2 for binary; unused for regression
    target: str = "class"

    def splits(self) -> dict[str, Split]:
        return {"train": self.train, "valid": self.valid, "test": self.test}

    @property
    def n_features(self) -> int:
        return self.train.x.shape[1]

    @property
    def n_outputs(self) -> int:
        """The network's output width the targets need."""
        if self.target == "regression":
            return int(self.train.y.shape[1])
        return 1 if self.target == "binary" else self.n_classes

    @property
    def out_shape(self) -> tuple:
        """The network's output per sample: (n_outputs,), or (T, n_outputs) for sequence targets."""
        return (self.train.y.shape[1], self.n_outputs) if self.target == "sequence" else (self.n_outputs,)

    @property
    def ids(self) -> int | None:
        """Integer samples (token ids): the number of ids they need (largest + 1); None for float features."""
        if not np.issubdtype(self.train.x.dtype, np.integer):
            return None
        return 1 + max((int(s.x.max()) for s in self.splits().values() if s.x.size), default=0)

    @property
    def sample_shape(self) -> tuple:
        """One sample's shape, without the batch axis: (784,) for flat images."""
        return tuple(self.train.x.shape[1:])

    def astype(self, dtype) -> "Dataset":
        """The same data with features in ``dtype`` (one rounding from float64)."""
        def targets(y):
            return np.ascontiguousarray(y, dtype=dtype) if self.target == "regression" else y
        def features(x):     # token ids stay integers
            return x if np.issubdtype(x.dtype, np.integer) else np.ascontiguousarray(x, dtype=dtype)
        cast = {k: Split(features(s.x), targets(s.y)) for k, s in self.splits().items()}
        return Dataset(self.name, **cast, n_classes=self.n_classes, target=self.target)


def validate(data: Dataset) -> None:
    """Raise InputError naming the first problem: shapes, NaN/Inf, labels out of range."""
    shape = data.sample_shape
    if data.target not in TARGETS:
        raise InputError(f"{data.name}: unknown target kind {data.target!r}")
    for split_name, s in data.splits().items():
        where = f"{data.name}: {split_name} split"
        if s.x.ndim < 2 or s.x.shape[1:] != shape:
            raise InputError(f"{where}: features have shape {s.x.shape}, expected (N, {', '.join(map(str, shape))})")
        if len(s.y) != s.x.shape[0]:
            raise InputError(f"{where}: {s.x.shape[0]} samples but targets of shape {s.y.shape}")
        if len(s.y) == 0:
            raise InputError(f"{where} is empty")
        if not np.isfinite(s.x).all():
            bad = np.argwhere(~np.isfinite(s.x))[0]
            at = bad[1] if len(bad) == 2 else tuple(bad[1:].tolist())
            raise InputError(f"{where}: non-finite feature at sample {bad[0]}, feature {at}")
        if np.issubdtype(s.x.dtype, np.integer) and s.x.size and s.x.min() < 0:
            bad = np.argwhere(s.x < 0)[0]
            raise InputError(f"{where}: negative token id {s.x[tuple(bad)]} at sample {bad[0]}")
        if data.target == "sequence":
            from manual.conventions import SEQUENCE_PAD
            vectors = s.x.ndim == 3 and not np.issubdtype(s.x.dtype, np.integer)     # one-hot tokens
            if s.x.ndim not in (2, 3) or s.x.shape[1] == 0:
                raise InputError(f"{where}: sequence samples must be (N, T) token ids or (N, T, D) vectors with "
                                 f"T >= 1 (a sequence of length 0 has nothing to predict), got {s.x.shape}")
            if not vectors and not np.issubdtype(s.x.dtype, np.integer):
                raise InputError(f"{where}: sequence samples must be integer token ids, got {s.x.dtype}")
            if s.y.shape != s.x.shape[:2] or not np.issubdtype(s.y.dtype, np.integer) or s.y.min() < SEQUENCE_PAD \
                    or s.y.max() >= data.n_classes:
                raise InputError(f"{where}: sequence targets must be integers of shape {s.x.shape[:2]} in [0, "
                                 f"{data.n_classes}), or {SEQUENCE_PAD} at a masked step")
        elif data.target == "regression":
            if s.y.ndim != 2 or s.y.shape[1] != data.n_outputs or not np.isfinite(s.y).all():
                raise InputError(f"{where}: regression targets must be finite, of shape (N, {data.n_outputs})")
        elif s.y.ndim != 1 or not np.issubdtype(s.y.dtype, np.integer) or s.y.min() < 0 \
                or s.y.max() >= data.n_classes:
            raise InputError(f"{where}: labels must be integers in [0, {data.n_classes})")

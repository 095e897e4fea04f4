"""Datasets: three splits of flat images and integer labels, plus the built-in one.

The built-in set needs no download: 10 classes of notMNIST-like 28x28 glyphs
generated from a seed (shifted, blended with another class's glyph, noisy),
so a 784-1000-10 MLP learns it visibly but not instantly.
"""
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

    def astype(self, dtype) -> "Dataset":
        """The same data with features in ``dtype`` (one rounding from float64)."""
        cast = {k: Split(np.ascontiguousarray(s.x, dtype=dtype), s.y) for k, s in self.splits().items()}
        return Dataset(self.name, **cast, n_classes=self.n_classes)


def load_data(source: str) -> Dataset:
    """``builtin`` -> the generated set; anything else is a path for comparisons.loaders."""
    if source == "builtin":
        return synthetic()
    from comparisons.loaders import load
    return load(source)


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


def _glyph(rng: np.random.Generator) -> np.ndarray:
    """A SIDE x SIDE image of 3 thick random strokes, values in [0, 1]."""
    yy, xx = np.mgrid[0:SIDE, 0:SIDE]
    img = np.zeros((SIDE, SIDE))
    for _ in range(3):
        (y0, x0), (y1, x1) = rng.uniform(5, SIDE - 5, size=(2, 2))
        t = np.linspace(0, 1, 40)[:, None, None]
        dist2 = (yy - (y0 + t * (y1 - y0))) ** 2 + (xx - (x0 + t * (x1 - x0))) ** 2
        img = np.maximum(img, np.exp(-dist2.min(axis=0) / 3.0))
    return img


def synthetic(seed: int = 0, sizes=(6000, 2000, 2000), noise: float = 0.25, blend: float = 0.6) -> Dataset:
    """The built-in dataset: deterministic in ``seed``. Float64 features in [0, 1].

    Each sample is its class glyph shifted by up to 3 pixels, mixed with a
    random other class's glyph (weight up to ``blend``), plus Gaussian noise.
    """
    rng = np.random.default_rng(seed)
    glyphs = np.stack([_glyph(rng) for _ in range(N_CLASSES)])
    pad = 3
    padded = np.pad(glyphs, ((0, 0), (pad, pad), (pad, pad)))
    n = sum(sizes)
    y = rng.integers(0, N_CLASSES, size=n)
    other = (y + rng.integers(1, N_CLASSES, size=n)) % N_CLASSES
    dy, dx = rng.integers(0, 2 * pad + 1, size=(2, n))
    rows = dy[:, None, None] + np.arange(SIDE)[None, :, None]
    cols = dx[:, None, None] + np.arange(SIDE)[None, None, :]
    shifted = padded[y[:, None, None], rows, cols]
    mix = rng.uniform(0, blend, size=(n, 1, 1))
    x = (1 - mix) * shifted + mix * glyphs[other] + rng.normal(0, noise, size=(n, SIDE, SIDE))
    x = np.clip(x, 0, 1).reshape(n, SIDE * SIDE)
    a, b = sizes[0], sizes[0] + sizes[1]
    return Dataset("builtin", Split(x[:a], y[:a]), Split(x[a:b], y[a:b]), Split(x[b:], y[b:]))

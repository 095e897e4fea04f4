"""The built-in dataset and the checks every dataset passes before a run."""
import numpy as np
import pytest

from comparisons import Config, InputError, run
from comparisons.data import Dataset, Split
from comparisons.data.builtin import synthetic


def test_builtin_is_deterministic_and_shaped_like_notmnist():
    a, b = synthetic(seed=0, sizes=(50, 20, 20)), synthetic(seed=0, sizes=(50, 20, 20))
    assert np.array_equal(a.train.x, b.train.x) and np.array_equal(a.test.y, b.test.y)
    assert a.train.x.shape == (50, 784) and a.train.x.min() >= 0 and a.train.x.max() <= 1
    assert a.train.y.dtype == np.int64 and set(np.unique(a.train.y)) <= set(range(10))
    assert not np.array_equal(synthetic(seed=1, sizes=(50, 20, 20)).train.x, a.train.x)


def _with(data: Dataset, split: str, x=None, y=None) -> Dataset:
    s = data.splits()[split]
    changed = Split(s.x if x is None else x, s.y if y is None else y)
    return Dataset(data.name, **{**data.splits(), split: changed})


@pytest.mark.parametrize("make,message", [
    pytest.param(lambda d: _with(d, "valid", x=np.where(np.arange(784) == 5, np.nan, d.valid.x)),
                 "builtin: valid split: non-finite feature at sample 0, feature 5", id="nan"),
    pytest.param(lambda d: _with(d, "train", x=np.where(np.arange(784) == 7, np.inf, d.train.x)),
                 "builtin: train split: non-finite feature at sample 0, feature 7", id="inf"),
    pytest.param(lambda d: _with(d, "test", x=d.test.x[:, :783]),
                 r"builtin: test split: features have shape \(100, 783\), expected \(N, 784\)", id="width"),
    pytest.param(lambda d: _with(d, "train", y=d.train.y[:-1]),
                 r"builtin: train split: 300 samples but targets of shape \(299,\)", id="label-count"),
    pytest.param(lambda d: _with(d, "train", y=d.train.y + 5),
                 r"builtin: train split: labels must be integers in \[0, 10\)", id="label-range"),
    pytest.param(lambda d: _with(d, "valid", x=d.valid.x[:0], y=d.valid.y[:0]),
                 "builtin: valid split is empty", id="empty"),
])
def test_bad_data_is_refused_before_any_work(tiny_data, tmp_path, make, message):
    with pytest.raises(InputError, match=message):
        run(Config(hidden=(8,), epochs=1), make(tiny_data), out=tmp_path / "out")
    assert not (tmp_path / "out").exists()

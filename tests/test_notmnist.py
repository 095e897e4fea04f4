"""The assignment's recipe on real notMNIST, shortened: a few epochs on a subset.

Needs ../shared/data/notmnist-small-10k/ beside the checkout; skipped without it.
The full 200-epoch reproduction is `lockstep run --preset assignment --data ...`
(README, "Reproducing the assignment").
"""
from pathlib import Path

import pytest

from comparisons import Config, run
from comparisons.data import Dataset, Split
from comparisons.data.loaders import load
from comparisons.data.presets import load_preset

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "notmnist-small-10k"


@pytest.fixture(scope="module")
def notmnist_subset():
    if not SAMPLE.is_dir():
        pytest.skip(f"notMNIST sample not found at {SAMPLE}; it lives in ../shared/data/ beside the checkout")
    d = load(SAMPLE)
    cut = lambda s, n: Split(s.x[:n], s.y[:n])
    return Dataset("notmnist-subset", cut(d.train, 1000), cut(d.valid, 500), cut(d.test, 500))


@pytest.mark.parametrize("mode", ["free", "synced"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_assignment_recipe_agrees_and_learns_on_real_data(notmnist_subset, dtype, mode):
    values = load_preset("assignment") | {"epochs": 8, "dtype": dtype, "mode": mode}
    result = run(Config(**values), notmnist_subset)
    assert result.passed, result.first_failure
    final = result.summary["final"]
    # Learns: measured valid accuracy 0.088 after 1 step, 0.288 after 4, 0.662 after 8 (deterministic).
    assert final["valid"]["manual"]["accuracy"] > 0.6
    assert final["valid"]["manual"]["accuracy"] == pytest.approx(final["valid"]["torch"]["accuracy"], abs=0.01)

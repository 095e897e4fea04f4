"""Update rows on the parameters' grid (check/rules.py GRID_ULPS, metric rel_l2_grid).

An update p' - p is rounded to the parameters' dtype on each side; that much of the difference is the
grid's. The rule takes it off element by element and judges the rest as any difference, so:
- two correct sides whose p' differ by their roundings pass without the referee;
- a slip the parameters can hold still fails (it is larger than two spacings somewhere);
- beyond_grid is what its formula says, computed naively here.
"""
import math

import numpy as np
import pytest

from comparisons import Config, run
from comparisons.check import metrics, rules
from comparisons.data.builtin import synthetic


def _naive(m, t, b, ulps):
    grid = np.spacing(np.maximum(np.maximum(np.abs(m), np.abs(t)), np.abs(b))).astype(np.float64)
    left = np.maximum(np.abs(m.astype(np.float64) - t.astype(np.float64)) - ulps * grid, 0)
    return math.sqrt(float(np.sum(left * left)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [7, 300_001])            # one chunk alone; several chunks in two shares
def test_beyond_grid_is_its_formula(dtype, n):
    rng = np.random.default_rng(0)
    b = rng.normal(0, 0.05, n).astype(dtype)
    step = rng.normal(0, 1e-6, n).astype(dtype)
    m = (b - step).astype(dtype)
    t = (b - step * (1 + rng.normal(0, 1e-3, n))).astype(dtype)
    for ulps in (0, 1, 2):
        assert metrics.beyond_grid(m, t, b, ulps) == pytest.approx(_naive(m, t, b, ulps), rel=1e-12)
    assert metrics.beyond_grid(m, t, b, 0) == pytest.approx(float(np.linalg.norm(m.astype(np.float64) - t)),
                                                           rel=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_compiled_grid_walk_is_the_numpy_one(dtype):
    """Edge values: zeros, subnormals, exact powers of two (the spacing steps there), signs, huge values;
    the compiled walk's spacing is np.spacing's (all but the largest finite value, where NumPy's is Inf)."""
    from comparisons.check import fastwalk
    if not fastwalk.AVAILABLE:
        pytest.skip("the compiled walk was not built: nothing to compare")
    info = np.finfo(dtype)
    big = info.max / 4 if dtype == np.float32 else 1e150       # squares of its spacing stay finite in double
    edges = np.array([0.0, -0.0, info.smallest_subnormal, -3 * info.smallest_subnormal, info.tiny, 1.0, -1.0,
                      2.0, 0.5, np.nextafter(dtype(1), dtype(0)), 3.0, 1e-30, big, -big], dtype)
    rng = np.random.default_rng(4)
    n = 50_000
    b = rng.choice(edges, n).astype(dtype) * dtype(1)
    b[::3] = rng.normal(0, 1, b[::3].size)
    m = b + rng.choice([0, 1, -1, 3], n) * np.spacing(np.abs(b)).astype(dtype)
    t = b - rng.choice([0, 1, 2], n) * np.spacing(np.abs(b)).astype(dtype)
    m, t = m.astype(dtype), t.astype(dtype)
    for ulps in (0, 1, 2):
        compiled = fastwalk.walk_grid(m, t, b, ulps, 0, n)
        plain = metrics._beyond_grid(m, t, b, ulps, 0, n)
        assert compiled == pytest.approx(plain, rel=1e-12, abs=0), ulps
    assert math.isnan(fastwalk.walk_grid(np.full(3, np.inf, dtype), t[:3], b[:3], 2, 0, 3))


def test_beyond_grid_nan_is_nan():
    b = np.ones(4, np.float32)
    m = np.array([1, np.nan, 1, 1], np.float32)
    assert math.isnan(metrics.beyond_grid(m, b, b, 2))


def _update_row(m, t, b, dtype="float32"):
    return rules.tensor_row((1, 1, "step"), "update", "w", m, t, dtype, base=b)


def test_two_roundings_of_p_are_the_grids():
    """p' = p - s rounded by each side from steps that agree to 1e-9: the update's rel_l2 is far above
    DIRECT (the steps are ~10 spacings of p), the part beyond the grid is ~1e-9: it passes as rel_l2_grid."""
    rng = np.random.default_rng(1)
    b = rng.normal(0, 0.05, 100_000).astype(np.float32)
    s = (np.abs(b) * 3e-6 * rng.uniform(0.5, 1.5, b.size)).astype(np.float64)       # ~25 spacings of p
    m = (b.astype(np.float64) - s).astype(np.float32)
    t = (b.astype(np.float64) - s * (1 + 1e-9)).astype(np.float32)
    # the manual side rounds differently: p' one spacing off where a coin says so (another order of ops)
    flip = rng.random(b.size) < 0.3
    m[flip] = np.nextafter(m[flip], np.float32(np.inf))
    plain = metrics.tensor_diff(m, t, base=b).rel_l2
    row = _update_row(m, t, b)
    assert plain > rules.DIRECT["float32"]
    assert row.passed and row.metric == "rel_l2_grid" and row.rel_diff < 1e-6 and row.rule == "direct"


@pytest.mark.parametrize("factor", [1.01, 1.001])
def test_a_slip_the_parameters_hold_is_not_the_grids(factor):
    """The same step with lr off by 1% (or 0.1%): tens of spacings off in most elements: fails the direct
    rule with the plain rel_l2, and goes to the referee as before."""
    rng = np.random.default_rng(2)
    b = rng.normal(0, 0.05, 100_000).astype(np.float32)
    s = np.abs(b).astype(np.float64) * 1e-3 * rng.uniform(0.5, 1.5, b.size)          # ~8000 spacings
    m = (b.astype(np.float64) - s * factor).astype(np.float32)
    t = (b.astype(np.float64) - s).astype(np.float32)
    row = _update_row(m, t, b)
    assert not row.passed and row.metric == "rel_l2"
    assert row.rel_diff == pytest.approx(factor - 1, rel=0.05)


def test_only_update_rows_against_their_base():
    """A gradient 1e-5 off (~100 spacings of a float32 value of 1) is not excused: the grid is the
    parameters', and only an update is added to them."""
    rng = np.random.default_rng(3)
    t = rng.normal(0, 1, 1000).astype(np.float32)
    m = (t * np.float32(1 + 1e-5)).astype(np.float32)
    grad = rules.tensor_row((1, 1, "step"), "grad", "w", m, t, "float32")
    assert not grad.passed and grad.metric == "rel_l2"


@pytest.fixture(scope="module")
def data():
    return synthetic(seed=5, sizes=(200, 40, 40))


def test_a_run_whose_updates_fail_the_plain_rule_passes_without_the_update_referee(data):
    """The assignment's momentum at a small lr (the default job's optimizer) on a wide layer: updates of a
    few spacings of p, the plain rel_l2 above DIRECT on most steps; every such row passes on the grid, and
    the update-stage referee does not run."""
    from comparisons.lockstep import Lockstep
    config = Config(hidden=(256,), epochs=2, batch_size=20, lr=1e-3, momentum=0.9, dtype="float32")
    lock = Lockstep(config, data.astype(np.dtype("float32")))
    rows = []
    record = lock.record

    def keep(results):
        rows.extend(r for r, _ in results if r.quantity == "update")
        return record(results)
    lock.record = keep
    from comparisons.record.recorder import Recorder
    lock.recorder = Recorder(None)
    lock.train(bar=type("Bar", (), {"update": lambda self: None})())
    assert lock.tracker.first_failure is None
    on_grid = [r for r in rows if r.metric == "rel_l2_grid"]
    assert on_grid and all(r.passed for r in on_grid)
    assert lock.referee_runs["update"] == 0


def test_an_lr_slip_in_the_update_still_fails(data, monkeypatch):
    """The built-in momentum stepping with lr x 1.01: the run fails at an update row."""
    import manual.optim as optim

    class Off(optim.SGDMomentum):
        def __init__(self, params, lr, *args, **kw):
            super().__init__(params, lr * 1.01, *args, **kw)
    monkeypatch.setattr(optim, "SGDMomentum", Off)
    result = run(Config(hidden=(64,), epochs=1, batch_size=20, lr=1e-2, momentum=0.9, dtype="float32"), data)
    assert not result.passed
    assert result.first_failure["quantity"] in ("update", "state")

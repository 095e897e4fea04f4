"""Correct implementations never fail the gate: a grid of 576 correct configurations.

Hidden widths 8 to 1000, depth 1 to 3, batches of 1, 10, 100 and the full split, 4 seeds,
float32 and float64, free and synced, the built-in manual side and the student network of
examples/ (one hidden layer). The whole grid is marked slow (``make grid``, ~20 min on 2 cores);
CI runs the sample at the end. Every run must pass: a false alarm on correct code is the one
verdict lockstep must never give.
"""
import functools
import itertools

import pytest

from comparisons import Config, run
from comparisons.data.builtin import synthetic

WIDTHS = {"builtin": [(8,), (64,), (1000,), (64, 32), (256, 16), (100, 50, 20)],
          "student": [(8,), (64,), (1000,)]}
IMPLEMENTATIONS = {"builtin": "builtin", "student": "examples/student_adapter.py:Adapter"}
BATCHES = [1, 10, 100, 0]
SEEDS = range(4)
RUNS = [("float32", "free"), ("float32", "synced"), ("float64", "free"), ("float64", "synced")]


@functools.cache
def data():
    return synthetic(seed=5, sizes=(120, 40, 40))


def config(impl, hidden, batch, seed, dtype, mode) -> Config:
    """Learning rates, momenta, initial velocities and reductions vary with the seed, so the grid also
    covers the optimizer's range; a summed loss takes a learning rate scaled down by the batch."""
    lr, momentum, v0, reduction = [(0.05, 0.9, 0.0, "mean"), (0.2, 0.5, 1e-3, "mean"),
                                   (0.01, 0.99, 1e-5, "sum"), (0.1, 0.0, 0.0, "mean")][seed]
    if impl == "student":        # its loss is the mean, whatever the config says
        reduction = "mean"
    if reduction == "sum":
        lr /= batch or 120
    return Config(hidden=hidden, epochs=2, batch_size=batch, lr=lr, momentum=momentum, init_velocity=v0,
                  reduction=reduction, seed=seed, dtype=dtype, mode=mode, manual=IMPLEMENTATIONS[impl])


GRID = [(impl, hidden, batch, seed, dtype, mode) for impl, widths in WIDTHS.items()
        for hidden, batch, seed, (dtype, mode) in itertools.product(widths, BATCHES, SEEDS, RUNS)]
SAMPLE = [("builtin", (64,), 10, 1, "float32", "free"), ("builtin", (64, 32), 1, 2, "float32", "synced"),
          ("builtin", (1000,), 0, 0, "float32", "free"), ("builtin", (100, 50, 20), 100, 3, "float64", "free"),
          ("student", (64,), 100, 2, "float32", "synced"), ("student", (8,), 1, 3, "float64", "synced")]


def _ids(case):
    impl, hidden, batch, seed, dtype, mode = case
    return f"{impl}-h{'-'.join(map(str, hidden))}-b{batch}-s{seed}-{dtype}-{mode}"


def _check(case):
    result = run(config(*case), data())
    assert result.passed, result.first_failure


def test_the_grid_is_large_enough():
    assert len(GRID) >= 500 and set(SAMPLE) <= set(GRID)


# Not false alarms: the student network of examples/ computes its loss as sum(Y * log(P)); in float32
# at batch 1 and lr 0.2 its softmax underflows to exactly 0 for some class by the epoch-2 evaluation
# (measured: step 240), and 0 * log(0) is NaN where torch's log_softmax is finite. lockstep stops the
# run there naming the loss on the manual side: a real numerical bug of that code, reported as such.
UNSTABLE_STUDENT_LOSS = {("student", (1000,), 1, 2, "float32", "free"), ("student", (1000,), 1, 2, "float32", "synced")}


def _marks(case):
    if case in UNSTABLE_STUDENT_LOSS:
        return [pytest.mark.xfail(strict=True, reason="the student's log(P) underflows: NaN loss on its side")]
    return []


@pytest.mark.slow
@pytest.mark.parametrize("case", [pytest.param(c, marks=_marks(c), id=_ids(c)) for c in GRID])
def test_no_false_alarm_full_grid(case):
    _check(case)


@pytest.mark.parametrize("case", SAMPLE, ids=[_ids(c) for c in SAMPLE])
def test_no_false_alarm_ci_sample(case):
    _check(case)

"""Correct implementations never fail the gate: 20 seeds x both dtypes x both modes.

The whole grid is marked slow (``pytest -m slow``, ~2 min); CI runs the sample below.
"""
import pytest

from comparisons import Config, run

IMPLEMENTATIONS = {"builtin": "builtin", "student": "examples/student_adapter.py:Adapter"}


def _check(tiny_data, seed, dtype, mode, impl):
    config = Config(hidden=(48,), epochs=2, batch_size=50, lr=0.1, momentum=0.9, init_velocity=1e-3,
                    seed=seed, dtype=dtype, mode=mode, manual=IMPLEMENTATIONS[impl])
    result = run(config, tiny_data)
    assert result.passed, result.first_failure


@pytest.mark.slow
@pytest.mark.parametrize("impl", sorted(IMPLEMENTATIONS))
@pytest.mark.parametrize("mode", ["free", "synced"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("seed", range(20))
def test_no_false_alarm_full_grid(tiny_data, seed, dtype, mode, impl):
    _check(tiny_data, seed, dtype, mode, impl)


@pytest.mark.parametrize("impl", sorted(IMPLEMENTATIONS))
@pytest.mark.parametrize("mode", ["free", "synced"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_no_false_alarm_ci_sample(tiny_data, dtype, mode, impl):
    _check(tiny_data, 7, dtype, mode, impl)

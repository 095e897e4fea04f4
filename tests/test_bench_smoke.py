"""`make bench` must keep running on the current code: the cheapest piece of every group of
`python -m benchmarks` at tiny scale (a few samples, one round of each block), so a change to the
harness that breaks the bench fails here. Figures are not checked against targets (too small and
too noisy to mean anything), only that each group builds its workloads, runs them and reports
well-formed figures."""
import math

import numpy as np
import pytest

from benchmarks import __main__ as bench
from benchmarks import cases
from benchmarks.timing import interleaved
from comparisons.config import Config
from comparisons.data.builtin import synthetic


@pytest.fixture(autouse=True)
def one_round(monkeypatch):
    """One round of one kept call per workload (the bench's blocks and repetitions are for timing)."""
    def once(workloads, blocks, reps, **kwargs):
        return interleaved(workloads, blocks=1, reps=1, warmup_blocks=0)
    monkeypatch.setattr(cases, "interleaved", once)


@pytest.fixture(scope="module")
def small():
    return synthetic(seed=0, sizes=(60, 20, 20)).astype(np.float32)


def _well_formed(figures, group):
    assert figures and all(f.group == group for f in figures)
    for f in figures:
        assert math.isfinite(f.value) and f.value >= 0, f
        assert f.ratio is None or math.isfinite(f.ratio), f
    assert bench.table(figures)       # the table and the Markdown render every figure
    assert bench.markdown(figures, {"machine": "test"})


def test_every_group_is_measured():
    assert set(bench.GROUPS) == {"threads", "step", "spin", "lockstep", "load", "float64", "referee", "zoo", "preset",
                                 "optim", "conv", "grade"}


def test_grade_overhead():
    """The grade group's per-submission overhead on one submission (the speed-up starts two clusters:
    tests/test_grade.py runs the same engine)."""
    from benchmarks import grade
    _well_formed(grade.overhead(1), "grade")


def test_threads():
    _well_formed(cases.idle_spin(rounds=1, sleep=0.01), "threads")


@pytest.mark.parametrize("dtype", ["float32", "float64"])   # the step and float64 groups
def test_step(dtype):
    figures = cases.step_vs_torch(dtype, scale=0.1, n=40, square=40)
    _well_formed(figures, "step")
    assert any(f.name.startswith("NumPy sgemm") for f in figures) == (dtype == "float32")


def test_spin():
    _well_formed(cases.spin_and_step_ratio(scale=0.1, n=40), "spin")


def test_lockstep(small):
    figures = cases.lockstep_step("minibatch 20", Config(batch_size=20), small, scale=0.1, reps=1,
                                  compare_target="<= 1", pair_target="<= 100", control=True)
    _well_formed(figures, "lockstep")
    assert any(f.name.startswith("control: two manual") for f in figures)


def test_referee_share(small):
    share, step = cases.referee_share("float32", epochs=1, hidden=(8,), batch_size=20, data=small)
    _well_formed([share, step], "referee")
    assert 0 <= share.ratio <= 1 and "steps" in share.reference
    assert "the run passed" in share.note     # correct code: the run itself must pass


def test_referee_share_of_a_preset(small):
    share, _ = cases.referee_share("float32", epochs=1, data=small, preset="assignment")
    assert "full batch" in share.name and "preset assignment" in share.name and share.reference == "1 steps"


def test_referee_call(small):
    figures = cases.referee_call("minibatch 20", Config(hidden=(8,), batch_size=20), small, scale=0.1, reps=1)
    _well_formed(figures, "referee")
    assert figures[1].ratio > 0


def test_preset(small):
    _well_formed(cases.preset(epochs=1, block_epochs=1, data=small), "preset")


@pytest.mark.slow     # two process start-ups (the CLI and its worker): 45 s on this loaded machine
def test_preset_peak_rss():
    (rss,) = cases.preset_peak_rss(1, extra=("--hidden", "8"))
    assert "exit 0" in rss.note and rss.value > 0, rss.note
    worker = int(rss.note.split("its worker ")[1].split()[0])
    assert worker > 0 and rss.value * 1024 >= worker, rss.note     # the worker, which trains, is counted


def test_under_load(small):
    figures = cases.under_load(Config(hidden=(8,), batch_size=20), small, "minibatch 20", blocks=1, reps=1, busy=1)
    _well_formed(figures, "load")
    assert figures[0].target == "<= 2.5" and "busy" in figures[0].name


def test_zoo_layers():
    figures = cases.layers_vs_torch(scale=0.1, ns=(4,), features=8)
    _well_formed(figures, "zoo")
    assert [f.name.split(":")[0] for f in figures] == ["batchnorm", "layernorm", "dropout", "gelu", "gelu"]
    assert all(f.target == "<= 1.3" for f in figures)
    assert "torch.nn.Dropout" in figures[2].reference and "twin" in figures[2].note


def test_zoo_shares(small):
    jobs = {label: config.__class__(**{**config.__dict__, "hidden": (8,), "batch_size": 20})
            for label, config in cases.zoo_jobs().items()}
    adam = next(k for k in jobs if k.startswith(cases.ADAM))
    figures = cases.lockstep_shares(jobs, small, scale=0.1, reps=1, targets=cases.ZOO_TARGETS, state=((adam, "<= 0.03"),))
    _well_formed(figures, "zoo")
    shares, (state,) = figures[:-1], figures[-1:]
    assert len(shares) == len(jobs) and all(f.target == "<= 0.10" for f in shares)
    assert all("rows per step" in f.note and "the referee ran on" in f.note for f in shares)
    assert "optimizer state (12 state rows)" in state.name and state.target == "<= 0.03"


def test_optim():
    _well_formed(cases.adam_step(0.1), "optim")


def test_conv():
    figures = cases.conv_vs_torch(scale=0.1, n=8)
    _well_formed(figures, "conv")
    assert figures[1].target == "<= 1.5" and figures[1].ratio > 0

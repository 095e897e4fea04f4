"""The lockstep run end to end on the tiny built-in data."""
import json

import numpy as np
import pandas as pd
import pytest

from comparisons import Config, run
from comparisons.check.rules import COLUMNS
from tiny_runs import BreaksAtCall, ForgetsOneOverN

SMALL = dict(hidden=(32,), epochs=2, batch_size=100, lr=0.05)
N_PARAMS = 4            # fc1.weight, fc1.bias, fc2.weight, fc2.bias
# judged: out x 3 layers, loss, accuracy, disagreements, dx x (relu1, fc2, loss), grad, update, state per parameter
ROWS_PER_STEP = 3 + 3 + 3 + 3 * N_PARAMS
DRIFT_PER_STEP = 3 + N_PARAMS      # free mode: loss, accuracy, disagreements, param per parameter
ROWS_PER_EVAL = 3 * 3   # (loss, accuracy, disagreements) x (train, valid, test)


@pytest.mark.parametrize("reduction,lr", [("mean", 0.05), ("sum", 5e-4)], ids=["mean", "sum"])
@pytest.mark.parametrize("mode", ["free", "synced"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_correct_implementation_passes(tiny_data, dtype, mode, reduction, lr):
    config = Config(**{**SMALL, "lr": lr}, dtype=dtype, mode=mode, momentum=0.9, init_velocity=1e-5,
                    reduction=reduction)
    result = run(config, tiny_data)
    assert result.passed, result.first_failure
    assert result.first_failure is None
    assert result.summary["status"] == "passed" and result.summary["passed"] is True


@pytest.mark.parametrize("mode", ["synced", "free"])
@pytest.mark.parametrize("batch_size,steps", [(100, 6), (128, 6), (0, 2)], ids=["even", "ragged", "full-batch"])
def test_step_count_and_row_layout(tiny_data, batch_size, steps, mode):
    df = run(Config(**{**SMALL, "batch_size": batch_size}, mode=mode), tiny_data).frame
    assert list(df.columns) == COLUMNS
    assert df["step"].max() == steps
    judged, drift = df[df.track == "judged"], df[df.track == "drift"]
    assert (judged["phase"] == "step").sum() == steps * ROWS_PER_STEP + N_PARAMS + 2   # + init rows, trained checks
    assert (judged["phase"] != "step").sum() == (SMALL["epochs"] + 1) * ROWS_PER_EVAL
    assert len(drift) == (0 if mode == "synced" else steps * DRIFT_PER_STEP + (SMALL["epochs"] + 1) * ROWS_PER_EVAL)
    assert set(judged["quantity"]) == {"init", "loss", "accuracy", "disagreements", "out", "dx", "grad", "update",
                                       "state", "trained"}
    assert set(df["phase"]) == {"step", "train", "valid", "test"}
    step1 = judged[(judged.step == 1) & (judged.phase == "step")]
    assert list(step1["quantity"] + ":" + step1["name"].fillna("")) == [   # in the order the step computes them
        "out:fc1", "out:relu1", "out:fc2", "loss:", "accuracy:", "disagreements:", "dx:loss",
        "grad:fc2.weight", "grad:fc2.bias", "dx:fc2", "dx:relu1", "grad:fc1.weight", "grad:fc1.bias",
        *[f"update:{k}" for k in ("fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias")],
        *[f"state:{k}.momentum_buffer" for k in ("fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias")]]


def test_csv_on_disk_equals_the_returned_frame_and_summary_is_complete(tiny_data, tmp_path):
    config = Config(**SMALL)
    result = run(config, tiny_data, out=tmp_path)
    on_disk = pd.read_csv(tmp_path / "steps.csv", keep_default_na=False, na_values=[""])
    assert list(on_disk.columns) == COLUMNS and len(on_disk) == len(result.frame)
    pd.testing.assert_frame_equal(on_disk[["step", "quantity", "name", "rel_diff"]],
                                  result.frame[["step", "quantity", "name", "rel_diff"]].replace("", np.nan),
                                  check_dtype=False)
    from comparisons.record.recorder import strict_json
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary == json.loads(json.dumps(strict_json(result.summary)))
    for key in ("passed", "status", "first_failure", "final", "worst", "seconds", "config", "versions"):
        assert key in summary
    assert summary["config"]["hidden"] == [32]
    assert set(summary["final"]) == {"train", "valid", "test"}
    assert set(summary["final"]["test"]) == {"manual", "torch"}
    assert summary["versions"]["torch"].startswith("2.")
    assert summary["seconds"]["manual"] > 0 and summary["seconds"]["torch"] > 0


def test_tensor_rows_hold_norms_and_scalar_rows_hold_values(tiny_data):
    df = run(Config(**SMALL, dtype="float64"), tiny_data).frame
    grad = df[(df.quantity == "grad") & (df.name == "fc2.weight")].iloc[0]
    assert grad.manual > 0 and grad.cosine == pytest.approx(1.0) and grad.scale == pytest.approx(1.0)
    assert grad.metric == "rel_l2" and grad.rel_diff < 1e-12
    loss = df[(df.quantity == "loss") & (df.phase == "step")].iloc[0]
    assert 2.0 < loss.manual < 2.6 and np.isnan(loss.cosine)   # ~log(10) at init


def test_runs_are_deterministic_in_the_seed(tiny_data):
    a = run(Config(**SMALL, seed=3), tiny_data).frame
    b = run(Config(**SMALL, seed=3), tiny_data).frame
    c = run(Config(**SMALL, seed=4), tiny_data).frame
    pd.testing.assert_series_equal(a["manual"], b["manual"])
    assert not np.allclose(a["manual"], c["manual"])


@pytest.mark.parametrize("mode", ["free", "synced"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_wrong_backward_fails_naming_the_parameter(tiny_data, dtype, mode):
    result = run(Config(**SMALL, dtype=dtype, mode=mode), tiny_data, manual_loss=ForgetsOneOverN())
    assert result.status == "failed"
    failure = result.first_failure
    assert (failure["step"], failure["quantity"], failure["name"]) == (1, "dx", "loss")   # dL/dscores, first wrong
    assert failure["message"].startswith("step 1 > dx > loss: rel_l2 9.9e+01 from the float64 referee (allowed ")
    assert "elements differ, greatest abs diff" in failure["message"]
    grad = result.frame[(result.frame.quantity == "grad") & (result.frame.step == 1)]
    assert grad["scale"].to_numpy() == pytest.approx(100, rel=1e-4)   # the batch size: the missing 1/N
    assert "= N = 100, the batch size" in result.summary["diagnosis"]["findings"][0]


def test_fail_fast_stops_at_the_first_failure(tiny_data):
    result = run(Config(**SMALL, fail_fast=True), tiny_data, manual_loss=ForgetsOneOverN())
    assert result.frame["step"].max() == 1 and result.status == "failed"


def test_nan_mid_run_names_step_quantity_and_side(tiny_data, tmp_path):
    result = run(Config(**SMALL), tiny_data, out=tmp_path, manual_loss=BreaksAtCall(3, "nan"))
    assert result.status == "failed"
    assert result.first_failure["message"].startswith("step 3 > loss: non-finite on the manual side (manual nan, torch ")
    assert json.loads((tmp_path / "summary.json").read_text())["first_failure"]["step"] == 3
    assert pd.read_csv(tmp_path / "steps.csv")["step"].max() == 3


def test_interrupted_run_leaves_a_valid_record(tiny_data, tmp_path):
    result = run(Config(**SMALL), tiny_data, out=tmp_path, manual_loss=BreaksAtCall(4, "interrupt"))
    assert result.status == "interrupted"
    df = pd.read_csv(tmp_path / "steps.csv")
    assert list(df.columns) == COLUMNS and df["step"].max() == 3
    steps = df[(df.phase == "step") & (df.step > 0) & (df.track == "judged")]
    assert (steps.groupby("step").size() == ROWS_PER_STEP).all()   # no half-written step
    assert json.loads((tmp_path / "summary.json").read_text())["status"] == "interrupted"


def test_tolerance_override_applies(tiny_data):
    result = run(Config(**SMALL, tol=(("update", 0.0),)), tiny_data)
    assert result.status == "failed" and result.first_failure["quantity"] == "update"
    assert "(allowed 0.0e+00 by the override rule)" in result.first_failure["message"]


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("mode", ["free", "synced"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_no_false_alarm_across_seeds(tiny_data, seed, dtype, mode):
    result = run(Config(hidden=(48,), epochs=2, batch_size=50, lr=0.1, momentum=0.9, init_velocity=1e-5,
                        seed=seed, dtype=dtype, mode=mode), tiny_data)
    assert result.passed, result.first_failure


def test_a_nan_after_an_earlier_failure_is_still_reported_as_the_stop(tiny_data, tmp_path):
    """The first failure stays the first failure; the NaN that ended the run is named too."""
    result = run(Config(**SMALL, tol=(("grad", 0.0),)), tiny_data, out=tmp_path, manual_loss=BreaksAtCall(3, "nan"))
    assert result.first_failure["step"] < 3 and "non-finite" not in result.first_failure["message"]
    assert result.summary["stopped"].startswith("step 3 > loss: non-finite on the manual side (manual nan, torch ")


def test_a_free_twin_that_diverges_on_its_own_does_not_fail_the_run(tiny_data, monkeypatch):
    """Drift rows are torch's own trajectory, recorded and never gated: the free twin turning NaN
    (poisoned here after step 2) leaves NaN drift rows, and the judged rows still decide the run."""
    import torch

    import comparisons.lockstep as lockstep_module
    built = []

    class PoisonedFreeTwin(lockstep_module.TorchSide):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            built.append(self)
            self.steps = 0

        def train_step(self, x, y, *args, **kwargs):
            self.steps += 1
            if self is built[1] and self.steps == 3:       # the second side built is the free twin
                with torch.no_grad():
                    for p in self.named.values():
                        p.fill_(float("nan"))
            return super().train_step(x, y, *args, **kwargs)

    monkeypatch.setattr(lockstep_module, "TorchSide", PoisonedFreeTwin)
    result = run(Config(**SMALL, mode="free"), tiny_data)
    assert result.passed, result.first_failure
    drift = result.frame[(result.frame["track"] == "drift") & (result.frame["phase"] == "step")]
    assert drift[drift["step"] >= 3]["reference"].isna().any()
    assert not drift[drift["step"] < 3]["reference"].isna().any()


def test_update_rows_alone_are_refereed_from_the_manual_gradients(monkeypatch):
    """dls-deep in float32: once updates are small against the weights, p_after - p_before cancels and the
    update rows alone miss the direct rule; the referee then recomputes the optimizer step from the manual
    side's own gradients (Referee.update), and the run passes without a whole-step recomputation there.
    The parameters' grid (rules.GRID_ULPS) now passes these rows before the referee: taken away here, as
    for a row whose difference is beyond it."""
    import types
    from comparisons.check import rules
    monkeypatch.setattr(rules, "GRID_ULPS", 0)
    from comparisons.data.builtin import synthetic
    from comparisons.data.presets import load_preset
    from comparisons.lockstep import Lockstep
    from comparisons.record.recorder import Recorder
    values = load_preset("dls-deep") | {"epochs": 40, "dtype": "float32", "mode": "free"}
    lockstep = Lockstep(Config(**values), synthetic(seed=3, sizes=(300, 60, 60), task="binary").astype(np.float32))
    lockstep.recorder = Recorder(None)
    lockstep.train(types.SimpleNamespace(update=lambda: None))
    assert lockstep.tracker.first_failure is None
    assert lockstep.referee_runs["update"] > 0, lockstep.referee_runs


def test_a_result_shows_itself_in_one_line_and_in_a_notebook(tiny_data):
    result = run(Config(hidden=(16,), epochs=1, lr=0.05, fail_fast=True), tiny_data, manual_loss=ForgetsOneOverN())
    text = repr(result)
    assert text.startswith("RunResult('FAILED: step 1 > dx > loss") and "\n" not in text and len(text) < 400
    page = result._repr_html_()
    assert "FAILED: step 1 &gt; dx &gt; loss" in page and "Diagnosis" in page and "Worst difference" in page
    assert "<img" not in page                       # nothing written to disk: no figures to draw from


def test_a_result_written_to_disk_shows_its_figures_in_a_notebook(tiny_data, tmp_path):
    result = run(Config(hidden=(16,), epochs=1, lr=0.05, fail_fast=True), tiny_data, out=tmp_path / "run",
                 manual_loss=ForgetsOneOverN())
    page = result._repr_html_()
    assert page.index("Cause:") < page.index("<img")                     # the cause first, then the figures
    assert 'id="fig-first-failure"' in page and 'id="fig-layers"' in page
    assert page.count('<img src="data:image/png;base64,') >= 10


def test_a_tiny_wrong_gradient_entry_fails_the_update_under_adam(monkeypatch, tiny_data):
    """Review finding: one first-layer gradient entry with its sign flipped, |g| < 1e-6 ||g||, passes the grad
    row (relative L2) but Adam turns it into a whole step. The update must be judged by the whole-step
    referee (an optimizer not linear in the gradient), which fails it at step 1."""
    import manual.layers
    original = manual.layers.Linear.backward

    def flipped(self, dz):
        out = original(self, dz)
        if not self.need_dx:             # the first layer
            g = self.grads["weight"]
            tiny = np.flatnonzero((np.abs(g) > 0) & (np.abs(g) < 1e-6 * np.linalg.norm(g)))
            if len(tiny):
                g.flat[tiny[0]] *= -1
        return out
    monkeypatch.setattr(manual.layers.Linear, "backward", flipped)
    result = run(Config(hidden=(64,), epochs=1, batch_size=100, optimizer="adam", lr=1e-3, reduction="sum",
                        dtype="float32", mode="synced", fail_fast=True), tiny_data)
    first = result.first_failure
    assert (first["step"], first["quantity"], first["name"]) == (1, "update", "fc1.weight"), first


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_update_arrays_read_later_are_those_the_step_made(tiny_data, dtype):
    """The manual update arrays are built only when read (LazyValues): this step's (m - before) when
    the referee or the diagnosis asks, and the previous step's, for the diagnosis, from this step's
    judge.before. Both equal, bit for bit, the arrays built right after their step."""
    import types

    from comparisons.lockstep import Lockstep, LazyValues
    from comparisons.record.recorder import Recorder
    lock = Lockstep(Config(**SMALL, dtype=dtype), tiny_data.astype(np.dtype(dtype)))
    lock.recorder = Recorder(None)
    made, seen = [], []
    judged = Lockstep.judged_step

    def judged_step(self, *args):
        results = judged(self, *args)
        made.append({k: v - self.judge.before[k] for k, v in self.manual.params.items()})
        return results
    previous_values = Lockstep.previous_values

    def kept(self):
        values = previous_values(self)
        if isinstance(values, LazyValues):
            seen.append({k: values[("update", k)] for k in self.manual.params})
        return values
    lock.judged_step = types.MethodType(judged_step, lock)
    lock.previous_values = types.MethodType(kept, lock)
    lock.train(types.SimpleNamespace(update=lambda: None))
    assert lock.tracker.first_failure is None and len(seen) == len(made) - 1 >= 3
    for before, after in zip(made, seen):
        assert all(np.array_equal(before[k], after[k]) for k in before)
    assert isinstance(lock.previous, LazyValues)
    assert all(np.array_equal(lock.previous[("update", k)], made[-1][k]) for k in made[-1])

"""--reg and --reg-convention: each course's penalty, as the course writes it, equals the manual Penalty
and its torch twin, and its gradient equals its torch mapping (SGD weight_decay on the parameters it
covers); lockstep runs with each convention pass, and a wrong penalty gradient is caught."""
import functools

import numpy as np
import pytest
import torch

import torch_ref
from comparisons import Config, run, spec
from comparisons.config import parse_reg
from comparisons.data.builtin import synthetic
from comparisons.errors import InputError
from comparisons.registry import penalty_args
from manual.regularization import Penalty

RTOL = 1e-12
MODEL = "linear:12,relu,linear"


def rel(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def _params(rng):
    layers = spec.parse(MODEL, (6,), 4)
    return layers, {"fc1.weight": rng.standard_normal((12, 6)), "fc1.bias": rng.standard_normal(12),
                    "fc2.weight": rng.standard_normal((4, 12)), "fc2.bias": rng.standard_normal(4)}


# The courses' own formulas: (loss term, gradient per parameter) for lambda, batch size m.
def cs231n(p, lam, m, kind):
    W = [p["fc1.weight"], p["fc2.weight"]]
    if kind == "l2":
        return 0.5 * lam * sum(np.sum(w * w) for w in W), {k: lam * p[k] for k in ("fc1.weight", "fc2.weight")}
    return lam * sum(np.sum(np.abs(w)) for w in W), {k: lam * np.sign(p[k]) for k in ("fc1.weight", "fc2.weight")}


def dls(p, lam, m, kind):
    W = [p["fc1.weight"], p["fc2.weight"]]
    return lam / (2 * m) * sum(np.sum(np.square(w)) for w in W), \
        {k: lam / m * p[k] for k in ("fc1.weight", "fc2.weight")}


def nnfs(p, lam, m, kind):
    if kind == "l2":
        return sum(lam * np.sum(v * v) for v in p.values()), {k: 2 * lam * v for k, v in p.items()}
    return sum(lam * np.sum(np.abs(v)) for v in p.values()), {k: lam * np.sign(v) for k, v in p.items()}


COURSES = [("cs231n", "l2", cs231n), ("cs231n", "l1", cs231n), ("dls", "l2", dls), ("nnfs", "l2", nnfs),
           ("nnfs", "l1", nnfs)]
# the torch mapping of each L2 form: torch.optim.SGD weight_decay and the parameters it is given to
WEIGHT_DECAY = {"cs231n": (lambda lam, m: lam, ("fc1.weight", "fc2.weight")),
                "dls": (lambda lam, m: lam / m, ("fc1.weight", "fc2.weight")),
                "nnfs": (lambda lam, m: 2 * lam, ("fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"))}


@pytest.mark.parametrize("convention,kind,course", COURSES, ids=[f"{c}-{k}" for c, k, _ in COURSES])
def test_penalty_is_the_course_formula_on_both_sides(convention, kind, course, rng):
    layers, p = _params(rng)
    lam, m = 0.03, 7
    args = penalty_args(Config(reg=f"{kind}:{lam}", reg_convention=convention), layers)
    mine = Penalty(*args[:3], [k for k in args[3] if k in p])
    value, grads = course(p, lam, m, kind)
    assert rel(mine.value(p, m), value) <= RTOL
    got = {k: np.zeros_like(v) for k, v in p.items()}
    mine.add_grads(got, p, m)
    for k in p:
        assert rel(got[k], grads.get(k, np.zeros_like(p[k]))) <= RTOL if k in grads else not got[k].any(), k
    named = {k: torch.tensor(v, requires_grad=True) for k, v in p.items()}
    term = torch_ref.regularization.Penalty(*args[:3], args[3])(named, m)
    term.backward()
    assert rel(term.item(), value) <= RTOL
    for k, t in named.items():
        assert (rel(t.grad.numpy(), grads[k]) <= RTOL) if k in grads else t.grad is None, k


@pytest.mark.parametrize("convention", ["cs231n", "dls", "nnfs"])
def test_l2_forms_map_onto_torch_weight_decay(convention, rng):
    """One SGD step on the loss term's gradient equals torch.optim.SGD's weight_decay (mapped lambda, the
    covered parameters) on a zero gradient; the unmapped lambda (weight_decay = lambda on every parameter)
    differs for all but the torch convention."""
    _, p = _params(rng)
    lam, m, lr = 0.03, 7, 0.1
    _, grads = {"cs231n": cs231n, "dls": dls, "nnfs": nnfs}[convention](p, lam, m, "l2")
    course = {k: v - lr * grads.get(k, 0.0) for k, v in p.items()}

    def torch_step(wd, covered):
        params = {k: torch.nn.Parameter(torch.tensor(v)) for k, v in p.items()}
        groups = [{"params": [params[k] for k in p if k in covered], "weight_decay": wd},
                  {"params": [params[k] for k in p if k not in covered], "weight_decay": 0.0}]
        opt = torch.optim.SGD(groups, lr=lr)
        for t in params.values():
            t.grad = torch.zeros_like(t)
        opt.step()
        return {k: t.detach().numpy() for k, t in params.items()}
    wd, covered = WEIGHT_DECAY[convention]
    mapped = torch_step(wd(lam, m), covered)
    assert all(rel(mapped[k], course[k]) <= RTOL for k in p)
    unmapped = torch_step(lam, tuple(p))
    assert any(rel(unmapped[k], course[k]) > 1e-6 for k in p)


REG_RUNS = [("l2:0.01", "cs231n"), ("l1:0.001", "cs231n"), ("l2:0.05", "dls"), ("l2:0.005", "nnfs"),
            ("l1:0.0005", "nnfs"), ("l2:0.01", "torch")]


@functools.cache
def data():
    return synthetic(seed=5, sizes=(120, 40, 40))


@pytest.mark.parametrize("reg,convention", REG_RUNS, ids=[f"{c}-{r}" for r, c in REG_RUNS])
@pytest.mark.parametrize("dtype,mode", [("float32", "free"), ("float64", "synced")])
def test_lockstep_with_regularisation_passes(reg, convention, dtype, mode):
    config = Config(model="linear:32,relu,linear", reg=reg, reg_convention=convention, epochs=1, batch_size=20,
                    lr=0.05, dtype=dtype, mode=mode, seed=1)
    result = run(config, data())
    assert result.passed, result.first_failure
    unregularised = run(Config(**{**config.to_dict(), "hidden": (1000,), "tol": (), "reg": ""}), data())
    assert result.summary["final"]["train"]["manual"]["loss"] != unregularised.summary["final"]["train"]["manual"]["loss"]


def test_a_penalty_gradient_without_its_2_is_caught(monkeypatch):
    """nnfs's dL/dW = 2 lambda W written as lambda W: the weight gradients fail, and the diagnosis names fc2."""
    def half(self, grads, params, n):
        for k in self.names:
            grads[k] += params[k] * params[k].dtype.type(self.coef(self.lam, n))
    monkeypatch.setattr(Penalty, "add_grads", half)
    config = Config(model="linear:32,relu,linear", reg="l2:0.05", reg_convention="nnfs", epochs=1, batch_size=20,
                    lr=0.05, dtype="float64", mode="synced")
    result = run(config, data())
    assert not result.passed and result.first_failure["quantity"] == "grad"
    assert "grad fc2." in result.summary["diagnosis"]["first_divergence"], result.summary["diagnosis"]


@pytest.mark.parametrize("reg,convention,words", [
    ("l1:0.1", "torch", "the torch convention defines L2 only"),
    ("l1:0.1", "dls", "the dls convention defines L2 only"),
    ("l3:0.1", "cs231n", "reg must be l2:LAMBDA or l1:LAMBDA"),
    ("l2:-1", "cs231n", "LAMBDA >= 0"),
    ("l2:nan", "nnfs", "finite LAMBDA"),
    ("l2:0.1", "keras", "reg_convention must be one of cs231n, dls, nnfs, torch"),
])
def test_bad_regularisation_is_one_line(reg, convention, words):
    with pytest.raises(InputError) as e:
        Config(reg=reg, reg_convention=convention).validate()
    assert words in str(e.value)


def test_parse_reg():
    assert parse_reg("", "torch") is None and parse_reg("l2:0.5", "cs231n") == ("l2", 0.5)


def _grid():
    from test_zoo import OPTIMIZERS, RUNS
    return [(reg, convention, seed, dtype, mode) for reg, convention in REG_RUNS
            for seed in range(len(OPTIMIZERS)) for dtype, mode in RUNS]


@pytest.mark.slow
@pytest.mark.parametrize("case", _grid(), ids=lambda c: "-".join(map(str, c)))
def test_no_false_alarm_grid_with_regularisation(case):
    """24 runs per convention and kind: the zoo grid's optimizer settings, batch sizes, dtypes and modes."""
    from test_zoo import OPTIMIZERS
    reg, convention, seed, dtype, mode = case
    lr, momentum, v0, reduction, batch = OPTIMIZERS[seed]
    if reduction == "sum":
        lr /= batch or 120
    config = Config(model="linear:32,relu,linear", reg=reg, reg_convention=convention, epochs=2, batch_size=batch,
                    lr=lr, momentum=momentum, init_velocity=v0, reduction=reduction, seed=seed, dtype=dtype,
                    mode=mode)
    result = run(config, data())
    assert result.passed, result.first_failure


@pytest.mark.parametrize("fields,fragment", [
    (dict(optimizer="adamw", reg="l2:0.1"), "adamw's decay is decoupled"),
    (dict(optimizer="adam:weight_decay\t=0.1", reg="l2:0.1"), "give it once"),
])
def test_reg_combinations_that_cannot_mean_one_thing_are_refused(fields, fragment):
    """torch's weight_decay given twice, or an L2 penalty on AdamW's decoupled decay: one line of bad input,
    before any work. (A bring-your-own class computes its penalty itself: --reg tells the torch side,
    tests/test_examples.py's cs231n network.)"""
    from comparisons.errors import InputError
    with pytest.raises(InputError, match=fragment):
        Config(**fields).validate()


def test_the_diagnosis_alternatives_carry_the_penalty_weight_decay():
    """--reg l2:L (torch convention) is the optimizer's weight_decay for every side and for the update
    stage's alternatives, so "the weight decay is left out" can be named."""
    from comparisons.explain.update_rules import alternatives
    labels = [label for label, *_ in alternatives(Config(optimizer="adam", reg="l2:0.01"))]
    assert any("weight decay 0.01 is left out" in label for label in labels), labels

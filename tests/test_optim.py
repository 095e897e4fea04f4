"""Every optimizer and convention against its torch mapping; the assignment's velocity form against
torch.optim.SGD's momentum buffer; the --optimizer grammar."""
import numpy as np
import pytest
import torch

import manual
import torch_ref
import torch_ref.optim as twins
from comparisons.config import Config
from comparisons.errors import InputError
from comparisons.registry import FORMS, OPTIMIZERS, SCHEDULES, build_optimizer, parse_optimizer

EXACT64 = 1e-13   # float64: the two recurrences differ only by rounding of v / lr; measured ~1e-16


def _run_both(init_velocity, carry_velocity=True, steps=6, lr=0.05, momentum=0.9, seed=0):
    """Apply the same random gradients to both optimizers; return (manual params, torch params, ...)."""
    rng = np.random.default_rng(seed)
    params = {"fc1.weight": rng.standard_normal((4, 5)), "fc1.bias": rng.standard_normal(4)}
    named = {k: torch.nn.Parameter(torch.from_numpy(v.copy())) for k, v in params.items()}
    mine = manual.SGDMomentum(params, lr, momentum, init_velocity)
    if carry_velocity:
        theirs = torch_ref.SGDMomentum(named, lr, momentum, init_velocity)
    else:                                   # torch's own default: an empty state, buf starts at the gradient
        theirs = torch.optim.SGD(named.values(), lr=lr, momentum=momentum)
    for _ in range(steps):
        grads = {k: rng.standard_normal(v.shape) for k, v in params.items()}
        mine.step(grads)
        for name, p in named.items():
            p.grad = torch.from_numpy(grads[name].copy())
        theirs.step()
    return params, {k: v.detach().numpy() for k, v in named.items()}, mine, named, theirs


@pytest.mark.parametrize("v0", [0.0, 1e-5, 0.3, -2.0], ids=["v0=0", "v0=1e-5", "v0=0.3", "v0=-2"])
def test_velocity_form_equals_torch_buffer_form_when_buffer_starts_at_v0_over_lr(v0):
    params, ref, mine, named, opt = _run_both(v0)
    for name in params:
        np.testing.assert_allclose(params[name], ref[name], rtol=EXACT64, atol=EXACT64)
    for key, (buf, scale) in opt.state().items():   # the optimizer states agree too: v = lr * buf
        assert scale == 0.05
        np.testing.assert_allclose(mine.state[key], scale * buf.numpy(), rtol=EXACT64, atol=EXACT64)


@pytest.mark.parametrize("v0", [1e-5, 0.3], ids=["v0=1e-5", "v0=0.3"])
def test_torch_default_state_drops_the_initial_velocity(v0):
    """Without carrying v0 into momentum_buffer the sides differ: the carry is what makes them equal."""
    params, ref, *_ = _run_both(v0, carry_velocity=False)
    worst = max(np.abs(params[k] - ref[k]).max() for k in params)
    # v0 contributes -v0 * (g + g^2 + ... + g^k) to every parameter after k steps.
    expected = v0 * sum(0.9 ** i for i in range(1, 7))
    assert worst == pytest.approx(expected, rel=1e-6)


def test_torch_default_state_equals_zero_initial_velocity():
    params, ref, *_ = _run_both(0.0, carry_velocity=False)
    for name in params:
        np.testing.assert_allclose(params[name], ref[name], rtol=EXACT64, atol=EXACT64)


def test_load_state_takes_assignment_units():
    _, _, mine, named, opt = _run_both(0.1)
    opt.load_state({k: np.full(p.shape, 0.5) for k, p in mine.state.items()})
    for buf, scale in opt.state().values():
        assert torch.all(buf == 0.5 / 0.05)


# --- every optimizer and convention of the registry against its torch twin ------------------------

EXACT = 1e-12     # float64, 25 steps: measured worst 4.7e-16 (params) and 8.9e-16 (state) over every entry
STEPS = 25
# hyper-parameters that make every term act (weight decay, dampening, an initial velocity)
ACTIVE = {"momentum": 0.8, "init_velocity": 0.05, "weight_decay": 0.01, "dampening": 0.3, "init_accumulator": 0.1}


def _entry_kwargs(entry, active=True):
    spec = f"{entry.token}:form={entry.form}"
    if active:
        spec += "," + ",".join(f"{h.name}={ACTIVE[h.name]}" for h in entry.hypers if h.name in ACTIVE)
    return parse_optimizer(spec.rstrip(","), Config())[1]


def _drive(entry, kwargs, lr=0.03, steps=STEPS, seed=0, twin=None):
    """The same random gradients through the manual class and ``twin`` (default: its registry twin):
    (manual params, torch params, manual optimizer, twin) after each of ``steps`` steps, as a list."""
    rng = np.random.default_rng(seed)
    params = {"fc1.weight": rng.standard_normal((4, 5)), "fc1.bias": rng.standard_normal(4),
              "fc2.weight": rng.standard_normal((3, 4))}
    named = {k: torch.nn.Parameter(torch.from_numpy(v.copy())) for k, v in params.items()}
    mine = entry.manual(params, lr, **kwargs)
    theirs = (twin or entry.twin)(named, lr, **kwargs)
    trace = []
    for _ in range(steps):
        grads = {k: rng.standard_normal(v.shape) * rng.uniform(0.01, 3) for k, v in params.items()}
        mine.step(grads)
        for name, p in named.items():
            p.grad = torch.from_numpy(grads[name].copy())
        theirs.step()
        trace.append(({k: v.copy() for k, v in params.items()}, {k: v.detach().numpy().copy() for k, v in named.items()},
                      {k: np.array(v) for k, v in mine.state.items()},
                      {k: t.numpy() * s for k, (t, s) in theirs.state().items()}))
    return trace, mine, theirs


def _rel(a, b):
    return float(np.linalg.norm(np.asarray(a, np.float64) - b) / max(np.linalg.norm(b), 1e-300))


@pytest.mark.parametrize("active", [False, True], ids=["defaults", "every-term"])
@pytest.mark.parametrize("key", list(OPTIMIZERS))
def test_every_convention_equals_its_torch_mapping_with_its_state(key, active):
    """Parameters and every state tensor (in the convention's units) agree at each of 25 steps."""
    entry = OPTIMIZERS[key]
    trace, mine, theirs = _drive(entry, _entry_kwargs(entry, active))
    for step, (p_m, p_t, s_m, s_t) in enumerate(trace, 1):
        assert set(s_m) == set(s_t), f"step {step}: state keys {sorted(s_m)} vs {sorted(s_t)}"
        assert {k.rsplit(".", 1)[1] for k in s_m} == set(entry.state)
        for k in p_m:
            assert _rel(p_m[k], p_t[k]) <= EXACT, f"step {step} {k}"
        for k in s_m:
            assert _rel(s_m[k], s_t[k]) <= EXACT, f"step {step} {k}"


TORCH_OWN = {"SGDMomentum": torch.optim.SGD, "SGD": torch.optim.SGD, "Momentum": torch.optim.SGD,
             "Nesterov": torch.optim.SGD, "RMSprop": torch.optim.RMSprop, "Adagrad": torch.optim.Adagrad,
             "AdamW": torch.optim.AdamW}


@pytest.mark.parametrize("key", list(OPTIMIZERS))
def test_the_torch_side_is_torch_optim_itself_except_eps_inside(key):
    """The README's list: every convention runs torch.optim's own optimizer but Adam with eps inside the
    square root, which runs AdamOps (torch operations)."""
    entry = OPTIMIZERS[key]
    _, _, theirs = _drive(entry, _entry_kwargs(entry), steps=1)
    if entry.form == "eps_inside":
        assert type(theirs.opt) is twins.AdamOps and "AdamOps" in entry.torch
    elif entry.cls == "Adam":
        assert type(theirs.opt) is torch.optim.Adam
    else:
        assert type(theirs.opt) is TORCH_OWN[entry.cls]
    assert entry.torch


def _worst(trace):
    return max(_rel(p_m[k], p_t[k]) for p_m, p_t, _, _ in trace for k in p_m)


class _EmaUnseeded(twins.Momentum):
    """The ema mapping without its pre-seeded buffer: torch's first step sets buf = g, undampened."""
    def __init__(self, params, lr, momentum, form, init_velocity=0.0, dampening=0.0, weight_decay=0.0):
        super().__init__(params, lr, momentum, form, init_velocity, dampening, weight_decay)
        for p in params.values():
            self.opt.state[p].clear()


class _Cs231nPositive(twins.Momentum):
    """The cs231n mapping read with scale +lr (as the assignment's form): the state rows would disagree."""
    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.lr_scaled = {"momentum_buffer": 1.0}


@pytest.mark.parametrize("key,twin,where", [
    ("momentum:ema", _EmaUnseeded, "params"),
    ("momentum:cs231n", _Cs231nPositive, "state"),
    ("adam:eps_inside", twins.Adam, "params"),        # torch.optim.Adam: eps outside the square root
])
def test_without_the_mapping_the_sides_differ(key, twin, where):
    entry = OPTIMIZERS[key]
    kwargs = _entry_kwargs(entry)
    if key == "adam:eps_inside":
        kwargs = {k: v for k, v in kwargs.items() if k != "eps_inside"}
        kwargs["eps"] = 1e-2       # where eps matters: gradients ~0.01..3
        mine_kwargs = kwargs | {"eps_inside": True}
        rng_trace, *_ = _drive(entry, mine_kwargs, twin=lambda named, lr, **k: twin(named, lr, **kwargs))
    else:
        rng_trace, *_ = _drive(entry, kwargs, twin=twin)
    if where == "params":
        assert _worst(rng_trace) > 1e-4
    else:
        assert max(_rel(s_m[k], s_t[k]) for _, _, s_m, s_t in rng_trace for k in s_m) > 1


# --- the manual classes are the courses' formulas as written ---------------------------------------

def _course(name, w, dw, config):
    """Each course's update as it writes it (cs231n optim.py, Deep Learning Specialization, NNFS),
    one parameter, its state in ``config``."""
    c = config
    if name == "cs231n_sgd_momentum":
        c["velocity"] = c["momentum"] * c["velocity"] - c["learning_rate"] * dw
        return w + c["velocity"]
    if name == "cs231n_nesterov":
        v_prev = c["velocity"]
        c["velocity"] = c["momentum"] * c["velocity"] - c["learning_rate"] * dw
        return w - c["momentum"] * v_prev + (1 + c["momentum"]) * c["velocity"]
    if name == "cs231n_rmsprop":
        c["cache"] = c["decay_rate"] * c["cache"] + (1 - c["decay_rate"]) * dw ** 2
        return w - c["learning_rate"] * dw / (np.sqrt(c["cache"]) + c["epsilon"])
    if name in ("cs231n_adam", "nnfs_adam"):
        c["t"] += 1
        c["m"] = c["beta1"] * c["m"] + (1 - c["beta1"]) * dw
        c["v"] = c["beta2"] * c["v"] + (1 - c["beta2"]) * dw ** 2
        mt, vt = c["m"] / (1 - c["beta1"] ** c["t"]), c["v"] / (1 - c["beta2"] ** c["t"])
        return w - c["learning_rate"] * mt / (np.sqrt(vt) + c["epsilon"])
    if name == "dls_momentum":
        c["v"] = c["beta"] * c["v"] + (1 - c["beta"]) * dw
        return w - c["learning_rate"] * c["v"]
    raise KeyError(name)


COURSES = [  # (course form, its config, registry spec, manual state key -> course key)
    ("cs231n_sgd_momentum", dict(learning_rate=0.03, momentum=0.9, velocity=0.0), "momentum:form=cs231n,momentum=0.9",
     {"momentum_buffer": "velocity"}),
    ("cs231n_nesterov", dict(learning_rate=0.03, momentum=0.9, velocity=0.0), "nesterov:form=cs231n,momentum=0.9",
     {"momentum_buffer": "velocity"}),
    ("cs231n_rmsprop", dict(learning_rate=0.03, decay_rate=0.99, epsilon=1e-8, cache=0.0), "rmsprop:form=cs231n",
     {"square_avg": "cache"}),
    ("cs231n_adam", dict(learning_rate=0.03, beta1=0.9, beta2=0.999, epsilon=1e-8, m=0.0, v=0.0, t=0), "adam:form=cs231n",
     {"exp_avg": "m", "exp_avg_sq": "v", "step": "t"}),
    ("nnfs_adam", dict(learning_rate=0.03, beta1=0.9, beta2=0.999, epsilon=1e-7, m=0.0, v=0.0, t=0), "adam:form=nnfs",
     {"exp_avg": "m", "exp_avg_sq": "v", "step": "t"}),
    ("dls_momentum", dict(learning_rate=0.03, beta=0.9, v=0.0), "momentum:form=ema,momentum=0.9", {"momentum_buffer": "v"}),
]


@pytest.mark.parametrize("course,config,spec,keys", COURSES, ids=[c[0] for c in COURSES])
def test_manual_classes_are_the_courses_formulas(course, config, spec, keys):
    entry, kwargs = parse_optimizer(spec, Config(init_velocity=0.0))
    rng = np.random.default_rng(3)
    w = rng.standard_normal((3, 4))
    params = {"fc1.weight": w.copy()}
    opt = entry.manual(params, 0.03, **kwargs)
    for _ in range(STEPS):
        dw = rng.standard_normal(w.shape)
        w = _course(course, w, dw, config)
        opt.step({"fc1.weight": dw})
        assert _rel(params["fc1.weight"], w) <= EXACT
        for mine, theirs in keys.items():
            np.testing.assert_allclose(opt.state[f"fc1.weight.{mine}"], config[theirs], rtol=EXACT, atol=0)


# --- the grammar ------------------------------------------------------------------------------------

def test_default_is_the_assignment_momentum_from_the_config():
    entry, kwargs = parse_optimizer("", Config(momentum=0.99, init_velocity=1e-5))
    assert (entry.cls, kwargs) == ("SGDMomentum", {"momentum": 0.99, "init_velocity": 1e-5, "weight_decay": 0.0})


def test_grammar_reads_hyper_parameters_and_forms():
    entry, kwargs = parse_optimizer("adam:beta1=0.8, beta2=0.99,eps=1e-7,form=nnfs", Config())
    assert entry.form == "nnfs" and kwargs == {"beta1": 0.8, "beta2": 0.99, "eps": 1e-7, "weight_decay": 0.0}
    assert parse_optimizer("rmsprop:form=nnfs", Config())[1]["alpha"] == 0.9
    assert parse_optimizer("adam:form=eps_inside", Config())[1]["eps_inside"] is True
    assert set(FORMS) == {"momentum", "sgd", "nesterov", "rmsprop", "adagrad", "adam", "adamw"}


@pytest.mark.parametrize("spec,fragment", [
    ("adamm", "unknown optimizer 'adamm'; choose from"),
    ("adam:beta3=0.5", "unknown key 'beta3'"),
    ("adam:beta1=1", "beta1 must be in [0, 1), got 1"),
    ("adam:beta2=-0.1", "beta2 must be in [0, 1)"),
    ("adam:eps=0", "eps must be > 0, got 0"),
    ("rmsprop:eps=-1e-8", "eps must be > 0"),
    ("adam:eps=nan", "eps must be > 0, got nan"),
    ("adam:eps=abc", "eps must be a number, got 'abc'"),
    ("momentum:form=polyak", "unknown form 'polyak'; choose from assignment, cs231n, ema, torch"),
    ("adam:lr=0.1", "the learning rate is lr"),      # from Python: the argument's name
    ("adam:beta1", "expected key=value"),
    ("adam:beta1=0.9,beta1=0.8", "beta1 given more than once"),
    ("adam:", "nothing after ':'"),
    ("momentum:form=ema,momentum=0", "momentum must be in (0, 1)"),
    ("adagrad:init_accumulator=-1", "init_accumulator must be >= 0"),
    ("momentum:form=torch,dampening=1.5", "dampening must be in [0, 1]"),
])
def test_bad_optimizer_is_one_input_error(spec, fragment):
    with pytest.raises(InputError, match="^optimizer: .*" + fragment.replace("(", r"\(").replace(")", r"\)")
                       .replace("[", r"\[").replace("]", r"\]")):
        Config(optimizer=spec).validate()


# --- learning-rate schedules against torch's schedulers --------------------------------------------

# each acts within 25 steps; EXACT holds them: measured worst over SCHEDULES_ACTIVE x SCHEDULED 5.2e-16 (params),
# 1.2e-15 (state), and 4.3e-16 between torch's stepped lr (a running product) and the manual closed form
SCHEDULES_ACTIVE = ["step:step_size=4,gamma=0.5", "exp:gamma=0.9", "nnfs:decay=0.1"]
SCHEDULED = ["momentum:form=assignment", "momentum:form=cs231n", "momentum:form=ema", "nesterov:form=cs231n",
             "sgd", "adam:form=nnfs", "adamw"]
TORCH_SCHEDULERS = {"step": torch.optim.lr_scheduler.StepLR, "exp": torch.optim.lr_scheduler.ExponentialLR,
                    "nnfs": torch.optim.lr_scheduler.LambdaLR}


def _drive_scheduled(optimizer, schedule, steps=STEPS, lr=0.03, seed=0, twin_scheduler=None):
    """The registry's scheduled manual optimizer and twin (the twin's scheduler stepped as torch steps it,
    or ``twin_scheduler(opt)``) on the same gradients: per step (params, state, lr) of each side."""
    config = Config(lr=lr, momentum=0.8, init_velocity=0.05, optimizer=optimizer, lr_schedule=schedule)
    rng = np.random.default_rng(seed)
    params = {"fc1.weight": rng.standard_normal((4, 5)), "fc1.bias": rng.standard_normal(4)}
    named = {k: torch.nn.Parameter(torch.from_numpy(v.copy())) for k, v in params.items()}
    mine, theirs = build_optimizer(config, params, "manual"), build_optimizer(config, named, "twin")
    if twin_scheduler is not None:
        theirs.scheduler = twin_scheduler(theirs.opt)
    trace = []
    for _ in range(steps):
        grads = {k: rng.standard_normal(v.shape) * rng.uniform(0.01, 3) for k, v in params.items()}
        mine.step(grads)
        for name, p in named.items():
            p.grad = torch.from_numpy(grads[name].copy())
        theirs.step()
        trace.append((({k: v.copy() for k, v in params.items()}, {k: np.array(v) for k, v in mine.state.items()},
                       mine.lr),
                      ({k: v.detach().numpy().copy() for k, v in named.items()},
                       {k: t.numpy() * s for k, (t, s) in theirs.state().items()}, theirs.used_lr)))
    return trace, mine, theirs


@pytest.mark.parametrize("optimizer", SCHEDULED)
@pytest.mark.parametrize("schedule", SCHEDULES_ACTIVE)
def test_every_schedule_equals_its_torch_scheduler(schedule, optimizer):
    """Parameters, state and the lr each step used agree at each of 25 steps (float64), torch stepping its
    own scheduler once per optimizer step (its lr a running product, the manual side's a closed form)."""
    trace, mine, theirs = _drive_scheduled(optimizer, schedule)
    name = schedule.split(":")[0]
    assert type(theirs.scheduler) is TORCH_SCHEDULERS[name] and TORCH_SCHEDULERS[name].__name__ in SCHEDULES[name].torch
    lrs = [m[2] for m, _ in trace]
    assert len(set(lrs)) > 2, lrs                   # the schedule acts
    for step, ((p_m, s_m, lr_m), (p_t, s_t, lr_t)) in enumerate(trace, 1):
        assert lr_m == pytest.approx(lr_t, rel=1e-15), f"step {step}"
        assert set(s_m) == set(s_t)
        for k in p_m:
            assert _rel(p_m[k], p_t[k]) <= EXACT, f"step {step} {k}"
        for k in s_m:
            assert _rel(s_m[k], s_t[k]) <= EXACT, f"step {step} {k}"


@pytest.mark.parametrize("schedule", SCHEDULES_ACTIVE)
def test_a_twin_put_at_step_t_has_the_manual_schedules_lr_bit_for_bit(schedule):
    """at(t) (the judge, the referee: positioned by the step number) gives base · closed form, the manual
    schedule's own expression: equal bit for bit, and within 1e-15 of torch's stepped running product."""
    trace, mine, theirs = _drive_scheduled("adam", schedule)
    for t in range(STEPS):
        theirs.at(t)
        assert theirs.lr == mine.schedule(t), t
        assert theirs.lr == pytest.approx(trace[t][1][2], rel=1e-15), t


def test_without_the_mapping_the_schedules_differ():
    """NNFS's t counted from 1 (LambdaLR lambda(t) = 1 / (1 + decay (t + 1))) differs from the first step;
    the assignment's velocity under a changing lr without the buffer rescale differs from the second."""
    decay = 0.1
    from_one = lambda opt: torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 1 / (1 + decay * (t + 1)))
    trace, *_ = _drive_scheduled("adam", f"nnfs:decay={decay}", twin_scheduler=from_one)
    (p_m, _, lr_m), (p_t, _, lr_t) = trace[0]
    assert lr_t == pytest.approx(lr_m / 1.1) and _rel(p_m["fc1.weight"], p_t["fc1.weight"]) > 1e-4

    class Unscaled(twins.SGDMomentum):
        def _rescale(self, old):       # torch.optim.SGD as it is: buf in gradient units across an lr change
            pass
    config = Config(lr=0.03, momentum=0.8, init_velocity=0.05, lr_schedule="exp:gamma=0.9")
    rng = np.random.default_rng(0)
    params = {"w": rng.standard_normal((4, 5))}
    named = {"w": torch.nn.Parameter(torch.from_numpy(params["w"].copy()))}
    mine = build_optimizer(config, params, "manual")
    theirs = Unscaled(named, 0.03, 0.8, 0.05)
    theirs.scheduler = torch.optim.lr_scheduler.ExponentialLR(theirs.opt, 0.9)
    worst = []
    for _ in range(3):
        g = rng.standard_normal((4, 5))
        mine.step({"w": g})
        named["w"].grad = torch.from_numpy(g.copy())
        theirs.step()
        worst.append(_rel(params["w"], named["w"].detach().numpy()))
    assert worst[0] <= EXACT and worst[1] > 1e-4, worst

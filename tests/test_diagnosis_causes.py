"""A diagnosis names a cause only when the numbers show it, and every cause that gives the same numbers
(README, "The pass rule, and why": a wrong cause is worse than none). Each test here is a slip whose
diagnosis used to name one cause where another, or more than one, gives the same numbers."""
import numpy as np

import comparisons.sides.builtin as builtin
import manual
import manual.optim as mo
import manual.schedules as schedules
from comparisons import Config, run
from comparisons.data.builtin import images, synthetic
from comparisons.explain import relations
from comparisons.explain.diagnosis import constants as stage_constants
from comparisons.explain.relations import Context
from comparisons.explain.update_rules import reproduces
from comparisons.registry import build_optimizer, optimizer_args, parse_schedule

RNG = np.random.default_rng(7)


# --- a branch layer's masks: the most specific one that holds the difference is named ---------------------

def _relu_masks(z):
    """A ReLU's masks, as diagnosis.branch_masks labels them."""
    return {"the layer's branch is taken (e.g. ReLU input > 0)": z > 0,
            "the layer's branch is not taken (e.g. ReLU input <= 0)": z <= 0,
            "the layer's branch is taken or its input sits on the branch point (e.g. ReLU input >= 0)": z >= 0,
            "the layer's input sits exactly on the branch point (e.g. ReLU input == 0)": z == 0}


def test_a_relu_derivative_taken_at_zero_is_located_at_the_kink_not_the_half_space():
    """ReLU's backward with >= where torch has >: it differs only where the input is exactly 0. The
    reference is 0 on the whole not-taken half-space, so that mask holds the difference too (its other
    elements agree trivially); the kink's mask is the specific one."""
    z = RNG.standard_normal((60, 40))
    z[RNG.random(z.shape) < 0.03] = 0.0
    dout = RNG.standard_normal(z.shape)
    r, m = dout * (z > 0), dout * (z >= 0)
    ctx = Context(masks=_relu_masks(z), operands={"the incoming gradient": dout})
    text, exact = relations.explain(m, r, 1e-12, ctx)
    assert exact and text.startswith("differs exactly where the layer's input sits exactly on the branch point"), text
    assert "not taken" not in text
    assert text.endswith("; there the manual value equals the incoming gradient")


def test_a_mask_mostly_agreeing_is_named_with_how_little_of_it_differs():
    """Where the kink's mask is larger than the difference (the incoming gradient is 0 at some of its
    elements: a max-pool above), the finding says how many of its elements differ."""
    z = RNG.standard_normal((60, 40))
    z[RNG.random(z.shape) < 0.05] = 0.0
    dout = RNG.standard_normal(z.shape) * (RNG.random(z.shape) < 0.25)    # a max-pool passes 1 in 4
    r, m = dout * (z > 0), dout * (z >= 0)
    on = z == 0
    assert 0 < np.count_nonzero(on & (dout != 0)) < np.count_nonzero(on) / 2
    text, _ = relations.explain(m, r, 1e-12, Context(masks=_relu_masks(z)))
    assert text.startswith(f"differs only where the layer's input sits exactly on the branch point (e.g. ReLU "
                           f"input == 0): at {np.count_nonzero(on & (dout != 0))} of its {np.count_nonzero(on)} "
                           f"elements"), text


def test_the_half_space_is_named_when_the_difference_fills_it():
    """A backward passing the gradient where it should not (no derivative at all): the not-taken mask."""
    z = RNG.standard_normal((60, 40))
    dout = RNG.standard_normal(z.shape)
    text, _ = relations.explain(dout, dout * (z > 0), 1e-12, Context(masks=_relu_masks(z)))
    assert text.startswith("differs exactly where the layer's branch is not taken"), text


# --- float32 rounding in a float64 run, or a constant good to 7 digits ------------------------------------

def _gelu_tanh(x, c, dtype=np.float64):
    x = x.astype(dtype)
    return (0.5 * x * (1 + np.tanh(dtype(c) * (x + dtype(0.044715) * x ** 3)))).astype(np.float64)


X = RNG.standard_normal((50, 32))
EXACT_C = np.sqrt(2 / np.pi)


def _coarse(m, r, probe):
    ctx = Context(coarse=("float32", relations.rel(probe, r), probe))
    return relations.explain(m, r, 1e-14, ctx)


def test_a_constant_typed_to_7_digits_is_not_called_float32_alone():
    """tanh-GELU with sqrt(2/pi) = 0.7978846 in float64: off by about float32's rounding, but its values
    are not float32 numbers nor near a float32 recomputation: both causes are named."""
    r, probe = _gelu_tanh(X, EXACT_C), _gelu_tanh(X, EXACT_C, np.float32)
    m = _gelu_tanh(X, 0.7978846)
    text, exact = _coarse(m, r, probe)
    assert "is the size of float32 rounding" in text, text
    assert "part of the manual computation runs in float32, or a constant or an approximation in it is good to " \
           "only about 7 significant digits" in text, text


def test_float32_is_named_alone_when_the_values_are_float32_numbers():
    r, probe = _gelu_tanh(X, EXACT_C), _gelu_tanh(X, EXACT_C, np.float32)
    m = _gelu_tanh(X, EXACT_C, np.float32)      # computed in float32, cast back to float64
    text, _ = _coarse(m, r, probe * (1 + 1e-9))
    assert "part of the manual computation runs in float32 (its values are exactly float32 numbers" in text, text
    assert "a constant" not in text


def test_float32_is_named_alone_when_the_values_follow_the_float32_recomputation():
    """A float32 step followed by float64 arithmetic: not float32 numbers, but as close to a float32
    recomputation of the stage as float64 arithmetic leaves them."""
    r, probe = _gelu_tanh(X, EXACT_C) / 3, _gelu_tanh(X, EXACT_C, np.float32) / 3
    m = _gelu_tanh(X, EXACT_C, np.float32) / 3
    text, _ = _coarse(m, r, probe)
    assert "part of the manual computation runs in float32 (it is " in text and "from the float32 recomputation" in \
        text, text
    assert "a constant" not in text


# --- the update's named rules: every one that reproduces the step is listed ---------------------------------


SMALL = dict(hidden=(32,), batch_size=100, lr=0.05, momentum=0.9, epochs=1, dtype="float64", mode="synced",
             fail_fast=True)
BIAS_CORRECTED_EMA = ("the update follows the exponential-average form v <- momentum v + (1 - momentum) g, "
                      "p <- p - lr v, with Adam's bias correction")


class EmaBiasCorrected(mo.Momentum):
    """The exponential-average momentum with Adam's bias correction, which the convention lacks."""
    def step(self, grads):
        self.t = getattr(self, "t", 0) + 1
        for name, p in self.params.items():
            v = self.state[f"{name}.momentum_buffer"]
            v *= self.momentum
            v += (1 - self.momentum) * grads[name]
            p -= self.lr * v / (1 - self.momentum ** self.t)


def test_ema_momentum_with_a_bias_correction_is_named_beside_the_forms_that_agree_at_step_1(tiny_data,
                                                                                            monkeypatch):
    monkeypatch.setattr(builtin, "build_optimizer", lambda config, params, side: EmaBiasCorrected(
        params, config.lr, **optimizer_args(config)[1]))
    result = run(Config(**SMALL, optimizer="momentum:form=ema,momentum=0.9"), tiny_data)
    assert result.first_failure["step"] == 1
    (rule,) = [f for f in result.summary["diagnosis"]["findings"] if f.startswith("update: ")]
    assert rule.startswith("update: each of these reproduces") and BIAS_CORRECTED_EMA in rule, rule
    assert "v <- momentum v + lr g, p <- p - v" in rule      # the assignment's form gives the same step 1


def test_ema_momentum_with_a_bias_correction_is_named_alone_where_the_forms_part():
    config = Config(optimizer="momentum:form=ema,momentum=0.9", lr=0.05)
    rng = np.random.default_rng(3)
    params = {"w": rng.standard_normal((6, 5)), "b": rng.standard_normal(5)}
    state = {f"{k}.momentum_buffer": 0.1 * rng.standard_normal(v.shape) for k, v in params.items()}
    grads = {k: rng.standard_normal(v.shape) for k, v in params.items()}
    t = 3                                                         # three updates before this one
    updates = {k: -0.05 * (0.9 * state[f"{k}.momentum_buffer"] + 0.1 * grads[k]) / (1 - 0.9 ** (t + 1))
               for k in params}
    found = reproduces(config, {"params": params, "state": state, "step": None}, grads, updates,
                       {k: 1e-12 for k in params}, done=t)
    assert len(found) == 1 and found[0].startswith(BIAS_CORRECTED_EMA), found


class ExpPerEpoch(schedules.ExponentialLR):
    """Decayed once per epoch (3 updates of 100 on 300 samples) where the run steps it per update."""
    def __call__(self, t):
        return super().__call__(t // 3)


PER_EPOCH = "the schedule is stepped once per epoch, not after every update: its learning rate at the epoch's index"


def test_a_schedule_stepped_per_epoch_is_named_beside_one_step_late_where_they_agree(tiny_data, monkeypatch):
    def build(config, params, side):
        opt = build_optimizer(config, params, side)
        opt.schedule = ExpPerEpoch(config.lr, **parse_schedule(config.lr_schedule)[1])
        return opt
    monkeypatch.setattr(builtin, "build_optimizer", build)
    result = run(Config(**{**SMALL, "lr": 1e-3}, optimizer="adam", lr_schedule="exp:gamma=0.9"), tiny_data)
    assert (result.first_failure["step"], result.first_failure["name"]) == (2, "lr")
    (rule,) = [f for f in result.summary["diagnosis"]["findings"] if f.startswith("update: ")]
    assert rule.startswith("update: each of these reproduces"), rule
    assert f"{PER_EPOCH} (t // 3, 3 updates an epoch)" in rule and "applied one step late" in rule, rule
    # the change's factor 1/gamma = 1.11111 is also 1/beta1: the schedule's ratio is named beside it
    change = result.summary["diagnosis"]["findings"][0]
    assert "manual = 1.11111 × reference (= the schedule's lr at the previous step (t = 0) over this step's, " \
           "0.001/0.0009 = 1.11111; = 1/beta1 = 1.11111)" in change, change


def test_a_schedule_stepped_per_epoch_is_named_alone_where_one_step_late_parts():
    config = Config(optimizer="sgd", lr=0.05, lr_schedule="exp:gamma=0.9")
    rng = np.random.default_rng(4)
    params = {"w": rng.standard_normal((6, 5))}
    grads = {"w": rng.standard_normal((6, 5))}
    t = 7                                      # epoch 2 of 3 updates: lr at 2, where one step late is at 6
    updates = {"w": -0.05 * 0.9 ** (t // 3) * grads["w"]}
    found = reproduces(config, {"params": params, "state": {}, "step": t}, grads, updates, {"w": 1e-12},
                       steps_per_epoch=3)
    assert len(found) == 1 and found[0].startswith(PER_EPOCH), found


# --- constants in the update: a coefficient is named after the run's constants before the learning rate ----


def _update_names(value, optimizer="", lr=0.05):
    return relations.names_of(value, stage_constants(100, 10, Config(optimizer=optimizer, lr=lr), "update", lr))


def test_a_plain_number_is_never_a_multiple_of_the_learning_rate():
    """p <- p - v with the old v: the coefficient -1 of the buffer is -1, not "-20 × the learning rate 0.05"."""
    for value in (-1.0, 1.0, 0.5, -2.0, 0.25, 3.0):
        assert _update_names(value) == [], value


def test_a_hyper_parameter_is_named_with_its_sign_before_the_learning_rate():
    """-0.9 · the buffer with the schedule's lr 0.045 is the momentum, not "-20 × the learning rate"."""
    assert _update_names(-0.9, lr=0.045) == ["-1 × the momentum 0.9"]
    assert _update_names(0.1, "rmsprop", lr=1e-3) == ["sqrt(1 - alpha) = 0.1"]     # not 100 × the lr
    assert _update_names(-0.01, "adamw", lr=1e-3) == ["-1 × the weight decay 0.01", "-10 × the learning rate 0.001"]
    assert _update_names(-0.1) == ["-(1 - momentum = 0.1)", "-2 × the learning rate 0.05"]     # both fit


def test_a_multiple_of_the_learning_rate_is_named_only_when_the_multiplier_is_simple():
    assert _update_names(-5e-4) == ["-0.01 × the learning rate 0.05"]          # lr × a weight decay 0.01
    assert _update_names(-0.1, "sgd") == ["-2 × the learning rate 0.05"]       # a hard-coded lr 0.1
    assert _update_names(-0.05) == ["-1 × the learning rate 0.05"]
    assert _update_names(-0.0099, "momentum:form=torch,momentum=0.99", lr=0.01) == \
        ["-0.99 × the learning rate 0.01"]                                     # k: the momentum itself
    assert _update_names(0.3, lr=1e-3) == []                                    # 300 × the lr says nothing
    assert _update_names(-0.05, lr=0.045) == []                                 # nor 1.11111 × (= 1/momentum)


class RMSpropNoComplement(mo.RMSprop):
    """square_avg <- alpha square_avg + g² (the 1 - alpha forgotten)."""
    def step(self, grads):
        for name, p in self.params.items():
            g = grads[name]
            self.state[f"{name}.step"] += 1
            s = self.state[f"{name}.square_avg"]
            s *= self.alpha
            s += g * g
            p -= self.lr * g / (np.sqrt(s) + self.eps)


def test_rmsprop_without_the_complement_is_approximately_sqrt_1_minus_alpha_not_a_multiple_of_lr(tiny_data,
                                                                                                monkeypatch):
    monkeypatch.setattr(builtin, "build_optimizer", lambda config, params, side: RMSpropNoComplement(
        params, config.lr, **optimizer_args(config)[1]))
    result = run(Config(**{**SMALL, "lr": 1e-3}, optimizer="rmsprop"), tiny_data)
    findings = result.summary["diagnosis"]["findings"]
    approximate = [f for f in findings if "approximately a factor" in f]
    assert approximate and all("≈ sqrt(1 - alpha) = 0.1" in f for f in approximate), findings
    assert not any("× the learning rate" in f for f in findings), findings


class ReLUGeq(manual.ReLU):
    """ReLU's derivative 1 at z == 0 exactly (>= where torch has >)."""
    def backward(self, dh):
        return dh * (self.z >= 0)


def test_a_relu_derivative_taken_at_zero_in_a_cnn_is_located_at_the_kink(monkeypatch):
    """In a CNN the first ReLU's inputs are 0 exactly where the padding meets a zero image border; the
    slip differs only there, where the not-taken region (29% of the inputs) has a reference of 0 too."""
    monkeypatch.setattr(manual, "ReLU", ReLUGeq)
    result = run(Config(model="conv:4:3:1:1,relu,maxpool:2,conv:8:3:1:1,relu,maxpool:2,flatten,linear", epochs=1,
                        batch_size=40, lr=0.05, dtype="float64", mode="synced", fail_fast=True),
                 images(seed=1, sizes=(120, 40, 40)))
    first = result.summary["diagnosis"]["findings"][0]
    assert first.startswith("backward > relu1 (relu) > dx: differs only where the layer's input sits exactly on "
                            "the branch point (e.g. ReLU input == 0)"), first
    assert "not taken" not in first


# --- a sum carried over between steps ----------------------------------------------------------------

def test_a_value_plus_its_previous_one_is_named_before_an_operand_that_equals_the_previous_one():
    """m = r + previous. Here the previous value is also -20 x an operand (a bias that started at 0 after one
    plain step of lr 0.05): the added term fits it exactly, but the carried-over sum fits with no coefficient."""
    r, prev = RNG.standard_normal(30), RNG.standard_normal(30)
    ctx = Context(operands={"the parameter fc2.bias": -0.05 * prev}, previous=prev)
    text, exact = relations.explain(r + prev, r, 1e-12, ctx)
    assert exact and text.startswith("the manual value is the reference plus its own value at the previous step")
    ctx.previous = None      # without it, the operand is all there is
    assert relations.explain(r + prev, r, 1e-12, ctx)[0].startswith("an added term")


class AccumulatingLinear(manual.Linear):
    """Gradients never reset: each backward adds this step's to the last one's."""
    def backward(self, dz):
        last = {k: v.copy() for k, v in self.grads.items()}
        dx = super().backward(dz)
        for k, v in last.items():
            self.grads[k] += v
        return dx


def test_gradients_accumulated_across_steps_are_named_so_not_as_a_multiple_of_the_parameter(tiny_data, monkeypatch):
    """A slip hunt's student: with biases starting at 0 and v0 = 0, step 1 leaves b = -lr g1, so the bias's
    accumulated gradient at step 2 read as "manual = reference - 20·the parameter" (a weight decay)."""
    monkeypatch.setattr(manual, "Linear", AccumulatingLinear)
    result = run(Config(**SMALL, init_bias="zeros"), tiny_data)
    first, findings = result.first_failure, result.summary["diagnosis"]["findings"]
    assert (first["step"], first["quantity"]) == (2, "grad"), first
    assert findings and all("its own value at the previous step" in f for f in findings), findings
    assert not any("the parameter" in f for f in findings), findings


# --- a stage given a value the manual side does not expose -------------------------------------------------

def test_a_slip_in_an_unexposed_gradient_is_not_blamed_on_the_layer_below_it_alone():
    """relu2's mask from its input A1 instead of Z2, relu2.dx not exposed: fc2's gradients are computed from a
    recomputed (correct) relu2.dx, and differ. fc2's backward is right: the finding says the difference is in
    fc2's backward or in the unexposed value (it named fc2 alone: a slip hunt)."""
    students = "tests/students/dls_net.py"
    data = synthetic(seed=5, sizes=(120, 40, 40), task="binary")
    config = dict(batch_size=20, lr=0.05, optimizer="sgd", momentum=0.0, epochs=1, dtype="float64", mode="synced",
                  fail_fast=True)
    assert run(Config(manual=f"{students}:DlsNet", **config), data).passed
    result = run(Config(manual=f"{students}:ReluMaskFromInput", **config), data)
    findings = result.summary["diagnosis"]["findings"]
    assert result.first_failure["name"].startswith("fc2."), result.first_failure
    assert findings and all("relu2.dx is not exposed" in f and "so the difference is in fc2's backward or in what "
                            "it was given, whose manual value is not seen here" in f for f in findings), findings


def _dls(cls: str):
    return run(Config(manual=f"tests/students/dls_net.py:{cls}", batch_size=20, lr=0.05, optimizer="sgd", momentum=0.0,
                      epochs=1, dtype="float64", mode="synced", fail_fast=True),
               synthetic(seed=5, sizes=(120, 40, 40), task="binary"))


def test_an_exact_factor_behind_an_unexposed_gradient_is_not_blamed_on_the_layer_below_alone():
    """relu2's derivative 0.8: fc2's gradients are exactly 0.8 x, as fc2's backward with a 0.8 would make them
    (a slip hunt's dropout without its 1/keep_prob named fc1 alone)."""
    findings = _dls("ReluScaled").summary["diagnosis"]["findings"]
    assert findings[0].startswith("backward > fc2 (linear) > grad fc2.weight: a constant factor: manual = 0.8 × "
                                  "reference"), findings
    assert all("is in fc2's backward or in what it was given" in f for f in findings[:2]), findings


def test_a_gradient_wrong_where_its_siblings_from_the_same_inputs_pass_is_the_layers_own():
    """fc2.bias summed before relu2's mask, fc2.weight right: a wrong relu2.dx would have moved fc2.weight too,
    so neither a hypothesis about relu2 (fitted to fc2.bias alone, it was named) nor the clause applies."""
    result = _dls("BiasFromUnmasked")
    findings = result.summary["diagnosis"]["findings"]
    assert result.first_failure["name"] == "fc2.bias", result.first_failure
    assert findings[0].startswith("backward > fc2 (linear) > grad fc2.bias: differs throughout"), findings
    assert not any("relu2's backward" in f or "what it was given" in f for f in findings), findings


def test_one_output_names_no_k():
    """K = 1: a loss ratio 1.00016 was "approximately K = 1" (a slip hunt's broadcast BCE mean)."""
    names = stage_constants(20, 1, Config(), "loss")
    assert not any("K" in label for label in names) and names["1/N = 1/20"] == 0.05, names
    assert "K = 10, the number of outputs" in stage_constants(20, 10, Config(), "loss")


class MomentumDecayOutsideBuffer(mo.Momentum):
    """Torch form with the weight decay added to the step, not to the buffer: the same change, another buffer."""
    def step(self, grads):
        for name, p in self.params.items():
            key = f"{name}.momentum_buffer"
            v = self.state.setdefault(key, np.zeros_like(p))
            v *= self.momentum
            v += grads[name]
            p -= self.lr * (v + self.weight_decay * p)


def test_a_state_only_failure_names_no_update_rule(tiny_data, monkeypatch):
    """Only the buffer differs at step 1, the changes agree: every momentum form agrees with them there, and
    they were listed as "each of these reproduces every parameter's change" (a slip hunt)."""
    monkeypatch.setattr(builtin, "build_optimizer", lambda config, params, side: MomentumDecayOutsideBuffer(
        params, config.lr, **optimizer_args(config)[1]))
    result = run(Config(**SMALL, optimizer="momentum:form=torch,momentum=0.9,weight_decay=0.03"), tiny_data)
    findings = result.summary["diagnosis"]["findings"]
    assert result.first_failure["quantity"] == "state", result.first_failure
    assert findings and not any(f.startswith("update:") for f in findings), findings


def test_one_element_is_a_multiple_of_anything_so_only_a_named_or_plain_factor_is_said():
    ctx = Context(constants={"1/N": 0.05})
    assert relations.explain(np.array([0.0914301]), np.array([0.0966729]), 1e-12, ctx) == \
        ("manual 0.0914301, reference 0.0966729: rel_l2 5.42e-02", False)
    text, exact = relations.explain(np.array([0.5]), np.array([10.0]), 1e-12, ctx)
    assert exact and text == "a constant factor: manual = 0.05 × reference (= 1/N)", text
    text, exact = relations.explain(np.array([-3.0]), np.array([1.5]), 1e-12, ctx)
    assert exact and text == "a constant factor: manual = -2 × reference", text
    near_one = relations.explain(np.array([1.0005]), np.array([1.0]), 1e-12, ctx)       # plain() would say 1
    assert near_one == ("manual 1.0005, reference 1: rel_l2 5.00e-04", False), near_one
    ctx = Context(operands={"the parameter fc2.bias": np.array([0.3])}, combine=True)    # any operand fits one element
    assert relations.explain(np.array([0.0914301]), np.array([0.0966729]), 1e-12, ctx)[1] is False


def test_a_coefficient_half_the_references_is_said_so_before_a_constant_it_equals_by_coincidence():
    """Weight decay halved (g + wd/2·p) at lr 0.05, wd 0.1: the parameter's coefficient 0.0025 is lr² too; the
    ratio to the reference's own coefficient comes first (a slip hunt read it as lr² alone)."""
    g, p = RNG.standard_normal(40), RNG.standard_normal(40)
    ctx = Context(constants={"lr²": 0.0025, "lr × weight decay": 0.005}, combine=True,
                  operands={"the gradient": g, "the parameter": p})
    text, exact = relations.explain(-0.05 * g - 0.0025 * p, -0.05 * g - 0.005 * p, 1e-12, ctx)
    assert exact and "0.0025·the parameter (= 0.5 × the reference's; = -(lr²))" in text, text


class BatchNormGradsSwapped(manual.BatchNorm1d):
    """dgamma and dbeta returned under each other's names."""
    def backward(self, dy):
        dx = super().backward(dy)
        self.grads = {"weight": self.grads["bias"], "bias": self.grads["weight"]}
        return dx


def test_two_gradients_returned_under_each_others_names_are_said_to_be_swapped(tiny_data, monkeypatch):
    """Each alone only differs (the same norms, no relation to its own reference): a slip hunt's finding."""
    monkeypatch.setattr(manual, "BatchNorm1d", BatchNormGradsSwapped)
    result = run(Config(**{**SMALL, "model": "linear:32,batchnorm,relu,linear"}), tiny_data)
    findings = result.summary["diagnosis"]["findings"]
    assert findings[:2] == [
        "backward > bn1 (batchnorm) > grad bn1.weight: swapped with bn1 (batchnorm) > grad bn1.bias: the manual "
        "value of each is the other's reference (returned under each other's names)",
        "backward > bn1 (batchnorm) > grad bn1.bias: swapped with bn1 (batchnorm) > grad bn1.weight: the manual "
        "value of each is the other's reference (returned under each other's names)"], findings


class SoftplusLinear(manual.Linear):
    """A linear layer whose forward returns softplus(z): positive values, which the ReLU after it passes as they are."""
    def forward(self, x, train=True):
        return np.logaddexp(0.0, super().forward(x, train))


def test_a_value_is_not_called_the_reference_of_the_next_layer_that_passes_it_through(tiny_data, monkeypatch):
    """relu1's reference is computed from fc1's manual output: on positive values it is that output, so any wrong
    fc1.out "equals" it. Only values of the same kind in the same layer are matched (a review's finding)."""
    monkeypatch.setattr(manual, "Linear", SoftplusLinear)
    result = run(Config(**SMALL), tiny_data)
    findings = result.summary["diagnosis"]["findings"]
    assert findings[0].startswith("forward > fc1 (linear) > out: differs throughout"), findings
    assert not any("the reference's" in f for f in findings), findings


def test_a_sibling_zero_by_construction_does_not_vouch_for_the_input():
    """A bias right before a batchnorm has a gradient of ~0 whatever its incoming gradient: passing, it says nothing
    about that input, so a failing weight gradient beside it keeps the "or in what it was given" clause (a slip hunt's
    batchnorm backward, bn1.dx not exposed, lost the clause). A real bias gradient does vouch for it."""
    from types import SimpleNamespace as Ref
    from comparisons.explain.diagnosis import _informative
    weight = Ref(ref=RNG.standard_normal((32, 20)) * 1e-2)
    assert not _informative(Ref(ref=RNG.standard_normal(32) * 1e-17), weight)     # float64 rounding of a zero
    assert not _informative(Ref(ref=RNG.standard_normal(32) * 1e-9), weight)      # float32's
    assert _informative(Ref(ref=RNG.standard_normal(32) * 1e-3), weight)

"""A diagnosis names a cause only when the numbers show it, and every cause that gives the same numbers
(README, "The pass rule, and why": a wrong cause is worse than none). Each test here is a slip whose
diagnosis used to name one cause where another, or more than one, gives the same numbers."""
import numpy as np

from comparisons.explain import relations
from comparisons.explain.relations import Context

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

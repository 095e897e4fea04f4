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

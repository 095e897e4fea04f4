"""The user's own initialisation checked against a declared scheme (manual/init.py,
comparisons/check/init_check.py): correct draws pass at every seed, each slip
students make is caught and named, fans as torch computes them."""
import math

import numpy as np
import pytest
import torch

from comparisons.check.init_check import ALPHA, MIN_ELEMENTS, check_init, check_params
from comparisons import spec
from comparisons.sides.shared_init import draw as draw_init
from manual.init import SCHEMES, fans, parse_scheme

RANDOM = ["xavier_normal", "xavier_uniform", "he_normal", "he_uniform", "lecun_normal", "torch_default",
          "normal:0.01", "normal:0.1", "uniform:0.05"]
SHAPES = {"bias 10": (10,), "10x16": (10, 16), "conv 16x3x5x5": (16, 3, 5, 5), "64x784": (64, 784),
          "1000x784": (1000, 784)}


def _fans(shape):
    """The fans a check uses: a bias takes them from a (len, 16) weight."""
    return fans(shape) if len(shape) >= 2 else (16, shape[0])


def draw(scheme, shape, seed, dtype=np.float64):
    fi, fo = _fans(shape)
    return parse_scheme(scheme).draw(np.random.default_rng(seed), shape, dtype, fi, fo)


def check(x, scheme, shape=None):
    fi, fo = _fans(shape or x.shape)
    return check_init(x, scheme, fi, fo, name="w")


# ---- schemes and fans ---------------------------------------------------------------

def test_draws_are_bit_identical_to_the_original_formula():
    """The pre-scheme code: Gaussian * np.sqrt(2/(fan_in+fan_out)) in float64, rounded once; zero biases."""
    for dtype in (np.float32, np.float64):
        rng = np.random.default_rng(3)
        expected = {}
        for name, fi, fo in zip(("fc1", "fc2", "fc3"), (784, 64, 32), (64, 32, 10)):
            expected[f"{name}.weight"] = (rng.standard_normal((fo, fi)) * np.sqrt(2.0 / (fi + fo))).astype(dtype)
            expected[f"{name}.bias"] = np.zeros(fo, dtype=dtype)
        got = draw_init(spec.parse(spec.mlp((64, 32)), (784,), 10), np.random.default_rng(3), dtype)
        assert list(got) == list(expected)
        for name in got:
            assert got[name].dtype == expected[name].dtype and got[name].tobytes() == expected[name].tobytes()


def test_draws_take_other_schemes_and_draws_biases_after_their_weight():
    p = draw_init(spec.parse(spec.mlp((30,)), (20,), 5), np.random.default_rng(0), np.float64, weights="he_uniform",
                  biases="normal:0.01")
    rng = np.random.default_rng(0)
    w = rng.uniform(-np.sqrt(6 / 20), np.sqrt(6 / 20), (30, 20))
    b = rng.standard_normal(30) * 0.01
    assert np.array_equal(p["fc1.weight"], w) and np.array_equal(p["fc1.bias"], b)


def test_conv_and_linear_fans_match_torch():
    for shape in [(1000, 784), (16, 3, 5, 5), (8, 4, 3), (6, 2, 3, 3, 3)]:
        assert fans(shape) == torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    assert fans((16, 3, 5, 5)) == (75, 400)
    with pytest.raises(ValueError, match="2 or more dimensions"):
        fans((10,))


def test_parser_accepts_names_aliases_and_scales_and_refuses_the_rest():
    assert parse_scheme("Glorot_Normal") is SCHEMES["xavier_normal"]
    assert parse_scheme("kaiming_uniform") is SCHEMES["he_uniform"]
    assert parse_scheme("normal:0.01").variance() == pytest.approx(1e-4)
    assert parse_scheme("uniform:0.3").variance() == pytest.approx(0.03)
    assert parse_scheme(" zeros ").family == "constant"
    for bad in ["xavier", "normal:", "normal:-1", "uniform:nan", "normal:abc", ""]:
        with pytest.raises(ValueError, match="init scheme|positive number"):
            parse_scheme(bad)


@pytest.mark.parametrize("scheme", RANDOM)
def test_every_variance_formula(scheme):
    fi, fo = 784, 1000
    expected = {"xavier_normal": 2 / (fi + fo), "xavier_uniform": 2 / (fi + fo), "he_normal": 2 / fi,
                "he_uniform": 2 / fi, "lecun_normal": 1 / fi, "torch_default": 1 / (3 * fi),
                "normal:0.01": 1e-4, "normal:0.1": 1e-2, "uniform:0.05": 0.05 ** 2 / 3}[scheme]
    assert parse_scheme(scheme).variance(fi, fo) == pytest.approx(expected, rel=1e-12)
    x = draw(scheme, (fo, fi), 0)
    assert x.var() == pytest.approx(expected, rel=0.01)


def test_torch_own_initialisers_pass_the_matching_scheme():
    """The formulas against torch itself: nn.Linear / nn.Conv2d defaults and the nn.init functions."""
    torch.manual_seed(0)
    lin, conv = torch.nn.Linear(784, 300), torch.nn.Conv2d(16, 32, 5)
    for module in (lin, conv):
        fi, fo = fans(module.weight.shape)
        for p in (module.weight, module.bias):
            r = check_init(p.detach().numpy(), "torch_default", fi, fo)
            assert r.status == "pass", r.message
    w = torch.empty(300, 784)
    for init, scheme in [(torch.nn.init.xavier_normal_, "xavier_normal"),
                         (torch.nn.init.xavier_uniform_, "xavier_uniform"),
                         (lambda t: torch.nn.init.kaiming_normal_(t, nonlinearity="relu"), "he_normal"),
                         (lambda t: torch.nn.init.kaiming_uniform_(t, nonlinearity="relu"), "he_uniform")]:
        init(w)
        assert check_init(w.numpy(), scheme, 784, 300).status == "pass", scheme
        other = {"xavier_normal": "he_normal", "xavier_uniform": "xavier_normal",
                 "he_normal": "he_uniform", "he_uniform": "xavier_uniform"}[scheme]
        assert check_init(w.numpy(), other, 784, 300).status == "fail", (scheme, other)


# ---- correct draws pass ---------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("shape", list(SHAPES.values()), ids=list(SHAPES))
def test_correct_draws_pass_over_seeds(shape, dtype):
    seeds = range(3) if math.prod(shape) > 100_000 else range(40)
    for scheme in RANDOM:
        for seed in seeds:
            r = check(draw(scheme, shape, seed, dtype), scheme, shape)
            assert r.status == "pass", (scheme, seed, r.message)
            assert r.expected_variance == parse_scheme(scheme).variance(*_fans(shape))


def test_user_layout_does_not_matter_and_the_passing_message_gives_the_numbers():
    x = draw("xavier_normal", (1000, 784), 1)
    r = check_init(x.T, "xavier_normal", 784, 1000)      # stored (in, out), as many students do
    assert r.status == "pass" and r.passed
    assert r.message.startswith("looks drawn from xavier_normal: mean")
    assert "2/(fan_in+fan_out) = 1.12e-03" in r.message
    assert r.variance == pytest.approx(2 / 1784, rel=0.01) and r.kurtosis == pytest.approx(3, abs=0.05)
    assert r.expected_kurtosis == 3 and r.expected_mean == 0
    assert {t.name for t in r.tests} == {"constant", "mean", "variance", "shape"}
    assert all(t.p >= ALPHA for t in r.tests)


@pytest.mark.parametrize("value, scheme", [(0.0, "zeros"), (1.0, "ones")])
def test_constants_are_checked_exactly_at_any_size(value, scheme):
    for dtype in (np.float32, np.float64):
        for n in (1, 3, 1000):
            assert check_init(np.full(n, value, dtype), scheme).status == "pass"
            off = np.full(n, value, dtype)
            off[-1] = np.nextafter(dtype(value), dtype(2))           # one element one ulp off
            r = check_init(off, scheme)
            assert r.status == "fail" and r.tests[0].name == "exact", r.message


def test_small_arrays_are_untestable_never_failed():
    for n in range(1, MIN_ELEMENTS):
        r = check_init(np.full(n, 5.0), "normal:0.01")
        assert r.status == "untestable" and r.passed and "too few" in r.message
    assert check_init(np.zeros((0, 3)), "he_normal", 3, 4).status == "untestable"
    assert check_init(np.full(MIN_ELEMENTS, 5.0), "normal:0.01").status == "fail"


def test_uniform_support_allows_rounding_to_the_dtype_and_nothing_more():
    """float32(A) can exceed A (here sqrt(6/20) rounds up): a draw just below A rounds onto it, and
    over a 784,000-element float32 array that happens with probability ~2%, so it must pass."""
    a = np.sqrt(6 / 20)
    assert float(np.float32(a)) > a
    x = draw("xavier_uniform", (10, 10), 0, np.float32)
    x[0, 0] = np.float32(a)
    assert check_init(x, "xavier_uniform", 10, 10).status == "pass"
    x[0, 0] = a * (1 + 1e-5)                                     # ~80 float32 ulps beyond: not rounding
    r = check_init(x, "xavier_uniform", 10, 10)
    assert r.status == "fail" and [t.name for t in r.tests if not t.passed] == ["support"]


# ---- slips are caught and named ---------------------------------------------------------

def test_xavier_with_fan_in_only():
    rng = np.random.default_rng(0)
    for fi, fo in [(784, 1000), (1000, 10)]:
        x = rng.standard_normal((fo, fi)) / np.sqrt(fi)
        r = check_init(x, "xavier_normal", fi, fo)
        assert r.status == "fail" and not r.passed
        assert r.message.startswith("variance 1/fan_in"), r.message
        assert "xavier_normal expects 2/(fan_in+fan_out)" in r.message
        assert "lecun_normal" in r.message
    r = check_init(np.random.default_rng(0).standard_normal((1000, 784)) / np.sqrt(784), "xavier_normal",
                   784, 1000)
    assert r.message.startswith(f"variance 1/fan_in ({r.variance:.2e}), xavier_normal expects "
                                f"2/(fan_in+fan_out) (1.12e-03)")


def test_he_where_xavier_is_declared_and_vice_versa():
    r = check(draw("he_normal", (1000, 784), 0), "xavier_normal")
    assert r.status == "fail" and r.message.startswith("variance 2/fan_in (") and "he_normal" in r.message
    r = check(draw("xavier_normal", (1000, 784), 0), "he_normal")
    assert r.status == "fail" and r.message.startswith("variance 2/(fan_in+fan_out) (")
    assert "he_normal expects 2/fan_in" in r.message and "xavier_normal" in r.message.split(";")[-1]
    r = check(draw("he_uniform", (64, 784), 0), "xavier_uniform")
    assert r.status == "fail" and r.message.startswith("variance 2/fan_in (") and "he_uniform" in r.message


def test_uniform_where_normal_is_declared_and_vice_versa():
    for shape in [(1000, 784), (64, 784), (16, 3, 5, 5)]:
        r = check(draw("xavier_uniform", shape, 0), "xavier_normal")
        assert r.status == "fail" and r.message.startswith("kurtosis 1.8"), r.message
        assert "0 of" in r.message and "xavier_uniform" in r.message
        assert {t.name for t in r.tests if not t.passed} == {"shape"}
        r = check(draw("xavier_normal", shape, 0), "xavier_uniform")
        assert r.status == "fail" and "beyond the bound" in r.message and "xavier_normal" in r.message
        assert {t.name for t in r.tests if not t.passed} == {"support"}


def test_wrong_scale():
    r = check(draw("normal:0.1", (64, 784), 0), "normal:0.01")
    assert r.status == "fail" and r.message.startswith("variance 0.1^2 (1.00e-02), normal:0.01 expects 0.01^2")
    r = check(draw("normal:0.01", (64, 784), 0), "normal:0.1")
    assert r.status == "fail" and r.message.startswith("variance 0.01^2")
    r = check(np.random.default_rng(0).standard_normal((64, 784)), "normal:0.01")   # plain randn
    assert r.status == "fail" and r.message.startswith("variance 1 (")


def test_variance_set_as_the_standard_deviation():
    """A forgotten square root: randn * 2/(fan_in+fan_out)."""
    x = np.random.default_rng(0).standard_normal((1000, 784)) * (2 / 1784)
    r = check(x, "xavier_normal")
    assert r.status == "fail" and r.message.startswith("variance (2/(fan_in+fan_out))^2 (")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gaussian_or_constant_biases_where_zeros_are_declared(dtype):
    b = (np.random.default_rng(0).standard_normal(1000) * 0.01).astype(dtype)
    r = check_init(b, "zeros", 784, 1000)
    assert r.status == "fail" and "variance about its mean 0.01^2" in r.message and "normal:0.01" in r.message
    r = check_init(np.full(1000, 0.1, dtype), "zeros")
    assert r.status == "fail" and r.message.startswith("all 1000 elements equal 0.1; zeros expects 0")
    r = check_init(np.zeros(10, dtype), "ones")                       # a norm layer's gamma left at 0
    assert r.status == "fail" and r.message.startswith("all 10 elements equal 0; ones expects 1")


def test_all_zero_and_constant_weights():
    r = check(np.zeros((1000, 784), np.float32), "he_normal")
    assert r.status == "fail" and "all 784000 elements equal 0" in r.message and "symmetry" in r.message
    r = check(np.full((10, 16), 0.01), "normal:0.01")     # right mean square, no randomness at all
    assert r.status == "fail" and r.message.startswith("all 160 elements equal 0.01")
    assert "constant" in [t.name for t in r.tests if not t.passed]


def test_fans_swapped_where_it_matters_and_not_where_it_does_not():
    rng = np.random.default_rng(0)
    fi, fo = 784, 1000
    x = rng.standard_normal((fo, fi)) * np.sqrt(2 / fo)           # He with the (in, out) shape misread
    r = check_init(x, "he_normal", fi, fo)
    assert r.status == "fail" and r.message.startswith("variance 2/fan_out (2.00e-03), he_normal expects 2/fan_in")
    x = rng.uniform(-1, 1, (fo, fi)) / np.sqrt(fo)                 # torch_default with fan_out
    r = check_init(x, "torch_default", fi, fo)
    assert r.status == "fail" and r.message.startswith("variance 1/(3 fan_out)")
    x = rng.standard_normal((fi, fo)) * np.sqrt(2 / (fi + fo))    # Xavier is symmetric in the fans
    assert check_init(x, "xavier_normal", fi, fo).status == "pass"


def test_rand_instead_of_randn_is_a_wrong_mean():
    x = np.random.default_rng(0).random((64, 784)) * np.sqrt(2 / 784)
    r = check(x, "he_normal")
    assert r.status == "fail" and r.message.startswith("mean ")
    assert "he_normal expects 0" in r.message and "variance about its mean" in r.message


def test_a_wrong_scale_is_not_reported_as_a_wrong_mean():
    """The mean test is normalised by the observed spread: a 100x scale moves only the variance test."""
    r = check(draw("normal:1", (1000, 784), 5), "normal:0.01")
    assert [t.name for t in r.tests if not t.passed] == ["variance"]


def test_unnamed_variance_gives_numbers_only():
    x = np.random.default_rng(0).standard_normal((1000, 784)) * 0.0437
    r = check(x, "xavier_normal")
    assert r.status == "fail"
    assert r.message.startswith("variance 1.91e-03 (1.71x the expected), xavier_normal expects"), r.message


def test_too_small_to_tell_lists_candidates_or_numbers_never_one_false_name():
    """10x16: a 1/fan_in draw cannot be told from Xavier (ratio 0.81, sampling sd 11%): it passes.
    Plain randn is caught, but 160 draws cannot tell variance 1 from 6/fan_out = 0.6: both are named."""
    x = np.random.default_rng(0).standard_normal((10, 16)) / np.sqrt(16)
    assert check(x, "xavier_normal").status == "pass"
    r = check(np.random.default_rng(0).standard_normal((10, 16)), "xavier_normal")
    assert r.status == "fail" and r.message.startswith("variance 6/fan_out or 1 (9.31e-01)"), r.message
    # 10 elements at 16x the variance: caught, but 7 known formulas fit, so no name at all
    r = check_init(1.5 * np.random.default_rng(0).standard_normal(10), "xavier_normal", 16, 10)
    assert r.status == "fail" and r.message.startswith("variance 1.25e+00 (16.3x the expected)"), r.message


def test_non_finite_and_non_numeric_fail_with_one_line():
    x = draw("he_normal", (10, 16), 0)
    x[3, 4] = np.nan
    r = check(x, "he_normal")
    assert r.status == "fail" and r.message == "1 of 160 elements are NaN or inf"
    assert check_init(np.array(["a"] * 10), "zeros").status == "fail"
    with pytest.raises(ValueError, match="he_normal needs positive fan_in and fan_out"):
        check_init(x, "he_normal")


def test_check_params_over_a_model():
    shapes = {"conv.weight": (16, 3, 5, 5), "conv.bias": (16,), "norm.weight": (16,), "norm.bias": (16,),
              "hidden.weight": (64, 400), "hidden.bias": (64,)}
    rng = np.random.default_rng(0)
    user = {"conv.weight": rng.standard_normal((16, 3, 5, 5)) * np.sqrt(2 / 75),
            "conv.bias": np.zeros(16), "norm.weight": np.ones(16), "norm.bias": np.zeros(16),
            "hidden.weight": rng.standard_normal((400, 64)) * np.sqrt(2 / 400),    # stored (in, out)
            "hidden.bias": np.zeros(64)}
    results = check_params(user, shapes, weights="he_normal")
    assert [r.name for r in results] == list(user)
    assert all(r.status == "pass" for r in results), [r.message for r in results]
    assert results[0].fan_in == 75 and results[0].fan_out == 400
    user["conv.weight"] = rng.standard_normal((16, 3, 5, 5)) * np.sqrt(2 / 3)     # fan_in = channels only
    r = check_params(user, shapes, weights="he_normal")[0]
    assert r.status == "fail" and r.message.startswith("variance 6.36e-01 (23.9x the expected), he_normal expects "
                                                       "2/fan_in (2.67e-02)"), r.message
    tb = check_params({"conv.bias": rng.uniform(-1, 1, 16) / np.sqrt(75)}, shapes, biases="torch_default")[0]
    assert tb.status == "pass" and tb.fan_in == 75
    lone = check_params({"norm.weight": np.ones(16)}, shapes, gammas="he_normal")[0]
    assert lone.status == "untestable" and "no 2-D weight" in lone.message


# ---- the measurement behind ALPHA --------------------------------------------------------

GRID_SEEDS = 2000


@pytest.mark.slow
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("shape", list(SHAPES.values()), ids=list(SHAPES))
def test_false_alarm_grid(shape, dtype):
    """>= 2000 seeds per scheme and shape: no correct draw fails; prints each test's smallest p
    (the margin above ALPHA = 1e-9; the numbers are recorded in init_check.py)."""
    for i, scheme in enumerate(RANDOM):
        smallest = {}
        for seed in range(10_000 + i * GRID_SEEDS, 10_000 + (i + 1) * GRID_SEEDS):   # new draws per scheme
            r = check(draw(scheme, shape, seed, dtype), scheme, shape)
            assert r.status == "pass", (scheme, seed, r.message)
            for t in r.tests:
                smallest[t.name] = min(smallest.get(t.name, 1.0), t.p)
        print(f"\n{scheme:14s} {shape} {np.dtype(dtype).name}: smallest p " +
              " ".join(f"{k} {v:.1e}" for k, v in smallest.items()))

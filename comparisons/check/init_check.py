"""Does the user's own initialisation look drawn from the scheme the config declares?

lockstep overwrites the user's arrays with one shared initialisation, so an
init slip (Xavier with fan_in only, Gaussian biases, a wrong scale) would never
show. The lead records each user array before that overwrite and asks here.

How the lead calls it::

    from comparisons.check.init_check import check_init, check_params
    r = check_init(user_array, "xavier_normal", fan_in=784, fan_out=1000, name="hidden.weight")
    r.status     # "pass" | "fail" | "untestable"   (r.passed is False only for "fail")
    r.message    # one line, e.g. "variance 1/fan_in (1.28e-03), xavier_normal expects
                 #  2/(fan_in+fan_out) (1.12e-03); consistent with lecun_normal"
    r.mean, r.variance, r.kurtosis                       # observed
    r.expected_mean, r.expected_variance, r.expected_kurtosis
    r.tests      # (Outcome(name, statistic, p, passed), ...): which test decided
    # or, for a whole model: user arrays by torch name, torch shapes by name
    checks = check_params(user, {n: p.shape for n, p in torch_params.items()},
                          weights="he_normal", biases="zeros")

``user_array`` may be in the user's own layout ((in, out) or (out, in)): only its
values are used; the fans come from the caller, who knows the torch shape
(``manual.init.fans(shape)`` computes them as torch does). A scheme is a
``manual.init.Scheme`` or its config string ("he_uniform", "normal:0.01", "zeros").
A bad scheme string or a missing fan raises ValueError with one line.

The tests (each decides at ALPHA = 1e-9; an Outcome's p is an upper bound on the
chance that an array truly drawn from the declared scheme deviates this much):

- constant: all elements equal. A continuous draw never does this (p = 0 or 1).
- mean: the self-normalised z = sum(x) / sqrt(sum(x^2)); p <= 2 exp(-z^2 / 2), an
  exact bound for any distribution symmetric about 0 (normal and uniform are;
  condition on the |x_i| and Hoeffding's inequality for their random signs
  gives it). Normalised by the observed spread, not the declared one, so a wrong
  scale is reported by the variance test, not as a wrong mean. Fails when |z| > 6.55.
- variance: q = mean(x^2) / sigma^2, the mean square about the declared mean 0
  (reported as ``variance``); p <= 2 exp(-n/2 (q - 1 - ln q)), the Chernoff bound
  of chi-square(n) / n, exact for a normal draw. It also holds for a uniform draw:
  3 U^2 (U uniform on [0, 1]) and chi-square(1) have mean 1 and their densities
  differ in sign pattern -, +, - (ratio 0.72 e^(y/2) on [0, 3], 0 beyond), so 3 U^2
  is smaller in convex order (Karlin-Novikoff) and its moment generating function
  is below chi-square(1)'s everywhere. At n = 784,000 it rejects variances off by
  more than 1.05%; at n = 160 (10 x 16) only factors below 0.43x or above 1.92x.
- shape, normal declared: too few elements in the tails. A normal draw puts
  P_TAIL = 7.19% of its elements beyond TAIL = 1.8 declared standard deviations,
  a uniform draw of the same variance none (its edge is at sqrt(3) = 1.732;
  one of variance up to 1.08x still puts none there). The count k is
  Binomial(n, P_TAIL) under the declared scheme; p <= exp(-n KL(k/n || P_TAIL)),
  the exact Chernoff bound of its lower tail. An all-inside array fails from
  n = 278 on (0.928^n < 1e-9). Only the lower tail is tested: a larger count means
  a larger variance, which the variance test judges. The observed kurtosis is
  reported alongside (normal 3, uniform 1.8). Chosen over a kurtosis z-score:
  Anscombe & Glynn's transform of the kurtosis (D'Agostino's test) was measured
  to have tails 2x-17x heavier than normal at |z| 4-5 for n = 100-1000 (2e6,
  1e6, 4e5 normal arrays; at n = 100 one array in 2e6 reached z = -6.18), so it
  cannot carry a 1e-9 significance.
- shape, uniform declared: the support. A draw from U(-A, A) never exceeds A
  (allowing 8 ulps of the array's dtype for rounding); a normal draw of the same
  variance exceeds it with probability 8.3% per element. p is 0 or 1.
- constant declared (zeros, ones): every element must equal it exactly.

Arrays of fewer than MIN_ELEMENTS elements are "untestable" for random schemes,
never failed. Measurements behind the thresholds: see MEASURED below and
tests/test_init_check.py::test_false_alarm_grid (marked slow).
"""
import math
from dataclasses import dataclass

import numpy as np

from manual.init import SCHEMES, Scheme, fans, parse_scheme

ALPHA = 1e-9
MIN_ELEMENTS = 8      # at n = 8 the variance test rejects only q > 8.5 or q < 0.0017; below, nothing useful is left
TAIL = 1.8
P_TAIL = math.erfc(TAIL / math.sqrt(2.0))   # 0.0719: P(|x| > 1.8 sigma) for a normal draw
SUPPORT_ULPS = 8
# MEASURED (tests/test_init_check.py::test_false_alarm_grid, -m slow, 42 min on 2 shared cores):
# 9 random schemes (xavier/he normal and uniform, lecun_normal, torch_default, normal:0.01,
# normal:0.1, uniform:0.05) x 5 shapes (bias 10, 10x16, conv 16x3x5x5, 64x784, 1000x784) x
# float32 and float64 x 2000 seeds each = 180,000 correct arrays: 0 failed. Smallest p seen per
# test: mean 2.5e-05, variance 1.0e-04, shape 6.9e-04 (the bounds are conservative: the smallest
# true p among 180,000 draws would be ~5e-6); support and constant never fired. ALPHA = 1e-9 sits
# more than four decades below every p a correct init produced, and the bounds make it hold at
# every n, not just the sizes measured.


@dataclass(frozen=True)
class Outcome:
    name: str          # "mean" | "variance" | "shape" | "support" | "exact"
    statistic: float   # mean, variance: a z-score; shape: fraction beyond TAIL sigma;
                       # constant, support, exact: 1.0 if it happened
    p: float           # upper bound on the chance of this deviation under the declared scheme
    passed: bool


@dataclass(frozen=True)
class InitCheck:
    name: str
    scheme: str
    fan_in: int | None
    fan_out: int | None
    n: int
    status: str                  # "pass" | "fail" | "untestable"
    mean: float
    variance: float              # mean of x^2: the spread about the declared mean 0
    kurtosis: float              # sample kurtosis about the sample mean (normal 3, uniform 1.8)
    expected_mean: float
    expected_variance: float
    expected_kurtosis: float     # NaN for a constant scheme
    tests: tuple[Outcome, ...]
    message: str

    @property
    def passed(self) -> bool:
        """False only when a test failed: an untestable array is not a failure."""
        return self.status != "fail"


@dataclass(frozen=True, eq=False)
class _Sample:
    """What the tests need, taken once, so each candidate scheme costs little."""
    n: int
    mean: float
    square: float        # mean(x^2)
    kurtosis: float      # m4 / m2^2 about the sample mean; NaN when all elements are equal
    lo: float
    hi: float
    ulp: float           # spacing of the array's dtype at 1 (float64's for integer input)
    abs_x: np.ndarray    # |x| as float64

    @property
    def max_abs(self) -> float:
        return max(-self.lo, self.hi)

    def beyond(self, t: float) -> int:
        """How many elements have |x| > t."""
        return int(np.count_nonzero(self.abs_x > t))


def _sample(values) -> _Sample:
    a = np.asarray(values)
    ulp = float(np.finfo(a.dtype if np.issubdtype(a.dtype, np.floating) else np.float64).eps)
    x = a.astype(np.float64).ravel()
    n = x.size
    mean = float(x.mean())
    c = x - mean
    m2 = float(np.dot(c, c)) / n
    c *= c
    m4 = float(np.dot(c, c)) / n
    kurtosis = m4 / (m2 * m2) if m2 > 0 else math.nan
    return _Sample(n, mean, float(np.dot(x, x)) / n, kurtosis, float(x.min()), float(x.max()), ulp, np.abs(x))


def _chernoff_variance_p(n: int, q: float) -> float:
    """Upper bound on P(|chi2(n)/n - 1| >= |q - 1|): 2 exp(-n/2 (q - 1 - ln q))."""
    if q <= 0:
        return 0.0
    return min(1.0, 2.0 * math.exp(-0.5 * n * (q - 1.0 - math.log(q))))


def _binomial_low_p(k: int, n: int, p: float) -> float:
    """Upper bound on P(Binomial(n, p) <= k): exp(-n KL(k/n || p)) when k/n < p, else 1."""
    a = k / n
    if a >= p:
        return 1.0
    kl = (a * math.log(a / p) if a > 0 else 0.0) + (1.0 - a) * math.log((1.0 - a) / (1.0 - p))
    return math.exp(-n * kl)


def _tests(m: _Sample, scheme: Scheme, fan_in, fan_out) -> tuple[Outcome, ...]:
    """The declared scheme's tests on precomputed moments (fans already validated)."""
    spread = float(scheme.spread(fan_in, fan_out))
    if scheme.family == "constant":
        exact = m.lo == spread == m.hi
        return (Outcome("exact", 0.0 if exact else 1.0, 1.0 if exact else 0.0, exact),)
    same = m.lo == m.hi
    var = scheme.variance(fan_in, fan_out)
    z_mean = m.mean * math.sqrt(m.n / m.square) if m.square > 0 else 0.0
    p_mean = min(1.0, 2.0 * math.exp(-0.5 * z_mean * z_mean))
    q = m.square / var
    kappa = 3.0 if scheme.family == "normal" else 1.8
    z_var = (q - 1.0) / math.sqrt((kappa - 1.0) / m.n)
    p_var = _chernoff_variance_p(m.n, q)
    tests = [Outcome("constant", float(same), 0.0 if same else 1.0, not same),
             Outcome("mean", z_mean, p_mean, p_mean >= ALPHA), Outcome("variance", z_var, p_var, p_var >= ALPHA)]
    if scheme.family == "uniform":
        outside = m.max_abs > spread * (1.0 + SUPPORT_ULPS * m.ulp)
        tests.append(Outcome("support", float(outside), 0.0 if outside else 1.0, not outside))
    else:
        k = m.beyond(TAIL * math.sqrt(var))
        p = _binomial_low_p(k, m.n, P_TAIL)
        tests.append(Outcome("shape", k / m.n, p, p >= ALPHA))
    return tuple(tests)


def _formulas(fan_in, fan_out) -> list[tuple[str, float]]:
    """Variances that initialisations (right and wrong) produce, in words."""
    out = []
    if fan_in and fan_out:
        fi, fo, s = fan_in, fan_out, fan_in + fan_out
        out += [("1/fan_in", 1 / fi), ("2/fan_in", 2 / fi), ("1/fan_out", 1 / fo), ("2/fan_out", 2 / fo),
                ("1/(fan_in+fan_out)", 1 / s), ("2/(fan_in+fan_out)", 2 / s), ("6/(fan_in+fan_out)", 6 / s),
                ("6/fan_in", 6 / fi), ("6/fan_out", 6 / fo), ("2/(3(fan_in+fan_out))", 2 / (3 * s)),
                ("2/(3 fan_in)", 2 / (3 * fi)), ("1/(3 fan_in)", 1 / (3 * fi)), ("1/(3 fan_out)", 1 / (3 * fo)),
                ("(2/(fan_in+fan_out))^2", (2 / s) ** 2), ("(2/fan_in)^2", (2 / fi) ** 2),
                ("(1/fan_in)^2", 1 / fi ** 2)]
    out += [("1", 1.0), ("0.1^2", 1e-2), ("0.01^2", 1e-4), ("0.001^2", 1e-6), ("1/3", 1 / 3), ("1/12", 1 / 12)]
    return out


def _name_variance(n: int, v: float, fan_in, fan_out) -> str | None:
    """The formula(s) the observed variance is consistent with (at ALPHA), or None when none
    is, or when more than three distinct values are (the array is too small to tell)."""
    groups: dict[float, list[str]] = {}
    for words, value in _formulas(fan_in, fan_out):
        if _chernoff_variance_p(n, v / value) >= ALPHA:
            key = next((k for k in groups if math.isclose(k, value, rel_tol=1e-12)), value)
            groups.setdefault(key, []).append(words)
    if not groups or len(groups) > 3:
        return None
    return " or ".join(" = ".join(names) for names in groups.values())


def _consistent_schemes(m: _Sample, declared: Scheme, fan_in, fan_out) -> list[str]:
    """Other named schemes every test of which passes on this array."""
    names = [s for s in SCHEMES.values() if fan_in and fan_out or not s.uses_fans]
    names += [parse_scheme(f"normal:{s}") for s in (1, 0.1, 0.01, 0.001)]
    return [s.name for s in names if s != declared and all(t.passed for t in _tests(m, s, fan_in, fan_out))]


def _g(x: float) -> str:
    return f"{x:.3g}" if 1e-2 <= abs(x) < 1e4 or x == 0 else f"{x:.2e}"


def _e(variance: float) -> str:
    return f"{variance:.2e}"


def _message(m: _Sample, scheme: Scheme, fan_in, fan_out, tests) -> str:
    declared = scheme.name
    failed = {t.name: t for t in tests if not t.passed}
    if not failed:
        if scheme.family == "constant":
            return f"all {m.n} elements equal {_g(scheme.spread(0, 0))}, as {declared} declares"
        var = scheme.variance(fan_in, fan_out)
        return (f"looks drawn from {declared}: mean {_g(m.mean)}, variance {_e(m.square)} "
                f"(expected {scheme.formula} = {_e(var)}), kurtosis {_g(m.kurtosis)}")
    if m.lo == m.hi:
        what = f"all {m.n} elements equal {_g(m.lo)}"
        if m.lo == 0 and scheme.family != "constant":
            what += " (every unit starts the same, so symmetry is never broken)"
        return f"{what}; {declared} expects " + (
            _g(scheme.spread(0, 0)) if scheme.family == "constant" else
            f"a random draw of variance {scheme.formula} = {_e(scheme.variance(fan_in, fan_out))}")
    if scheme.family == "constant":
        part = (f"elements are not all {_g(scheme.spread(0, 0))} as {declared} declares: mean {_g(m.mean)}, "
                f"range [{_g(m.lo)}, {_g(m.hi)}], " + _describe_spread(m, fan_in, fan_out))
        return _with_consistent(part, m, scheme, fan_in, fan_out)
    var = scheme.variance(fan_in, fan_out)
    expects = f"{declared} expects {scheme.formula} ({_e(var)})"
    # Reported in order, each only when the ones before passed: a wrong mean also moves the
    # mean square, and a wrong variance also moves the tail count and the support.
    if "mean" in failed:
        se = math.sqrt(max(m.square - m.mean * m.mean, 0.0) / m.n)
        part = (f"mean {_g(m.mean)} (standard error {_g(se)}), {declared} expects 0; "
                f"{_describe_spread(m, fan_in, fan_out)}, {expects}")
    elif "variance" in failed:
        named = _name_variance(m.n, m.square, fan_in, fan_out)
        seen = f"variance {named} ({_e(m.square)})" if named else \
            f"variance {_e(m.square)} ({m.square / var:.3g}x the expected)"
        part = f"{seen}, {expects}"
    elif "shape" in failed:
        k = round(failed["shape"].statistic * m.n)
        part = (f"kurtosis {m.kurtosis:.3g} (a normal draw has 3, a uniform one 1.8): {k} of {m.n} elements "
                f"({k / m.n:.2%}) lie beyond {TAIL} standard deviations of {declared}, "
                f"a normal draw puts {P_TAIL:.2%} there")
    else:
        bound = float(scheme.spread(fan_in, fan_out))
        part = (f"largest |x| {_g(m.max_abs)} is beyond the bound {_g(bound)} of {declared}'s uniform draw "
                f"(kurtosis {m.kurtosis:.3g}: a normal draw has 3, a uniform one 1.8)")
    return _with_consistent(part, m, scheme, fan_in, fan_out)


def _with_consistent(part: str, m: _Sample, scheme: Scheme, fan_in, fan_out) -> str:
    others = _consistent_schemes(m, scheme, fan_in, fan_out)
    return f"{part}; consistent with {' or '.join(others)}" if 0 < len(others) <= 3 else part


def _describe_spread(m: _Sample, fan_in, fan_out) -> str:
    """The spread about the array's own mean, named when a known formula fits."""
    v = m.square - m.mean * m.mean
    if v <= 0:
        return "no spread"
    named = _name_variance(m.n, v, fan_in, fan_out)
    return f"variance about its mean {named} ({_e(v)})" if named else f"variance about its mean {_e(v)}"


def check_init(values, scheme, fan_in: int | None = None, fan_out: int | None = None,
               name: str = "") -> InitCheck:
    """Check one user array against a declared scheme; see the module docstring."""
    scheme = parse_scheme(scheme)
    if scheme.uses_fans and not (fan_in and fan_out and fan_in > 0 and fan_out > 0):
        raise ValueError(f"{name or 'init check'}: {scheme.name} needs positive fan_in and fan_out, "
                         f"got {fan_in} and {fan_out}")
    a = np.asarray(values)
    fi = int(fan_in) if fan_in else None
    fo = int(fan_out) if fan_out else None
    expected_var = scheme.variance(fi or 0, fo or 0)
    expected_mean = float(scheme.spread(fi or 0, fo or 0)) if scheme.family == "constant" else 0.0
    expected_kurt = {"normal": 3.0, "uniform": 1.8}.get(scheme.family, math.nan)

    def result(status, m, tests, message):
        return InitCheck(name, scheme.name, fi, fo, a.size, status,
                         m.mean if m else math.nan, m.square if m else math.nan, m.kurtosis if m else math.nan,
                         expected_mean, expected_var, expected_kurt, tuple(tests), message)

    if a.size == 0:
        return result("untestable", None, (), "empty array: nothing to test")
    if not np.issubdtype(a.dtype, np.number) or np.iscomplexobj(a):
        return result("fail", None, (), f"dtype {a.dtype} is not a real number type")
    finite = np.isfinite(a)
    if not finite.all():
        return result("fail", None, (), f"{a.size - int(finite.sum())} of {a.size} elements are NaN or inf")
    m = _sample(a)
    if scheme.family != "constant" and m.n < MIN_ELEMENTS:
        return result("untestable", m, (), f"{m.n} elements: too few to test a random init "
                                           f"(at least {MIN_ELEMENTS})")
    tests = _tests(m, scheme, fi, fo)
    status = "pass" if all(t.passed for t in tests) else "fail"
    return result(status, m, tests, _message(m, scheme, fi, fo, tests))


def check_params(user: dict, shapes: dict, weights="xavier_normal", biases="zeros",
                 gammas="ones") -> list[InitCheck]:
    """Check every user array (by torch name) against the declared schemes.

    ``shapes`` maps torch names to torch-layout shapes, from which the fans come.
    A ``*.bias`` takes ``biases`` with its layer's weight's fans (torch_default
    needs them); a weight of 2 or more dimensions takes ``weights``; a 1-D
    weight (a norm layer's gamma) takes ``gammas``.
    """
    out = []
    for name, values in user.items():
        prefix, _, kind = name.rpartition(".")
        if name not in shapes:
            raise ValueError(f"init check: no torch shape for {name!r}")
        shape = tuple(shapes[name])
        bias = kind == "bias" or kind.startswith("bias_")       # bias_ih_l0 (rnn, lstm): weight_ih_l0's fans
        weight_shape = tuple(shapes.get(f"{prefix}.weight{kind[4:]}", ())) if bias else shape
        if bias:
            scheme = parse_scheme(biases)
        elif len(shape) >= 2:
            scheme = parse_scheme(weights)
        else:
            scheme = parse_scheme(gammas)
        fi, fo = fans(weight_shape) if len(weight_shape) >= 2 else (None, None)
        if scheme.uses_fans and fi is None:
            out.append(InitCheck(name, scheme.name, None, None, int(np.size(values)), "untestable",
                                 math.nan, math.nan, math.nan, 0.0, math.nan, math.nan, (),
                                 f"{scheme.name} needs fans, and {name} has no 2-D weight to take them from"))
            continue
        out.append(check_init(values, scheme, fi, fo, name))
    return out

"""The run configuration: one frozen dataclass; the CLI maps a flag onto each field."""
import math
import typing
from dataclasses import asdict, dataclass, fields

from comparisons.errors import InputError, setting

DTYPES = ("float32", "float64")
REDUCTIONS = ("mean", "sum")
MODES = ("free", "synced")
QUANTITIES = ("loss", "out", "dx", "grad", "update", "state", "buffer")   # --tol overrides
REG_CONVENTIONS = ("cs231n", "dls", "nnfs", "torch")   # manual/conventions.py REG
CHOICES = {"reduction": REDUCTIONS, "dtype": DTYPES, "mode": MODES,    # string fields with a fixed set of values
           "reg_convention": REG_CONVENTIONS}

# Integer ranges. Each bound is far beyond any real use; it exists so that no integer reaches
# NumPy, pandas or a JSON reader outside the int64 (and JSON's exact 2**53) range.
MAX_SEED = 2**63 - 1        # numpy's default_rng takes any int >= 0 (a negative one raises ValueError);
                            # the cap keeps summary.json's seed an int64 for pandas and other readers
MAX_EPOCHS = 1_000_000      # the assignment's 200 full-batch epochs take 1.5 min here (README): 10**6 would
                            # take ~5 days; with <= 342k training samples (the loaders' file bound) the step
                            # count stays < 2**53
MAX_BATCH_SIZE = 2**31 - 1  # any batch >= the training split is the full batch; this only bounds the integer
MAX_WIDTH = 2**31 - 1       # a hidden width becomes an array dimension; the memory a config needs refuses far
                            # smaller widths on a real machine, this only keeps the integer a C int


@dataclass(frozen=True)
class Config:
    model: str = ""                     # layer spec, e.g. linear:100,relu,linear (README "Models"); "" = the MLP of hidden
    hidden: tuple[int, ...] = (1000,)   # hidden widths of the default MLP; with 784 inputs, 10 classes: 784-1000-10
    loss: str = "cross_entropy"         # the loss on the network's output (README "Models")
    init: str = "xavier_normal"         # the weights' initialisation scheme, shared by both sides and expected
                                        # of a bring-your-own class (manual/init.py: he_normal, normal:0.01, ...)
    init_bias: str = "zeros"            # the biases' scheme
    reg: str = ""                       # regularisation: "" none, l2:LAMBDA or l1:LAMBDA (README "Models"); a
                                        # --manual class computes it itself: this tells the torch side
    reg_convention: str = "torch"       # the penalty's form: cs231n | dls | nnfs | torch (manual/conventions.py)
    epochs: int = 10                    # passes over the training split
    batch_size: int = 100               # samples per step; 0 = the whole training split (full batch)
    lr: float = 0.01                    # alpha in v <- gamma v + alpha g (torch's lr)
    momentum: float = 0.9               # gamma (torch's momentum); the assignment uses 0.99
    init_velocity: float = 0.0          # every velocity element before step 1; the assignment uses 1e-5
    optimizer: str = ""                 # NAME[:k=v,...], e.g. adam:beta1=0.9,eps=1e-8 (registry OPTIMIZERS, README
                                        # "Optimizers"); "" = the assignment's momentum from lr, momentum, init_velocity
    lr_schedule: str = ""               # step:step_size=N,gamma=G | exp:gamma=G | nnfs:decay=D, t counted in optimizer
                                        # steps (registry SCHEDULES, README "Learning-rate schedules"); "" = constant lr
    reduction: str = "mean"             # training loss over the batch: mean, or sum (the assignment's gradient)
    dtype: str = "float32"              # float32 | float64, both sides
    seed: int = 0                       # seeds the initial weights and the per-epoch batch order
    mode: str = "free"                  # free: both sides evolve alone; synced: torch reset to manual after each step
    data: str = "builtin"               # builtin (generated, no download), or a notMNIST .npz / IDX file or directory
    manual: str = "builtin"             # the manual side: builtin (manual/), seed (the assignment's code), or pkg.module:Class
    tol: tuple[tuple[str, float], ...] = ()   # overrides of the tolerance table: (("grad", 1e-3), ...)
    fail_fast: bool = False             # stop at the first failed check instead of recording the whole run

    def validate(self) -> None:
        """Raise InputError naming the first bad field: every field's type (from its annotation),
        then its range; called before any work starts."""
        for f in fields(self):
            check_type(f.name, getattr(self, f.name))
        for f in fields(self):
            if f.type is float and not _finite(getattr(self, f.name)):
                raise InputError(f"{f.name} must be finite, got {_shown(getattr(self, f.name))}")
        _check_range("epochs", self.epochs, 1, MAX_EPOCHS)
        _check_range("batch_size", self.batch_size, 0, MAX_BATCH_SIZE, " (0 = full batch)")
        if not self.hidden or min(self.hidden) < 1:
            raise InputError(f"hidden must be positive integers, got {_shown(self.hidden)}")
        _check_range("hidden width", max(self.hidden), 1, MAX_WIDTH)
        check_seed(self.seed)
        from comparisons.registry import LOSSES
        if self.loss not in LOSSES:
            raise InputError(f"loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        from manual.init import parse_scheme
        for name in ("init", "init_bias"):
            try:
                parse_scheme(getattr(self, name))
            except (ValueError, TypeError) as e:
                raise InputError(f"{name}: {e}") from None
        parse_reg(self.reg, self.reg_convention)
        if self.lr <= 0:
            raise InputError(f"lr must be > 0, got {self.lr}")
        if not 0 <= self.momentum < 1:
            raise InputError(f"momentum must be in [0, 1), got {self.momentum}")
        for name, choices in CHOICES.items():
            if getattr(self, name) not in choices:
                raise InputError(f"{name} must be one of {', '.join(choices)}, got {_shown(getattr(self, name))}")
        _check_in_dtype(self.lr, self.init_velocity, self.dtype)
        from comparisons.registry import parse_optimizer
        try:
            entry, hypers = parse_optimizer(self.optimizer, self)
        except ValueError as e:
            raise InputError(f"optimizer: {e}") from None
        from comparisons.registry import parse_schedule
        try:
            parse_schedule(self.lr_schedule)
        except ValueError as e:
            raise InputError(f"lr_schedule: {e}") from None
        if parse_reg(self.reg, self.reg_convention) and self.reg_convention == "torch":
            from comparisons.registry import given_keys
            if entry.cls == "AdamW":
                raise InputError(f"reg {self.reg} with reg_convention torch is an L2 penalty (coupled weight "
                                 f"decay); adamw's decay is decoupled: give adamw:weight_decay=... instead")
            if "weight_decay" in given_keys(self.optimizer):
                raise InputError(f"reg {self.reg} with reg_convention torch sets the optimizer's weight_decay; "
                                 f"it is also given in optimizer {self.optimizer!r}: give it once")
        if not self.data:
            raise InputError("data must be 'builtin' or a path")
        if not self.manual:
            raise InputError("manual must be 'builtin', 'seed' or pkg.module:Class")
        quantities = [q for q, _ in self.tol]
        repeated = sorted({q for q in quantities if quantities.count(q) > 1})
        if repeated:
            raise InputError(f"tolerance for {repeated[0]} given more than once")
        for quantity, value in self.tol:
            if quantity not in QUANTITIES:
                raise InputError(f"unknown tolerance {_shown(quantity)}; choose from {', '.join(QUANTITIES)}")
            if not (_finite(value) and value >= 0):
                raise InputError(f"tolerance for {quantity} must be a finite number >= 0, got {_shown(value)}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["hidden"], d["tol"] = list(self.hidden), dict(self.tol)
        return d

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]


def parse_reg(text: str, convention: str) -> tuple[str, float] | None:
    """``l2:0.01`` -> ("l2", 0.01); "" -> None. InputError for a bad kind or value, or a kind the
    convention does not define (torch's weight_decay and the dls course are L2 only)."""
    if not text:
        return None
    kind, _, value = text.partition(":")
    try:
        lam = float(value)
    except ValueError:
        lam = math.nan
    if kind not in ("l2", "l1") or not (math.isfinite(lam) and lam >= 0):
        raise InputError(f"reg must be l2:LAMBDA or l1:LAMBDA with a finite LAMBDA >= 0, got {text!r}")
    if convention in CHOICES["reg_convention"] and kind == "l1" and convention in ("torch", "dls"):
        raise InputError(f"reg {text!r}: the {convention} convention defines L2 only "
                         f"(choose {setting('reg_convention')} cs231n or nnfs for l1)")
    return kind, lam


def check_seed(seed) -> None:
    """A seed is an int in [0, MAX_SEED] (also ``lockstep audit --seed``)."""
    check_type("seed", seed, int)
    _check_range("seed", seed, 0, MAX_SEED)


def _check_range(name: str, value: int, low: int, high: int, note: str = "") -> None:
    if value < low:
        raise InputError(f"{name} must be >= {low}{note}, got {_shown(value)}")
    if value > high:
        raise InputError(f"{name} must be <= {high}{note}, got {_shown(value)}")


def check_type(name: str, value, kind=None) -> None:
    """InputError unless ``value`` is of field ``name``'s annotated type (or ``kind``).

    int excludes bool (True is an int in Python); float takes an int too (TOML and Python
    callers write lr = 1; validate() then checks it is finite); tuple[X, ...] and tuple[X, Y]
    are checked element by element. NumPy scalars other than float64 are refused: json cannot
    write them.
    """
    kind = kind or {f.name: f.type for f in fields(Config)}[name]
    if not _is(value, kind):
        raise InputError(f"{name} must be {_describe(kind)}, got {_shown(value)}")


def _is(value, kind) -> bool:
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if kind is bool:
        return isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is str:
        return isinstance(value, str) and "\0" not in value   # a NUL cannot be in a path or a name
    if origin is tuple:
        if not isinstance(value, tuple):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_is(v, args[0]) for v in value)
        return len(value) == len(args) and all(_is(v, a) for v, a in zip(value, args))
    raise TypeError(f"Config.validate cannot check a field of type {kind!r}; teach comparisons.config._is")


def _describe(kind) -> str:
    """A type in words: ``tuple[tuple[str, float], ...]`` -> "a tuple of (str, float) pairs"."""
    words = {bool: "true or false", int: "an integer", float: "a number", str: "a string without NUL"}
    if kind in words:
        return words[kind]
    args = typing.get_args(kind)
    if len(args) == 2 and args[1] is Ellipsis:
        inner = args[0]
        if typing.get_origin(inner) is tuple:
            return f"a tuple of ({', '.join(a.__name__ for a in typing.get_args(inner))}) pairs"
        return f"a tuple of {inner.__name__}s"
    return f"a tuple ({', '.join(a.__name__ for a in args)})"


def _finite(value: int | float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:       # an int beyond float range (10**400)
        return False


def _shown(value, limit: int = 80) -> str:
    """``repr(value)`` on one line, cut to ``limit`` characters (a preset may hold a huge value)."""
    try:
        text = repr(value)
    except ValueError:      # an int with more digits than Python will print (sys.get_int_max_str_digits)
        text = f"an integer of {value.bit_length()} bits"
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _check_in_dtype(lr: float, init_velocity: float, dtype: str) -> None:
    """The optimizer's starting values must be finite, non-zero where needed, in the run's dtype.

    torch's momentum buffer starts at init_velocity / lr (torch_ref.optim): beyond the dtype's
    largest value (float32: 3.4e38) torch refuses it with a RuntimeError, as it refuses such an
    lr (SGD's param.add_(grad, alpha=-lr)). lr must not round to 0 either (float32's smallest
    value is 1.4e-45), or neither side would learn.
    """
    import numpy as np     # here, not at the top: the pytest plugin imports Config and must stay light
    largest, smallest = float(np.finfo(dtype).max), float(np.finfo(dtype).smallest_subnormal)
    if abs(init_velocity) > largest:
        raise InputError(f"init_velocity {init_velocity:g} overflows {dtype} (largest {largest:.2g})")
    if lr > largest:
        raise InputError(f"lr {lr:g} overflows {dtype} (largest {largest:.2g})")
    start = init_velocity / lr        # a Python float: inf when it overflows even float64
    if not abs(start) <= largest:
        raise InputError(f"init_velocity / lr = {start:g} overflows {dtype} (largest {largest:.2g}): "
                         "torch's momentum buffer starts at init_velocity / lr")
    if np.array(lr, dtype=dtype) == 0:
        raise InputError(f"lr {lr:g} rounds to 0 in {dtype} (smallest {smallest:.2g})")

"""Every layer kind and loss lockstep knows: one entry each, read by every part.

An entry ties a spec token (``linear:100``) to a class name: the manual class
of that name (NumPy, manual/) and its torch twin of the same name (torch_ref/),
looked up only when a side is built (so validating a spec needs no torch), and
to the prefix of its layers' names (``fc`` -> ``fc1``, ``fc2``). The two classes take the same
constructor arguments: ``make(in_shape, args)`` turns the layer's input shape
(one sample's, no batch axis) and the token's arguments into them. Adding a
kind: a manual class, its twin, one line here; tests/test_twins.py picks it up.

Branch points (a ReLU's kink, a max's tie) are the twin's business: a twin with
``decide``/``margin``/``forward_with`` (torch_ref/layers.py) is followed by the
referee on the manual side's branch where the two are within rounding.
"""
import importlib
import math
from dataclasses import dataclass, field
from typing import Callable

from comparisons.errors import setting


@dataclass(frozen=True)
class Arg:
    """A positional argument of a token: ``linear:OUT`` has Arg("out", int)."""
    name: str
    type: type
    default: object = None      # None: required; DATA: the data's output width (an output layer's)
    low: int = 1                # an int argument's least value (a padding may be 0)


DATA = "data"


class Twins:
    """``manual`` and ``twin``: the class named ``cls`` in manual/ and in torch_ref/."""

    @property
    def manual(self) -> type:
        return getattr(importlib.import_module("manual"), self.cls)

    @property
    def twin(self) -> type:
        return getattr(importlib.import_module("torch_ref"), self.cls)


@dataclass(frozen=True)
class Kind(Twins):
    token: str
    cls: str
    prefix: str
    make: Callable[[tuple, dict], dict] = lambda shape, a: {}   # (input shape, parsed args) -> constructor kwargs
    args: tuple[Arg, ...] = ()
    flags: tuple[str, ...] = ()     # words that may stand among the arguments, e.g. "nobias"
    init: dict = field(default_factory=dict)   # param -> "scheme" (the run's --init), "zeros" (the
                                               # run's --init-bias), "ones", "zero" (always 0)
    examples: tuple[tuple[str, tuple], ...] = ()   # (token, one sample's input shape) the twin test builds
    size: Callable[[dict], int] = lambda kw: 0     # constructor kwargs -> parameter elements (memory check)
    takes: str = "float"     # its input: "float" features, or "ids": integer token ids (embedding)

    @property
    def usage(self) -> str:
        parts = [a.name.upper() if a.default is None else f"[{a.name.upper()}]" for a in self.args]
        return ":".join([self.token, *parts, *(f"[{f}]" for f in self.flags)])


def _one(shape: tuple, what: str) -> int:
    if len(shape) != 1:
        raise ValueError(f"{what} needs flat input (features), got shape {shape}; add flatten before it")
    return shape[0]


def _finite(value: float, what: str, low: float, high: float, high_open: bool = False) -> float:
    if not (math.isfinite(value) and low <= value and (value < high if high_open else value <= high)):
        raise ValueError(f"{what} must be in [{low:g}, {high:g}{')' if high_open else ']'}, got {value!r}")
    return value


def _gelu(shape, a):
    if a["approximate"] not in ("none", "tanh"):
        raise ValueError(f"gelu takes 'tanh' (or nothing: exact erf), got {a['approximate']!r}")
    return dict(approximate=a["approximate"])


def _batchnorm(shape, a):
    """``batchnorm[:MOMENTUM][:cs231n][:biased]``: torch's momentum (weight of the new batch, default 0.1),
    or with ``cs231n`` the course's (weight of the old running value, default 0.9), mapped onto torch's;
    ``biased``: running_var follows the biased batch variance (cs231n's np.var) instead of torch's unbiased."""
    from manual.conventions import BN_MOMENTUM, BN_MOMENTUM_DEFAULT
    convention = "cs231n" if a["cs231n"] else "torch"
    m = BN_MOMENTUM_DEFAULT[convention] if a["momentum"] == "" else _finite(a["momentum"], "momentum", 0, 1)
    features = shape[0] if len(shape) == 3 else _one(shape, "batchnorm")    # (C, H, W): spatial, BatchNorm2d
    return dict(num_features=features, momentum=BN_MOMENTUM[convention](m),
                running_var="biased" if a["biased"] else "unbiased")


def _dropout(shape, a):
    """``dropout[:P][:keep]``: P the drop probability, as torch (default 0.5); with ``keep`` (cs231n) P is
    the probability of keeping a unit, mapped onto torch's drop probability 1 - P."""
    from manual import DropoutMask
    from manual.conventions import DROPOUT_P
    p = DROPOUT_P["keep" if a["keep"] else "drop"](_finite(a["p"], "p", 0, 1))
    if not 0 <= p < 1:
        raise ValueError(f"the drop probability must be in [0, 1), got {p:g}")
    return dict(p=p, mask=DropoutMask())


def _flatten(shape, a):
    """``flatten[:hwc]``: features in torch's order c, h, w, or with ``hwc`` in an NHWC reshape's (images only;
    manual/conventions.py FLATTEN_ORDER)."""
    if a["hwc"]:
        _image(shape, "flatten:hwc")
    return dict(order="hwc" if a["hwc"] else "chw")


def _image(shape: tuple, what: str) -> tuple[int, int, int]:
    if len(shape) != 3:
        raise ValueError(f"{what} needs image input (channels, height, width), got shape {shape}; "
                         f"use image data (--data builtin:images) and no flatten before it")
    return shape


def _fits(size: int, kernel: int, stride: int, pad: int, axis: str) -> None:
    """A kernel must fit the padded input, and the stride must divide what is left: torch would floor
    (size + 2·pad - kernel) / stride and silently drop the last rows or columns; lockstep refuses
    (as cs231n's conv_forward_naive asserts)."""
    if kernel > size + 2 * pad:
        raise ValueError(f"kernel {kernel} is larger than the padded input's {axis} {size + 2 * pad}"
                         f"{f' ({size} + 2·{pad})' if pad else ''}")
    if (size + 2 * pad - kernel) % stride:
        raise ValueError(f"stride {stride} does not divide the input's {axis} {size}{f' + 2·{pad}' if pad else ''}"
                         f" - kernel {kernel} = {size + 2 * pad - kernel} (torch would floor it and leave the last "
                         f"{(size + 2 * pad - kernel) % stride} {'rows' if axis == 'height' else 'columns'} unused); "
                         f"change the stride, kernel or padding")


def _conv(shape, a):
    """``conv:OUT:K[:STRIDE[:PAD]]``: OUT filters of K x K over every input channel, stride 1 and padding 0
    by default, with bias; weight (OUT, C, K, K) as torch.nn.Conv2d and cs231n."""
    c, h, w = _image(shape, "conv")
    for size, axis in ((h, "height"), (w, "width")):
        _fits(size, a["k"], a["stride"], a["pad"], axis)
    return dict(in_channels=c, out_channels=a["out"], kernel_size=a["k"], stride=a["stride"], padding=a["pad"])


def _pool(what):
    def make(shape, a):
        """``maxpool:K[:STRIDE]`` / ``avgpool:K[:STRIDE]``: K x K windows, stride K by default, no padding."""
        c, h, w = _image(shape, what)
        stride = a["stride"] or a["k"]
        for size, axis in ((h, "height"), (w, "width")):
            _fits(size, a["k"], stride, 0, axis)
        return dict(kernel_size=a["k"], stride=stride)
    return make


def _groupnorm(shape, a):
    """``groupnorm:G``: G groups of the C channels (C, or (C, H, W) per sample); G must divide C."""
    if len(shape) not in (1, 3):
        raise ValueError(f"groupnorm needs (channels,) or (channels, height, width) per sample, got shape {shape}")
    if shape[0] % a["groups"]:
        raise ValueError(f"groupnorm: {a['groups']} groups do not divide {shape[0]} channels")
    return dict(num_groups=a["groups"], num_channels=shape[0])


NORM_INIT = {"weight": "ones", "bias": "zero"}


def _sequence(shape: tuple, what: str) -> tuple[int, int]:
    """(T, D) of one sample's (T, D) sequence input; ValueError for flat input or a length of 0."""
    if len(shape) != 2:
        raise ValueError(f"{what} needs sequences (T, features) per sample, got shape {shape}"
                         f"{'; put embedding:V:D first for token ids' if len(shape) == 1 else ''}")
    if shape[0] == 0:
        raise ValueError(f"{what}: a sequence of length 0")
    return shape


def _embedding(shape, a):
    if len(shape) != 1:
        raise ValueError(f"embedding needs token ids (T,) per sample, got shape {shape}")
    if shape[0] == 0:
        raise ValueError("embedding: a sequence of length 0")
    return dict(num_embeddings=a["vocab"], embedding_dim=a["dim"])


def _recurrent(what):
    """``rnn:H[:onebias]``, ``lstm:H[:onebias]``: torch's two biases, or with ``onebias`` the courses' one
    (bias_ih_l0 alone; manual/conventions.py RECURRENT_BIAS)."""
    return lambda shape, a: dict(input_size=_sequence(shape, what)[1], hidden_size=a["hidden"],
                                 one_bias=a["onebias"])


# torch's two biases (manual/conventions.py RECURRENT_BIAS): b_ih the run's --init-bias, b_hh always 0 at init
RECURRENT_INIT = {"weight_ih_l0": "scheme", "weight_hh_l0": "scheme", "bias_ih_l0": "zeros", "bias_hh_l0": "zero"}

KINDS = {k.token: k for k in (
    Kind("linear", "Linear", "fc", args=(Arg("out", int, DATA),), flags=("nobias",),
         make=lambda s, a: dict(in_features=_one(s, "linear"), out_features=a["out"], bias=not a["nobias"]),
         init={"weight": "scheme", "bias": "zeros"},
         size=lambda kw: kw["out_features"] * (kw["in_features"] + kw["bias"]),
         examples=(("linear:7", (5,)), ("linear:3:nobias", (4,)))),
    Kind("relu", "ReLU", "relu", examples=(("relu", (6,)),)),
    Kind("leakyrelu", "LeakyReLU", "lrelu", args=(Arg("slope", float, 0.01),),
         make=lambda s, a: dict(negative_slope=_finite(a["slope"], "slope", -1e6, 1e6)),
         examples=(("leakyrelu", (6,)), ("leakyrelu:0.2", (5,)))),
    Kind("sigmoid", "Sigmoid", "sigmoid", examples=(("sigmoid", (6,)),)),
    Kind("tanh", "Tanh", "tanh", examples=(("tanh", (6,)),)),
    Kind("gelu", "GELU", "gelu", args=(Arg("approximate", str, "none"),), make=_gelu,
         examples=(("gelu", (6,)), ("gelu:tanh", (6,)))),
    Kind("flatten", "Flatten", "flatten", flags=("hwc",), make=_flatten,
         examples=(("flatten", (2, 3)), ("flatten", (4,)), ("flatten:hwc", (3, 2, 4)))),
    Kind("layernorm", "LayerNorm", "ln", make=lambda s, a: dict(normalized_shape=_one(s, "layernorm")),
         init=NORM_INIT, examples=(("layernorm", (6,)),)),
    Kind("batchnorm", "BatchNorm1d", "bn", args=(Arg("momentum", float, ""),), flags=("cs231n", "biased"),
         make=_batchnorm, init=NORM_INIT,
         examples=(("batchnorm", (5,)), ("batchnorm:0.9:cs231n", (3,)), ("batchnorm:cs231n:biased", (4,)),
                   ("batchnorm", (3, 4, 5)), ("batchnorm:cs231n:biased", (2, 3, 3)))),
    Kind("dropout", "Dropout", "drop", args=(Arg("p", float, 0.5),), flags=("keep",), make=_dropout,
         examples=(("dropout:0.3", (6,)), ("dropout:0.8:keep", (5,)))),
    Kind("embedding", "Embedding", "embed", args=(Arg("vocab", int), Arg("dim", int)), make=_embedding,
         takes="ids", init={"weight": "scheme"}, size=lambda kw: kw["num_embeddings"] * kw["embedding_dim"],
         examples=(("embedding:7:4", (5,)), ("embedding:3:2", (1,)))),
    Kind("rnn", "RNN", "rnn", args=(Arg("hidden", int),), flags=("onebias",), make=_recurrent("rnn"),
         init=RECURRENT_INIT, size=lambda kw: kw["hidden_size"] * (kw["input_size"] + kw["hidden_size"] + 2
                                                                   - kw["one_bias"]),
         examples=(("rnn:5", (4, 3)), ("rnn:3", (1, 2)), ("rnn:4:onebias", (3, 2)))),
    Kind("lstm", "LSTM", "lstm", args=(Arg("hidden", int),), flags=("onebias",), make=_recurrent("lstm"),
         init=RECURRENT_INIT, size=lambda kw: 4 * kw["hidden_size"] * (kw["input_size"] + kw["hidden_size"] + 2
                                                                       - kw["one_bias"]),
         examples=(("lstm:5", (4, 3)), ("lstm:3", (1, 2)), ("lstm:4:onebias", (3, 2)))),
    Kind("temporal_linear", "TemporalLinear", "tfc", args=(Arg("out", int, DATA),),
         make=lambda s, a: dict(in_features=_sequence(s, "temporal_linear")[1], out_features=a["out"]),
         init={"weight": "scheme", "bias": "zeros"}, size=lambda kw: kw["out_features"] * (kw["in_features"] + 1),
         examples=(("temporal_linear:6", (4, 3)), ("temporal_linear:2", (1, 5)))),
    Kind("conv", "Conv2d", "conv", args=(Arg("out", int), Arg("k", int), Arg("stride", int, 1),
                                         Arg("pad", int, 0, low=0)),
         make=_conv, init={"weight": "scheme", "bias": "zeros"},
         size=lambda kw: kw["out_channels"] * (kw["in_channels"] * kw["kernel_size"] ** 2 + 1),
         examples=(("conv:3:3", (2, 5, 5)), ("conv:4:3:2:1", (3, 7, 7)), ("conv:2:2:1:1", (1, 4, 4)),
                   ("conv:2:1", (3, 3, 3)))),
    Kind("maxpool", "MaxPool2d", "pool", args=(Arg("k", int), Arg("stride", int, 0)), make=_pool("maxpool"),
         examples=(("maxpool:2", (2, 4, 6)), ("maxpool:3:1", (1, 5, 5)), ("maxpool:2:1", (2, 3, 3)))),
    Kind("avgpool", "AvgPool2d", "avgpool", args=(Arg("k", int), Arg("stride", int, 0)), make=_pool("avgpool"),
         examples=(("avgpool:2", (2, 4, 6)), ("avgpool:3:1", (1, 5, 5)))),
    Kind("groupnorm", "GroupNorm", "gn", args=(Arg("groups", int),), make=_groupnorm, init=NORM_INIT,
         size=lambda kw: 2 * kw["num_channels"],
         examples=(("groupnorm:2", (4, 3, 3)), ("groupnorm:1", (3, 2, 2)), ("groupnorm:3", (3, 2, 2)),
                   ("groupnorm:2", (6,)))),
)}


@dataclass(frozen=True)
class Loss(Twins):
    token: str
    cls: str
    target: str                      # "class": integer labels, one output per class; "binary": 0/1 labels,
                                     # one output; "regression": float targets (N, k) (comparisons/data)
                                     # "sequence": (N, T) next-token ids, SEQUENCE_PAD at masked steps
    threshold: float | None = None   # binary: the score a prediction compares with (0 for logits, 0.5 for p)
    kwargs: dict = field(default_factory=dict)   # a named convention (manual/conventions.py)

    def make_manual(self, reduction: str):
        return self.manual(reduction, **self.kwargs)

    def make_twin(self, reduction: str):
        return self.twin(reduction, **self.kwargs)


LOSSES = {loss.token: loss for loss in (
    Loss("cross_entropy", "CrossEntropy", "class"),
    Loss("svm", "SVM", "class"),
    Loss("mse", "MSE", "regression"),
    Loss("mse:half", "MSE", "regression", kwargs={"convention": "half"}),
    Loss("bce", "BCE", "binary", 0.5),
    Loss("bce:nnfs", "BCE", "binary", 0.5, kwargs={"convention": "nnfs"}),
    Loss("bce_logits", "BCEWithLogits", "binary", 0.0),
    Loss("temporal_cross_entropy", "TemporalCrossEntropy", "sequence"),
)}


# --- optimizers ---------------------------------------------------------------------------------
#
# One entry per optimizer and convention (``form``): the manual class and its torch twin of the same
# name (manual/optim.py, torch_ref/optim.py), its hyper-parameters with defaults, the constructor
# arguments the form fixes, and what the torch side is. ``--optimizer NAME[:k=v,...]`` picks one
# (``form=F`` picks the convention, the first listed by default); the learning rate is always
# ``--lr``. A hyper-parameter named like a Config field (momentum, init_velocity) defaults to that
# field, so ``--momentum 0.99`` and ``momentum:momentum=0.99`` say the same. Adding a convention:
# the classes, one entry here; tests/test_optim.py proves the mapping for every entry.

CONFIG = "config"       # a Hyper default: the Config field of the same name


@dataclass(frozen=True)
class Hyper:
    name: str
    default: object              # a number, or CONFIG
    check: str = "any"           # unit: [0, 1); open: (0, 1); closed: [0, 1]; positive: > 0; nonneg: >= 0;
                                 # any: finite


@dataclass(frozen=True)
class Optimizer(Twins):
    token: str
    form: str
    cls: str
    hypers: tuple[Hyper, ...]
    fixed: dict = field(default_factory=dict)     # constructor arguments the form sets
    torch: str = ""                               # what the torch side runs (README "Optimizers")
    state: tuple[str, ...] = ()                   # state keys per parameter

    @property
    def name(self) -> str:
        return f"{self.token}:form={self.form}"

    @property
    def linear_in_gradient(self) -> bool:
        """The update is a linear map of the gradient (given the state): sgd, momentum and Nesterov in every
        form. Then a gradient within a relative distance of the true one gives an update within the same
        relative distance, and the update stage can be judged from the manual side's own gradients once
        their rows passed (comparisons/lockstep.py UPDATE_STAGE). Adam, AdamW, RMSprop and Adagrad divide
        each entry by its own scale: a tiny entry that is wrong (invisible in the gradient's relative L2)
        becomes a whole step, so their update rows are judged by the whole-step referee (review finding,
        reproduced: one flipped entry of |g| < 1e-6 ||g|| passed the update-stage referee under adam)."""
        return self.cls in ("SGDMomentum", "SGD", "Momentum", "Nesterov")

    @property
    def manual(self) -> type:          # manual/optim.py (not re-exported by manual/__init__)
        return getattr(importlib.import_module("manual.optim"), self.cls)

    @property
    def twin(self) -> type:
        return getattr(importlib.import_module("torch_ref.optim"), self.cls)


_LR_MOM = (Hyper("momentum", CONFIG, "open"),)     # torch.optim.SGD ignores its buffer at momentum 0
_V0 = Hyper("init_velocity", CONFIG)
_WD = Hyper("weight_decay", 0.0, "nonneg")
_ADAM = (Hyper("beta1", 0.9, "unit"), Hyper("beta2", 0.999, "unit"))

OPTIMIZERS = {f"{o.token}:{o.form}": o for o in (
    Optimizer("momentum", "assignment", "SGDMomentum", (Hyper("momentum", CONFIG, "unit"), _V0, _WD),
              torch="torch.optim.SGD, momentum_buffer pre-seeded with v0 / lr; v = lr · buf",
              state=("momentum_buffer",)),
    Optimizer("momentum", "cs231n", "Momentum", (*_LR_MOM, _V0, _WD), {"form": "cs231n"},
              torch="torch.optim.SGD, momentum_buffer pre-seeded with -v0 / lr; v = -lr · buf",
              state=("momentum_buffer",)),
    Optimizer("momentum", "ema", "Momentum", (*_LR_MOM, _V0, _WD), {"form": "ema"},
              torch="torch.optim.SGD with dampening = momentum, momentum_buffer pre-seeded with v0",
              state=("momentum_buffer",)),
    Optimizer("momentum", "torch", "Momentum", (*_LR_MOM, Hyper("dampening", 0.0, "closed"), _WD), {"form": "torch"},
              torch="torch.optim.SGD as it is (buffer = g on the first step)", state=("momentum_buffer",)),
    Optimizer("sgd", "torch", "SGD", (_WD,), torch="torch.optim.SGD without momentum"),
    Optimizer("nesterov", "torch", "Nesterov", (*_LR_MOM, _WD), {"form": "torch"},
              torch="torch.optim.SGD(nesterov=True) as it is", state=("momentum_buffer",)),
    Optimizer("nesterov", "cs231n", "Nesterov", (*_LR_MOM, _V0, _WD), {"form": "cs231n"},
              torch="torch.optim.SGD(nesterov=True), momentum_buffer pre-seeded with -v0 / lr; v = -lr · buf",
              state=("momentum_buffer",)),
    Optimizer("rmsprop", "torch", "RMSprop", (Hyper("alpha", 0.99, "unit"), Hyper("eps", 1e-8, "positive"), _WD),
              torch="torch.optim.RMSprop", state=("step", "square_avg")),
    Optimizer("rmsprop", "cs231n", "RMSprop", (Hyper("alpha", 0.99, "unit"), Hyper("eps", 1e-8, "positive"), _WD),
              torch="torch.optim.RMSprop (cs231n: decay_rate 0.99, epsilon 1e-8)", state=("step", "square_avg")),
    Optimizer("rmsprop", "nnfs", "RMSprop", (Hyper("alpha", 0.9, "unit"), Hyper("eps", 1e-7, "positive"), _WD),
              torch="torch.optim.RMSprop (NNFS: rho 0.9, epsilon 1e-7)", state=("step", "square_avg")),
    Optimizer("adagrad", "torch", "Adagrad", (Hyper("eps", 1e-10, "positive"), Hyper("init_accumulator", 0.0, "nonneg"),
                                              _WD), torch="torch.optim.Adagrad", state=("step", "sum")),
    Optimizer("adagrad", "nnfs", "Adagrad", (Hyper("eps", 1e-7, "positive"), Hyper("init_accumulator", 0.0, "nonneg"),
                                             _WD), torch="torch.optim.Adagrad (NNFS: epsilon 1e-7)", state=("step", "sum")),
    *(Optimizer("adam", form, "Adam", (*_ADAM, Hyper("eps", eps, "positive"), _WD), torch=f"torch.optim.Adam{note}",
                state=("step", "exp_avg", "exp_avg_sq"))
      for form, eps, note in (("torch", 1e-8, ""), ("cs231n", 1e-8, " (cs231n: epsilon 1e-8)"),
                              ("dls", 1e-8, " (Deep Learning Specialization: epsilon 1e-8)"),
                              ("nnfs", 1e-7, " (NNFS: epsilon 1e-7)"))),
    Optimizer("adam", "eps_inside", "Adam", (*_ADAM, Hyper("eps", 1e-8, "positive"), _WD), {"eps_inside": True},
              torch="torch_ref.optim.AdamOps: Adam in torch operations (torch.optim has no eps inside the square root)",
              state=("step", "exp_avg", "exp_avg_sq")),
    Optimizer("adamw", "torch", "AdamW", (*_ADAM, Hyper("eps", 1e-8, "positive"), Hyper("weight_decay", 0.01, "nonneg")),
              torch="torch.optim.AdamW", state=("step", "exp_avg", "exp_avg_sq")),
)}
FORMS = {}
for _o in OPTIMIZERS.values():
    FORMS.setdefault(_o.token, []).append(_o.form)
DEFAULT_OPTIMIZER = "momentum"     # "" in Config: the assignment's velocity form from --lr, --momentum, --init-velocity

_CHECKS = {"unit": (lambda v: 0 <= v < 1, "in [0, 1)"), "open": (lambda v: 0 < v < 1, "in (0, 1)"), "closed": (lambda v: 0 <= v <= 1, "in [0, 1]"),
           "positive": (lambda v: v > 0, "> 0"), "nonneg": (lambda v: v >= 0, ">= 0"),
           "any": (lambda v: True, "finite"),
           "count": (lambda v: v >= 1 and v == int(v) and v <= 2**31 - 1, "an integer >= 1")}


def optimizer_usage() -> str:
    return "; ".join(f"{token} (form={'|'.join(forms)})" for token, forms in FORMS.items())


def _key_values(name: str, colon: str, rest: str, example: str) -> dict[str, str]:
    """``k=v,...`` after ``name:`` -> {k: v}; ValueError for a malformed item, a repeated key, nothing after ':'."""
    given = {}
    for item in filter(None, (s.strip() for s in rest.split(","))):
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise ValueError(f"{name}: expected key=value, got {item!r} (e.g. {example})")
        if key in given:
            raise ValueError(f"{name}: {key} given more than once")
        given[key] = value
    if colon and not given:
        raise ValueError(f"{name}: nothing after ':' (e.g. {example})")
    return given


def parse_optimizer(text: str, config) -> tuple[Optimizer, dict]:
    """``NAME[:k=v,...]`` -> (the entry, its constructor arguments but lr); ValueError naming the problem.
    ``config`` gives the defaults of hyper-parameters named like its fields."""
    name, colon, rest = (text or DEFAULT_OPTIMIZER).strip().partition(":")
    if name not in FORMS:
        raise ValueError(f"unknown optimizer {name!r}; choose from {', '.join(FORMS)}")
    given = _key_values(name, colon, rest, "adam:beta1=0.9,eps=1e-8")
    form = given.pop("form", FORMS[name][0])
    if form not in FORMS[name]:
        raise ValueError(f"{name}: unknown form {form!r}; choose from {', '.join(FORMS[name])}")
    entry = OPTIMIZERS[f"{name}:{form}"]
    known = {h.name: h for h in entry.hypers}
    if "lr" in given:
        raise ValueError(f"{name}: the learning rate is {setting('lr')} (lr in a preset), not an optimizer key")
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise ValueError(f"{entry.name}: unknown key {unknown[0]!r}; keys are "
                         f"{', '.join(['form', *known]) if known else 'form'}")
    kwargs = {}
    for h in entry.hypers:
        if h.name in given:
            try:
                value = float(given[h.name])
            except ValueError:
                raise ValueError(f"{entry.name}: {h.name} must be a number, got {given[h.name]!r}") from None
        else:
            value = getattr(config, h.name) if h.default == CONFIG else h.default
        ok, words = _CHECKS[h.check]
        if not (math.isfinite(value) and ok(value)):
            raise ValueError(f"{entry.name}: {h.name} must be {words}, got {value:g}")
        kwargs[h.name] = value
    return entry, kwargs | entry.fixed


def reg_weight_decay(config) -> float | None:
    """``--reg l2:L --reg-convention torch``: torch's weight_decay L, which the optimizer applies; else None."""
    from comparisons.config import parse_reg
    parsed = parse_reg(config.reg, config.reg_convention)
    return parsed[1] if parsed and config.reg_convention == "torch" else None


def optimizer_args(config) -> tuple[Optimizer, dict]:
    """The run's optimizer entry and its constructor arguments but lr, the penalty's weight decay
    included: what every side, the diagnosis's alternatives and its constants build from."""
    entry, kwargs = parse_optimizer(config.optimizer, config)
    decay = reg_weight_decay(config)
    if decay is not None:
        kwargs["weight_decay"] = decay
    return entry, kwargs


def given_keys(text: str) -> set[str]:
    """The keys written in an optimizer spec (``adam:eps=1e-7`` -> {"eps"})."""
    _, _, rest = (text or "").partition(":")
    return {item.partition("=")[0].strip() for item in rest.split(",") if item.strip()}


def build_optimizer(config, params: dict, side: str):
    """The run's optimizer over ``params``: the manual class (``side`` "manual") or its torch twin ("twin"),
    with the run's learning-rate schedule: the manual optimizer wrapped in manual.schedules.Scheduled, the
    twin given the torch scheduler (torch_ref.optim._Twin.scheduler)."""
    entry, kwargs = optimizer_args(config)
    opt = getattr(entry, side)(params, config.lr, **kwargs)
    parsed = parse_schedule(config.lr_schedule)
    if parsed is None:
        return opt
    schedule, hypers = parsed
    if side == "manual":
        from manual.schedules import Scheduled
        return Scheduled(opt, schedule.manual(config.lr, **hypers))
    opt.scheduler = schedule.twin(opt.opt, **hypers)
    return opt


# --- learning-rate schedules --------------------------------------------------------------------
#
# ``--lr-schedule NAME:k=v,...`` (a preset's lr_schedule; "" = the constant --lr). Each entry: the manual
# class (manual/schedules.py: the lr of the update that has t updates before it) and the torch scheduler of
# the same name (torch_ref/schedules.py), stepped once after every optimizer step: t counts optimizer
# steps, not epochs (README "Learning-rate schedules"). tests/test_optim.py proves each mapping.

REQUIRED = "required"       # a Hyper default: the key must be given


@dataclass(frozen=True)
class Schedule(Twins):
    token: str
    cls: str
    hypers: tuple[Hyper, ...]
    formula: str                 # the lr of the update with t updates before it (README, --help)
    torch: str = ""              # what the torch side runs

    @property
    def manual(self) -> type:
        return getattr(importlib.import_module("manual.schedules"), self.cls)

    @property
    def twin(self):
        return getattr(importlib.import_module("torch_ref.schedules"), self.cls)


SCHEDULES = {s.token: s for s in (
    Schedule("step", "StepLR", (Hyper("step_size", REQUIRED, "count"), Hyper("gamma", 0.1, "positive")),
             "lr · gamma^floor(t / step_size)", "torch.optim.lr_scheduler.StepLR"),
    Schedule("exp", "ExponentialLR", (Hyper("gamma", REQUIRED, "positive"),), "lr · gamma^t",
             "torch.optim.lr_scheduler.ExponentialLR"),
    Schedule("nnfs", "InverseTimeLR", (Hyper("decay", REQUIRED, "nonneg"),), "lr / (1 + decay · t)",
             "torch.optim.lr_scheduler.LambdaLR(lambda t: 1 / (1 + decay · t))"),
)}


def schedule_usage() -> str:
    return "; ".join(f"{s.token}:{','.join(f'{h.name}=' + ('N' if h.check == 'count' else 'X') for h in s.hypers)}"
                     f" ({s.formula})" for s in SCHEDULES.values())


def parse_schedule(text: str) -> tuple[Schedule, dict] | None:
    """``NAME:k=v,...`` -> (the entry, its arguments but lr); "" -> None (constant lr); ValueError naming
    the problem."""
    if not (text or "").strip():
        return None
    name, colon, rest = text.strip().partition(":")
    if name not in SCHEDULES:
        raise ValueError(f"unknown schedule {name!r}; choose from {', '.join(SCHEDULES)} (empty: constant lr)")
    entry = SCHEDULES[name]
    given = _key_values(name, colon, rest, "step:step_size=30,gamma=0.1")
    known = [h.name for h in entry.hypers]
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise ValueError(f"{name}: unknown key {unknown[0]!r}; keys are {', '.join(known)}")
    kwargs = {}
    for h in entry.hypers:
        if h.name not in given and h.default == REQUIRED:
            raise ValueError(f"{name}: {h.name} is required (e.g. {name}:{h.name}="
                             f"{'30' if h.check == 'count' else '0.9' if h.name == 'gamma' else '1e-3'})")
        try:
            value = float(given[h.name]) if h.name in given else h.default
        except ValueError:
            raise ValueError(f"{name}: {h.name} must be a number, got {given[h.name]!r}") from None
        ok, words = _CHECKS[h.check]
        if not (math.isfinite(value) and ok(value)):
            raise ValueError(f"{name}: {h.name} must be {words}, got {value:g}")
        kwargs[h.name] = int(value) if h.check == "count" else value
    return entry, kwargs


def step_lr(config, t: int | None) -> float:
    """The declared learning rate of the update that has ``t`` updates before it (config.lr when the run
    has no schedule or t is unknown): what every recomputation of a step uses."""
    parsed = parse_schedule(config.lr_schedule)
    if parsed is None or t is None:
        return config.lr
    schedule, hypers = parsed
    return schedule.manual(config.lr, **hypers)(int(t))


def penalty_args(config, layers) -> tuple | None:
    """(kind, lambda, convention, covered parameter names) of the run's --reg, or None. The course
    conventions cover the linear layers' weights (nnfs: and biases); torch's weight_decay every parameter."""
    from comparisons.config import parse_reg
    from manual.conventions import REG
    parsed = parse_reg(config.reg, config.reg_convention)
    if parsed is None:
        return None
    convention = config.reg_convention
    keys = ("weight", "bias") if REG[convention]["biases"] else ("weight",)
    names = [f"{s.name}.{k}" for s in layers for k in s.kind.init       # the kind's parameters (a side keeps
             if convention == "torch" or (s.kind.token == "linear" and k in keys)]   # those it has)
    return (*parsed, convention, names)

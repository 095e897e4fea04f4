"""Bring your own implementation: check a NumPy network without rewriting it.

The protocol (a class, loaded by ``--manual pkg.module:Class`` or ``--manual path/file.py:Class``)::

    class MyNetwork:
        # what the class is, all optional: each is the run's setting of the same name, so the class
        # need not be run with the flags (a flag that says otherwise is refused; a flag given at its
        # default value cannot be told from one not given: the declaration wins)
        model = "linear:100,relu,linear"   # its layers (README "Models"); default: the MLP of --hidden
        loss = "cross_entropy"             # the loss its forward computes
        reg = "l2:0.01"                    # the penalty its forward adds and its backward differentiates
        reg_convention = "cs231n"          # in which form (cs231n | dls | nnfs | torch)
        optimizer = "adam"                 # what its step() does (README "Optimizers")
        init = "normal:0.01"               # how its constructor draws weights (and init_bias, biases):
                                           # checked at step 0 before lockstep writes the shared init
        # conventions of its layers, mapped onto torch (manual/conventions.py)
        dropout_p = "drop"                 # "keep": a dropout token's P is the keep probability (cs231n)
        bn_momentum = "torch"              # "cs231n": batchnorm's momentum weighs the old running value
        bn_running_var = "unbiased"        # "biased": running_var follows np.var(x, axis=0) (cs231n)
        conv_layout = "nchw"               # "nhwc" (DLS, numpy-ml): images X (m, H, W, C), conv weights
                                           # (f, f, C_prev, C), conv biases (1, 1, 1, C), 4-D outputs and
                                           # dL/dx NHWC; every flatten orders features h, w, c (flatten:hwc)
        recurrent_bias = "two"             # "one" (cs231n, DLS): rnn/lstm layers have one bias b, not torch's
                                           # b_ih and b_hh (rnn:H:onebias; b is bias_ih_l0)
        # layouts, all optional (defaults shown)
        weight_layout = "out_in"   # or "in_out": W is (in, out), x @ W
        bias_shape = "flat"        # "flat" (n,), "row" (1, n), "column" (n, 1); buffers too
        samples = "rows"           # "rows": x is (N, D), sequences (N, T, D); "columns": x is (D, N),
                                   # sequences time last (D, N, T) (scores, outputs, dropout masks too)
        labels = "int"             # "int" (N,), or "onehot" (N, K) ((K, N) with samples as columns); for
                                   # sequences (N, T, K) ((K, N, T)), a masked step all zeros
        names = None               # {your name: torch name} for parameters and buffers, e.g.
                                   # {"W1": "fc1.weight", "bn1_mean": "bn1.running_mean"}; None: by order
                                   # (the old "hidden.weight"/"output.weight" names are still read)

        def __init__(self, sizes, config): ...       # sizes: the widths of the model's linear layers, e.g.
                                                     # (784, 1000, 10); config: comparisons.Config
        def parameters(self) -> dict: ...            # your arrays (lockstep writes the shared init into them)
        def forward(self, x, y) -> tuple: ...        # (loss, scores): scores are logits or probabilities
        def backward(self) -> dict: ...              # gradients, same keys and shapes as parameters()
        # required when the model has dropout or batchnorm, which train and evaluate differently
        def mode(self, training, masks) -> None: ... # called before every forward: training True with the
                                                     # step's dropout keep masks {"drop1": bool array shaped
                                                     # like that layer's input} (use them, draw none), or
                                                     # False (evaluation) with {}
        def buffers(self) -> dict: ...               # required with batchnorm: the running statistics, read
                                                     # after every step (new arrays each time are fine)
        # optional
        def step(self, grads) -> None: ...           # your optimizer (declare which: optimizer = "adam:eps=1e-7");
                                                     # without it lockstep's --optimizer updates your arrays
        def optimizer_state(self) -> dict: ...       # with step(): your optimizer's state, {"W1.exp_avg": array,
                                                     # "W1.step": t, ...}: your parameter's name, torch's state name,
                                                     # in the units of lockstep's class for the run's --optimizer
                                                     # (manual/optim.py: a cs231n velocity is -lr * buf, ...)
        def velocity(self) -> dict: ...              # or, for the assignment's momentum, its velocity (p <- p - v)
        def intermediates(self) -> dict: ...         # per layer, compared every step and used to localise a
                                                     # failure: "fc1.out" (each layer's output), "fc2.dx"
                                                     # (dL/d its input, after backward), "loss.dx" (dL/dscores);
                                                     # old names read too: "hidden.pre", "hidden.act", "logits",
                                                     # "dlogits", "probs"

Everything is adapted with views (transposes, reshapes): nothing is copied,
and writes into the adapted parameters land in your arrays. Messages and steps.csv's
``yours`` column name your arrays beside torch's (``fc1.weight`` ... ``your W1[515, 45]``).
"""
import copy
import dataclasses
import importlib
import importlib.util
import inspect
import os
import sys
from pathlib import Path

import numpy as np

from comparisons import heartbeat
from comparisons.config import Config
from comparisons.errors import InputError, UserCodeError, describe, setting
from comparisons.registry import build_optimizer, parse_optimizer
from comparisons.sides.aliasing import Shared, shared
from manual.conventions import CONV_BIAS, CONV_LAYOUT, SAMPLE_AXES

LAYOUTS = {"weight_layout": ("out_in", "in_out"), "bias_shape": ("flat", "row", "column"),
           "samples": ("rows", "columns"), "labels": ("int", "onehot")}
BUILTIN = {"seed": "manual.seed:SeedNetwork"}
REQUIRED = ("parameters", "forward", "backward")
# class attributes that declare the Config field of the same name
DECLARED = ("model", "loss", "reg", "reg_convention", "optimizer", "init", "init_bias")
# Layer conventions a class declares, each mapped onto the flag its tokens take in the spec (registry
# KINDS; the flag's mapping onto torch is declared in manual/conventions.py): {attribute: (kind,
# {value: flag ("" = the token as written)})}.
CONVENTIONS = {"dropout_p": ("dropout", {"drop": "", "keep": "keep"}),
               "bn_momentum": ("batchnorm", {"torch": "", "cs231n": "cs231n"}),
               "bn_running_var": ("batchnorm", {"unbiased": "", "biased": "biased"}),
               "conv_layout": ("flatten", {"nchw": "", "nhwc": "hwc"}),
               "recurrent_bias": (("rnn", "lstm"), {"two": "", "one": "onebias"})}


def declared(config: Config, cls) -> Config:
    """``config`` with what ``cls`` declares (DECLARED, CONVENTIONS); InputError for a declaration that
    is not a string of the known values, or that a setting given to the run contradicts."""
    from comparisons.spec import canonical, mlp
    defaults, changes, who = Config(), {}, cls.__name__
    for name in DECLARED:
        value = getattr(cls, name, None)
        if value is None:
            continue
        if not isinstance(value, str) or not value.strip():
            raise InputError(f"{who}.{name} must be a non-empty string, got {value!r}")
        given = getattr(config, name)
        if name != "model" and given not in (getattr(defaults, name), value):
            raise InputError(f"{who}.{name} = {value!r}, but the run is given {name} {given!r}: give it once")
        changes[name] = value
    if "model" in changes and config.hidden != defaults.hidden and not config.model:
        raise InputError(f"{who}.model = {changes['model']!r} fixes the layers; leave {setting('hidden')} out")
    ours, given = changes.pop("model", None), config.model
    for attr, (kind, table) in CONVENTIONS.items():
        value = getattr(cls, attr, None)
        if value is None:
            continue
        if not isinstance(value, str) or value not in table:
            raise InputError(f"{who}.{attr} = {value!r}; choose from {', '.join(table)}")
        if ours:
            ours = _with_convention(ours, kind, table, value, f"{who}.{attr}")
        given = _with_convention(given or mlp(config.hidden), kind, table, value, f"{who}.{attr}")
    if ours and config.model and canonical(ours) != canonical(given):
        raise InputError(f"{who}.model = {getattr(cls, 'model')!r}, but the run is given model {config.model!r}: "
                         f"give it once")
    model = ours or given
    if model != config.model:
        changes["model"] = model
    return dataclasses.replace(config, **changes) if changes else config


def _with_convention(model: str, kind: str | tuple, table: dict, value: str, who: str) -> str:
    """The spec with every token of ``kind`` (a kind or a tuple of kinds) carrying ``table[value]``'s flag;
    InputError if a token carries another value's flag."""
    tokens = []
    for token in model.split(","):
        head, *args = token.strip().split(":")
        if head.lower() in ((kind,) if isinstance(kind, str) else kind):
            others = [f for v, f in table.items() if f and v != value and f in args]
            if others:
                raise InputError(f"model token {token.strip()!r} says {others[0]}, but {who} = {value!r}")
            if table[value] and table[value] not in args:
                args.append(table[value])
        tokens.append(":".join([head, *args]))
    return ",".join(tokens)


def _import(module_name: str):
    """A module by dotted name (the working directory is searched too) or by file path (``x/y.py``,
    whose folder is put on sys.path so its own imports of neighbour files work). A file is imported
    again once it changed (size or modification time): a notebook that rewrites it with %%writefile and
    runs again checks the new code."""
    if module_name.endswith(".py"):
        path = Path(module_name).resolve()
        if not path.is_file():
            raise FileNotFoundError(f"no file {module_name}")
        if str(path.parent) not in sys.path:
            sys.path.insert(0, str(path.parent))
        version = path.stat()
        name = f"lockstep_byo_{abs(hash((str(path), version.st_mtime_ns, version.st_size)))}"
        if name not in sys.modules:
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            try:
                spec.loader.exec_module(module)
            except BaseException:
                del sys.modules[name]
                raise
        return sys.modules[name]
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    return importlib.import_module(module_name)


def absolute(spec: str) -> str:
    """``path/file.py:Class`` with the file's absolute path (the config records it: a relative one means
    nothing in a CI artifact); other forms as given."""
    module_name, sep, class_name = spec.rpartition(":")
    if sep and module_name.endswith(".py") and Path(module_name).is_file():
        return f"{Path(module_name).resolve()}:{class_name}"
    return spec


def load_class(spec: str):
    """``pkg.module:Class``, ``path/file.py:Class`` or a BUILTIN name -> the class;
    InputError naming what is missing."""
    spec = BUILTIN.get(spec, spec)
    module_name, sep, class_name = spec.rpartition(":")
    if not sep or not module_name or not class_name:
        raise InputError(f"{setting('manual', spec, quoted=True)}: expected 'builtin', 'seed', pkg.module:Class or "
                         "path/file.py:Class")
    heartbeat.current.calling(f"importing {module_name}")
    try:
        module = _import(module_name)
    except (Exception, SystemExit) as e:    # noqa: BLE001 - any import failure is the user's module: one line
        raise InputError(f"{setting('manual', spec)}: cannot import {module_name}: {describe(e)}") from None
    cls = getattr(module, class_name, None)
    if not inspect.isclass(cls):
        raise InputError(f"{setting('manual', spec)}: {module_name} has no class {class_name}")
    missing = [m for m in REQUIRED if not callable(getattr(cls, m, None))]
    if missing:
        raise InputError(f"{setting('manual', spec)}: {class_name} has no method {', '.join(missing)} "
                         f"(needs {', '.join(REQUIRED)}; see comparisons/sides/byo.py)")
    for attr, choices in LAYOUTS.items():
        value = getattr(cls, attr, choices[0])
        if value not in choices:
            raise InputError(f"{setting('manual', spec)}: {class_name}.{attr} = {value!r}; choose from {', '.join(choices)}")
    return cls


def legacy_name(name: str, n_linear: int) -> str:
    """The MLP's old layer names, ``hidden``/``hidden2``/``output`` (+ ``.pre``/``.act``), as today's."""
    layer, _, rest = name.partition(".")
    if layer == "output":
        return f"fc{n_linear}.{rest}" if rest not in ("pre", "act") else name
    if layer.startswith("hidden"):
        i = int(layer[6:] or 1) if layer[6:].isdigit() or not layer[6:] else None
        if i is None:
            return name
        if rest == "pre":
            return f"fc{i}.out"
        if rest == "act":
            return f"relu{i}.out"
        return f"fc{i}.{rest}"
    return name


class ByoSide:
    """A user's network seen as a manual side: torch names, (out, in) weights, (n,) biases,
    samples as rows, integer labels. ``params`` and ``state`` are views of the class's arrays;
    ``grads``, ``outputs`` and ``input_grads`` are copies taken at each step."""

    name = "manual"

    def __init__(self, cls, layers, config: Config, probe=None, init: dict | None = None):
        self.cls_name = cls.__name__
        self.layout = {attr: getattr(cls, attr, choices[0]) for attr, choices in LAYOUTS.items()}
        self.conv = CONV_LAYOUT.get(getattr(cls, "conv_layout", "nchw"), CONV_LAYOUT["nchw"])
        self.conv_nhwc = self.conv is CONV_LAYOUT["nhwc"]
        self.dtype = np.dtype(config.dtype)
        self.layers = layers
        built = [(s, s.kind.manual(**s.kwargs, dtype=self.dtype)) for s in layers]
        self.expected = {f"{s.name}.{k}": p.shape for s, m in built for k, p in m.params.items()}
        self.expected_buffers = {f"{s.name}.{k}": b.shape for s, m in built for k, b in m.buffers.items()}
        self.conv_params = {f"{s.name}.{k}" for s, m in built if s.kind.token == "conv" for k in m.params}
        self.dropouts = [s for s in layers if s.kind.token == "dropout" and s.kwargs["p"] > 0]
        self.stateful = [s.name for s in self.dropouts] + [s.name for s in layers if s.kind.token == "batchnorm"]
        self.n_linear = sum(1 for s in layers if s.kind.token == "linear")
        self.out_shape = tuple(layers[-1].out_shape)      # per sample: (K,), or (T, K) for sequences
        sizes = tuple([layers[0].in_shape[0]] + [s.out_shape[0] for s in layers if s.kind.token == "linear"])
        heartbeat.current.calling(f"{self.cls_name}()")
        try:
            self.net = cls(sizes, config)
        except (Exception, SystemExit) as e:    # noqa: BLE001 - the user's constructor: one line
            raise InputError(f"{self.cls_name}({sizes}, config) failed: {describe(e)}") from None
        self.has_mode = callable(getattr(self.net, "mode", None))
        if self.stateful and not self.has_mode:
            raise InputError(f"{self.cls_name} has no mode(training, masks): the model's {', '.join(self.stateful)} "
                             f"train and evaluate differently (comparisons/sides/byo.py)")
        user = self._call("parameters")
        names = getattr(cls, "names", None)
        buffer_names = {}
        if isinstance(names, dict):      # the entries naming buffers, apart
            buffer_names = {k: v for k, v in names.items() if v in self.expected_buffers}
            names = {k: v for k, v in names.items() if k not in buffer_names}
        self.to_torch = self._name_map(names, user, list(self.expected))
        self._require_live("parameters")
        self.has_buffers = callable(getattr(self.net, "buffers", None))
        if self.expected_buffers and not self.has_buffers:
            raise InputError(f"{self.cls_name} has no buffers(): the model keeps {', '.join(self.expected_buffers)}, "
                             f"compared every step (comparisons/sides/byo.py)")
        self.buffer_to_torch = self._buffer_names(buffer_names) if self.expected_buffers else {}
        self.yours = {t: u for u, t in {**self.to_torch, **self.buffer_to_torch}.items()}   # torch name -> yours
        self.own_step = callable(getattr(self.net, "step", None))
        self.has_velocity = callable(getattr(self.net, "velocity", None))
        self.has_opt_state = callable(getattr(self.net, "optimizer_state", None))
        entry, hypers = parse_optimizer(config.optimizer, config)
        if self.own_step and not self.has_opt_state and entry.cls not in ("SGDMomentum", "SGD"):
            raise InputError(f"{self.cls_name} has its own step() but no optimizer_state(): the state of its "
                             f"{entry.name} cannot be compared; add optimizer_state() (comparisons/sides/byo.py), or "
                             f"drop step() to have lockstep's {entry.token} update your parameters")
        if self.own_step and config.lr_schedule:
            raise InputError(f"{self.cls_name} has its own step(): lockstep cannot give it the learning-rate "
                             f"schedule {config.lr_schedule!r} nor read the lr it uses; drop step() to have "
                             f"lockstep's optimizer apply the schedule, or leave {setting('lr_schedule')} out")
        self.momentum = hypers.get("momentum", 0.0)     # sgd keeps no velocity
        if self.has_velocity and not self.has_opt_state:
            self._require_live("velocity")
        elif self.own_step and self.momentum != 0 and not self.has_opt_state:
            raise InputError(f"{self.cls_name} has its own step() but no velocity(): its optimizer state cannot "
                             f"be compared (momentum {self.momentum:g}); add velocity() or run with {setting('momentum', 0)}")
        self.opt = None if self.own_step else build_optimizer(config, self.params, "manual")
        # the declared state before the first step, in manual units: what a class that makes its state on its
        # first step (cs231n's config.get("velocity", zeros)) is taken to start from; step 1 checks it
        self.declared_state = build_optimizer(config, {k: np.zeros_like(v) for k, v in self.params.items()},
                                              "manual").state if self.has_opt_state else {}
        self.steps_taken = 0
        self.reduction = config.reduction
        self.grads: dict[str, np.ndarray] = {}
        self.outputs: dict[str, np.ndarray] = {}
        self.input_grads: dict[str, np.ndarray] = {}
        self.extra: dict[str, np.ndarray] = {}      # intermediates with no row of their own ("probs")
        self.exposed: dict[str, np.ndarray] = {}    # the arrays intermediates() last gave (not copies)
        self.shared: list[Shared] = []    # intermediates that may hold one memory (sides/aliasing.py)
        if probe is not None:
            self.probe(*probe)
        # the class's own initialisation, in torch's layout, before anything is written into it
        self.user_init = {k: np.array(v, dtype=np.float64) for k, v in self.params.items()}
        if init is not None:
            for name, value in init.items():
                np.copyto(self.params[name], value)

    def _require_live(self, method: str) -> None:
        """lockstep writes into what parameters()/velocity() return: they must be the class's own arrays."""
        first, again = self._call(method), self._call(method)
        if not isinstance(first, dict) or any(not np.shares_memory(first[k], again[k]) for k in first):
            raise InputError(f"{self.cls_name}.{method}() must return the class's own arrays, not copies "
                             f"(lockstep writes the shared initialisation and judges steps through them)")

    def probe(self, x: np.ndarray, y: np.ndarray) -> None:
        """One forward, backward and (the class's own) step on a few samples, before anything is
        written: a class whose code fails or whose outputs do not fit is refused up front, as bad
        input. Nothing of the class changes: the probe runs on a deep copy of the object (the
        running statistics a training forward moves are the copy's), or, if the object cannot be
        copied, on the object itself with its parameters and velocity restored after its step.
        Dropout keeps every unit in the probe: no mask of the run's is drawn."""
        try:
            net = copy.deepcopy(self.net)
        except Exception:      # noqa: BLE001 - an attribute that does not copy (a module, a file...)
            net = None
        keep_all = {s.name: np.ones((len(x), *s.in_shape), bool) for s in self.dropouts}
        self._forward(x, y, training=True, masks=keep_all, net=net)
        user_grads = self._call("backward", net=net)
        self._adapt(user_grads, "backward()")
        if self.has_buffers:
            self._adapt_buffers(self._call("buffers", net=net))
        if not self.own_step:
            return
        if net is not None:
            self._call("step", user_grads, net=net)
            if self.has_opt_state:       # its keys and shapes fit, or the run is refused now
                self._adapt_state(self._call("optimizer_state", net=net))
            return
        try:
            twin, grads = copy.deepcopy((self.net, user_grads))
        except Exception:      # noqa: BLE001 - an attribute that does not copy (a module, a file...)
            saved = ({k: v.copy() for k, v in self.params.items()}, {k: v.copy() for k, (v, _) in self.state.items()})
            try:
                self._call("step", user_grads)
            finally:       # into the arrays the class holds now (a step may have bound new ones)
                for k, live in self.params.items():
                    np.copyto(live, saved[0][k])
                for k, (live, _) in self.state.items():
                    np.copyto(live, saved[1][k])
            return
        self._call("step", grads, net=twin)

    def _buffer_names(self, given: dict) -> dict[str, str]:
        """{your buffer name: torch's} from ``names``' buffer entries, or buffers() keyed by torch's names."""
        if given:
            missing = sorted(set(self.expected_buffers) - set(given.values()))
            if missing:
                raise InputError(f"{self.cls_name}.names maps no buffer onto {', '.join(missing)}")
            return given
        return {name: name for name in self.expected_buffers}

    def _adapt_buffers(self, arrays) -> dict[str, np.ndarray]:
        if not isinstance(arrays, dict) or set(arrays) != set(self.buffer_to_torch):
            keys = sorted(arrays) if isinstance(arrays, dict) else type(arrays).__name__
            raise InputError(f"{self.cls_name}: buffers() keys {keys}, expected {sorted(self.buffer_to_torch)}")
        return {self.buffer_to_torch[k]: self._to_torch_layout(k, v, "buffers()", self.buffer_to_torch)
                for k, v in arrays.items()}

    # --- adapting names and layouts ---------------------------------------------------

    def _name_map(self, names, user: dict, torch_names: list[str]) -> dict[str, str]:
        if not isinstance(user, dict) or not all(isinstance(v, np.ndarray) for v in user.values()):
            raise InputError(f"{self.cls_name}.parameters() must return a dict of NumPy arrays")
        if names is None:
            if len(user) != len(torch_names):
                raise InputError(f"{self.cls_name}.parameters() has {len(user)} arrays ({', '.join(user)}), "
                                 f"expected {len(torch_names)} ({', '.join(torch_names)}); set `names`")
            names = dict(zip(user, torch_names))
        if isinstance(names, dict):
            names = {k: legacy_name(v, self.n_linear) if isinstance(v, str) else v for k, v in names.items()}
        if not isinstance(names, dict) or len(set(names.values())) != len(names):
            raise InputError(f"{self.cls_name}.names must be a dict mapping each of your names to a different "
                             f"torch name ({', '.join(torch_names)})")
        unknown = sorted(set(names.values()) - set(torch_names))
        unmapped = sorted(set(torch_names) - set(names.values()))
        if unknown or unmapped or set(names) != set(user):
            raise InputError(f"{self.cls_name}.names does not map parameters() onto {', '.join(torch_names)}: "
                             f"unknown {unknown or '-'}, unmapped {unmapped or '-'}, "
                             f"parameters {sorted(user)} vs names {sorted(names)}")
        return dict(names)

    def _to_torch_layout(self, user_name: str, array, what: str, names: dict | None = None) -> np.ndarray:
        """A view of one user array in torch's layout; InputError if its shape does not fit."""
        name = (names or self.to_torch)[user_name]
        want = self.expected.get(name) or self.expected_buffers[name]
        if not isinstance(array, np.ndarray):
            raise InputError(f"{self.cls_name}: {what} {user_name!r} is {type(array).__name__}, not a NumPy array")
        if len(want) == 4:          # a conv weight: (F, C, HH, WW) in torch
            perm = self.conv["weight"]
            declared, layout = _unpermuted(want, perm), ("nhwc" if self.conv_nhwc else "nchw")
            view = array.transpose(perm) if array.shape == declared else array
        elif self.conv_nhwc and name in self.conv_params:      # a conv bias: (1, 1, 1, C)
            declared, layout = tuple(want[0] if d == "C" else d for d in CONV_BIAS["nhwc"]), "nhwc"
            view = array.reshape(want) if array.shape == declared else array
        elif len(want) == 2:
            in_out = self.layout["weight_layout"] == "in_out"
            view = array.T if in_out else array
            declared, layout = (want[::-1] if in_out else want), self.layout["weight_layout"]
        else:
            declared = {"flat": want, "row": (1, *want), "column": (*want, 1)}[self.layout["bias_shape"]]
            view, layout = (array.reshape(want) if array.shape == declared else array), self.layout["bias_shape"]
        if array.shape != declared:
            hint = " (transposed?)" if array.shape == declared[::-1] else ""
            if len(want) == 4 or (self.conv_nhwc and name in self.conv_params):
                other = "nchw" if self.conv_nhwc else "nhwc"
                theirs = (_unpermuted(want, CONV_LAYOUT[other]["weight"]) if len(want) == 4 else
                          tuple(want[0] if d == "C" else d for d in CONV_BIAS[other]))
                hint = (f" (that is the {other} layout: declare conv_layout = {other!r}?)" if array.shape == theirs
                        else "")
            raise InputError(f"{self.cls_name}: {what} {user_name!r} has shape {array.shape}, expected {declared} "
                             f"for {name} ({layout} layout){hint}")
        if array.dtype != self.dtype:
            raise InputError(f"{self.cls_name}: {what} {user_name!r} is {array.dtype}, the run is {self.dtype}")
        return view

    def _adapt(self, arrays, what: str) -> dict[str, np.ndarray]:
        if not isinstance(arrays, dict) or set(arrays) != set(self.to_torch):
            keys = sorted(arrays) if isinstance(arrays, dict) else type(arrays).__name__
            raise InputError(f"{self.cls_name}: {what} keys {keys} differ from parameters() {sorted(self.to_torch)}")
        adapted = {self.to_torch[k]: self._to_torch_layout(k, v, what) for k, v in arrays.items()}
        return {name: adapted[name] for name in self.expected}

    def _call(self, method: str, *args, net=None):
        """The class's ``method``. Whatever its code raises, or a ``sys.exit`` in it, becomes a
        UserCodeError naming the call: bad input before the run starts, a failed run after
        (comparisons.lockstep.run). A KeyboardInterrupt (an interruption) passes through."""
        heartbeat.current.calling(f"{method}()")
        try:
            return getattr(self.net if net is None else net, method)(*args)
        except InputError:
            raise
        except (Exception, SystemExit) as e:    # noqa: BLE001 - the user's code failed: one line naming the call
            raise UserCodeError(self.cls_name, method, e) from None

    def _inputs(self, x: np.ndarray, y: np.ndarray):
        if self.layout["labels"] == "onehot":     # a masked step (SEQUENCE_PAD, -1) matches no class: zeros
            y = (y[..., None] == np.arange(self.out_shape[-1])).astype(self.dtype)
        return self._to_course(x), (self._to_course(y) if np.issubdtype(y.dtype, np.floating) else y)

    def _axes(self, ndim: int) -> tuple | None:
        """The permutation from torch's layout of an ndim-array with the batch first to the class's."""
        if ndim == 4:
            return tuple(np.argsort(self.conv["activation"]))
        return SAMPLE_AXES[self.layout["samples"]].get(ndim)

    def _to_course(self, a: np.ndarray) -> np.ndarray:
        """Torch's layout (batch first, NCHW) -> the class's samples / conv_layout (a view)."""
        axes = self._axes(a.ndim)
        return a if axes is None else a.transpose(axes)

    def _from_course(self, a: np.ndarray) -> np.ndarray:
        axes = self._axes(a.ndim)
        return a if axes is None else a.transpose(np.argsort(axes))

    def _forward(self, x, y, training: bool = True, masks: dict | None = None, net=None) -> tuple[float, np.ndarray]:
        """The class's forward, after mode(training, masks) when it has one (masks in its sample layout)."""
        if self.has_mode:
            given = {k: self._to_course(m) for k, m in (masks or {}).items()}
            self._call("mode", training, given, net=net)
        out = self._call("forward", *self._inputs(x, y), net=net)
        if not (isinstance(out, tuple) and len(out) == 2):
            raise InputError(f"{self.cls_name}.forward() must return (loss, scores), got {type(out).__name__}")
        loss, scores = out
        try:
            loss = float(loss)
        except (TypeError, ValueError):
            raise InputError(f"{self.cls_name}.forward() must return a scalar loss, got "
                             f"{type(loss).__name__} of shape {np.shape(loss)}") from None
        scores = self._from_course(np.array(scores, copy=True))   # a backward editing them must not change ours
        if scores.shape != (len(x), *self.out_shape):
            raise InputError(f"{self.cls_name}.forward() returned scores of shape {scores.shape}, expected "
                             f"{(len(x), *self.out_shape)} (samples as {self.layout['samples']})")
        return loss, scores

    def _own_state(self) -> dict[str, np.ndarray]:
        """optimizer_state(), with what the class does not keep filled in: before its first step the
        declared initial state of a key it has not made yet; after, a step counter it does not keep
        (cs231n's rmsprop has none) as the number of its step() calls."""
        own = self._adapt_state(self._call("optimizer_state"))
        counters = {k: np.array(float(self.steps_taken)) for k in self.declared_state if k.endswith(".step")}
        return ({**self.declared_state, **own} if self.steps_taken == 0 else {**counters, **own})

    def _adapt_state(self, arrays) -> dict[str, np.ndarray]:
        """optimizer_state()'s ``{"W1.exp_avg": array, "W1.step": 3, ...}`` keyed and laid out as torch's
        (``fc1.weight.exp_avg``); a step counter may be any number (a 0-d float64 array here)."""
        if not isinstance(arrays, dict):
            raise InputError(f"{self.cls_name}.optimizer_state() must return a dict, got {type(arrays).__name__}")
        out = {}
        for key, value in arrays.items():
            user, _, what = str(key).rpartition(".")
            if user not in self.to_torch or not what:
                raise InputError(f"{self.cls_name}.optimizer_state() key {key!r} is not '<parameter>.<state>' with one "
                                 f"of your parameters ({', '.join(self.to_torch)}) and a torch state name "
                                 f"(momentum_buffer, exp_avg, exp_avg_sq, square_avg, sum, step)")
            if what == "step" and np.ndim(value) == 0:
                out[f"{self.to_torch[user]}.step"] = np.array(float(value))
            else:
                out[f"{self.to_torch[user]}.{what}"] = self._to_torch_layout(user, value, f"optimizer_state() {key!r} of")
        return out

    def your_name(self, name: str) -> str:
        """Your name for a parameter, buffer or optimizer-state key (``fc1.weight.exp_avg`` ->
        ``W1.exp_avg``); "" for anything else (a layer's output)."""
        base = name if name in self.yours else name.rsplit(".", 1)[0]
        return self.yours[base] + name[len(base):] if base in self.yours else ""

    def your_index(self, name: str, index: tuple) -> tuple:
        """An index into torch's layout of ``name`` (a parameter, buffer or state key) as one into your array."""
        base = name if name in self.yours else name.rsplit(".", 1)[0]
        if len(index) == 4:
            return _unpermuted(index, self.conv["weight"])
        if len(index) == 1 and self.conv_nhwc and base in self.conv_params:
            return (0, 0, 0, *index)
        if len(index) == 2 and self.layout["weight_layout"] == "in_out":
            return index[::-1]
        if len(index) == 1 and self.layout["bias_shape"] != "flat" and base in self.yours:
            return (0, *index) if self.layout["bias_shape"] == "row" else (*index, 0)
        return index

    # --- the manual-side interface ---------------------------------------------------

    @property
    def params(self) -> dict[str, np.ndarray]:
        return self._adapt(self._call("parameters"), "parameters()")

    @property
    def state(self) -> dict[str, tuple[np.ndarray, float]]:
        """The optimizer state in the assignment's units: lockstep's own optimizer's, or velocity()."""
        if self.opt is not None:
            return {k: (v, 1.0) for k, v in self.opt.state.items()}
        if self.has_opt_state:
            return {k: (v, 1.0) for k, v in self._own_state().items()}
        if self.has_velocity and self.momentum:    # without momentum the velocity is lr * g: no state to keep
            return {f"{k}.momentum_buffer": (v, 1.0) for k, v in self._adapt(self._call("velocity"), "velocity()").items()}
        return {}

    @property
    def buffers(self) -> dict[str, np.ndarray]:
        """The running statistics, from buffers() (copies: the class may rebind its arrays each step)."""
        if not self.has_buffers:
            return {}
        return {k: np.array(v) for k, v in self._adapt_buffers(self._call("buffers")).items()}

    def load_state(self, values: dict) -> None:
        """Write optimizer state (manual units, keyed like ``state``) into the class's arrays."""
        for key, (live, _) in self.state.items():
            np.copyto(live, values[key])

    def train_step(self, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        masks = {s.name: s.kwargs["mask"].keep((len(x), *s.in_shape), s.kwargs["p"]) for s in self.dropouts}
        loss, scores = self._forward(x, y, training=True, masks=masks)
        self.outputs, self.input_grads = {}, {}
        self._collect(self.intermediates(), "out")          # layer outputs as the forward left them
        user_grads = self._call("backward")
        self.grads = {k: np.array(v) for k, v in self._adapt(user_grads, "backward()").items()}
        self._collect(self.intermediates(), "dx")           # dL/dx values, set in backward()
        if self.own_step:
            self._call("step", user_grads)
            self.steps_taken += 1
        else:
            self.opt.step(self.grads)
        return loss, scores

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        """(loss as a mean over the samples, scores): the class's loss follows the run's reduction,
        so a summed loss is divided by N to compare with torch's evaluation."""
        loss, scores = self._forward(x, y, training=False)
        self.outputs = {}
        self._collect(self.intermediates(), "out")
        return (loss / len(x) if self.reduction == "sum" else loss), scores

    def intermediates(self) -> dict[str, np.ndarray]:
        """What the class exposes, keyed by today's names, samples as rows (copies). The arrays themselves
        are kept in ``self.exposed`` until the next call (which of them are one array: sides/aliasing.py)."""
        if not callable(getattr(self.net, "intermediates", None)):
            return {}
        found = self._call("intermediates")
        if not isinstance(found, dict):
            raise InputError(f"{self.cls_name}.intermediates() must return a dict, got {type(found).__name__}")
        last = self.layers[-1].name
        renamed = {"logits": f"{last}.out", "dlogits": "loss.dx"}
        out = {}
        self.exposed = {}
        for key, value in found.items():
            key = renamed.get(key, legacy_name(key, self.n_linear))
            if isinstance(value, np.ndarray):
                self.exposed[key] = value
            out[key] = self._from_course(np.array(value, copy=True))
        return out

    def _collect(self, found: dict, part_wanted: str) -> None:
        """Sort exposed intermediates into layer outputs (``part_wanted`` "out": as the forward left them)
        or input gradients ("dx": after the backward) and the rest (shapes checked); which of them the
        class may hold in one memory (``shared``, sides/aliasing.py: outputs with outputs, dL/dx with dL/dx;
        the outputs were copied before the backward, which cannot write over them)."""
        names = [s.name for s in self.layers] + ["loss"]
        raw = {}
        for key, value in found.items():
            layer, _, part = key.rpartition(".")
            if layer in names and part in ("out", "dx") and np.issubdtype(value.dtype, np.floating):
                if part != part_wanted:
                    continue
                target = self.outputs if part == "out" else self.input_grads
                target[layer] = value.astype(self.dtype, copy=False)
                if key in self.exposed:
                    raw[layer] = self.exposed[key]
            else:
                self.extra[key] = value
        made = names if part_wanted == "out" else names[::-1]       # dL/dx from the loss down
        pairs = shared({(part_wanted, k): raw[k] for k in made if k in raw}, own=self._to_course)
        self.shared = [s for s in self.shared if s.earlier[0] != part_wanted] + pairs


def _unpermuted(torch_shape: tuple, perm: tuple) -> tuple:
    """The course's shape (or index) whose transpose by ``perm`` is torch's ``torch_shape``."""
    out = [0] * len(perm)
    for k, axis in enumerate(perm):
        out[axis] = torch_shape[k]
    return tuple(out)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)

"""Bring your own implementation: check a NumPy network without rewriting it.

The protocol (a class, loaded by ``--manual pkg.module:Class``)::

    class MyNetwork:
        # layout declarations, all optional (defaults shown)
        weight_layout = "out_in"   # or "in_out": W is (in, out), x @ W
        bias_shape = "flat"        # "flat" (n,), "row" (1, n), "column" (n, 1)
        samples = "rows"           # "rows": x is (N, D); "columns": x is (D, N)
        labels = "int"             # "int" (N,), or "onehot" (N, K) ((K, N) with samples as columns)
        names = None               # {your name: torch name}, e.g. {"W1": "hidden.weight"}; None: by order

        def __init__(self, sizes, config): ...       # sizes e.g. (784, 1000, 10); config: comparisons.Config
        def parameters(self) -> dict: ...            # your arrays (lockstep writes the shared init into them)
        def forward(self, x, y) -> tuple: ...        # (loss, scores): scores are logits or probabilities
        def backward(self) -> dict: ...              # gradients, same keys and shapes as parameters()
        # optional
        def step(self, grads) -> None: ...           # your optimizer; without it lockstep's SGD momentum is used
        def velocity(self) -> dict: ...              # your optimizer state, in the assignment's form (p <- p - v)
        def intermediates(self) -> dict: ...         # after forward, for diagnosis: "hidden.pre", "hidden.act",
                                                     # "logits", "probs", "dlogits" (after backward)

Everything is adapted with views (transposes, reshapes): nothing is copied,
and writes into the adapted parameters land in your arrays.
"""
import importlib
import importlib.util
import inspect
import os
import sys
from pathlib import Path

import numpy as np

import manual
from comparisons.config import Config
from comparisons.sides.builtin import StateCopies
from comparisons.errors import InputError

LAYOUTS = {"weight_layout": ("out_in", "in_out"), "bias_shape": ("flat", "row", "column"),
           "samples": ("rows", "columns"), "labels": ("int", "onehot")}
BUILTIN = {"seed": "manual.seed:SeedNetwork"}
REQUIRED = ("parameters", "forward", "backward")


def _import(module_name: str):
    """A module by dotted name (the working directory is searched too) or by file path (``x/y.py``,
    whose folder is put on sys.path so its own imports of neighbour files work)."""
    if module_name.endswith(".py"):
        path = Path(module_name).resolve()
        if not path.is_file():
            raise FileNotFoundError(f"no file {module_name}")
        if str(path.parent) not in sys.path:
            sys.path.insert(0, str(path.parent))
        name = f"lockstep_byo_{abs(hash(str(path)))}"
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


def load_class(spec: str):
    """``pkg.module:Class``, ``path/file.py:Class`` or a BUILTIN name -> the class;
    InputError naming what is missing."""
    spec = BUILTIN.get(spec, spec)
    module_name, sep, class_name = spec.rpartition(":")
    if not sep or not module_name or not class_name:
        raise InputError(f"--manual {spec!r}: expected 'builtin', 'seed', pkg.module:Class or path/file.py:Class")
    try:
        module = _import(module_name)
    except Exception as e:    # noqa: BLE001 - any import failure is the user's module: say so in one line
        raise InputError(f"--manual {spec}: cannot import {module_name}: {type(e).__name__}: {e}") from None
    cls = getattr(module, class_name, None)
    if not inspect.isclass(cls):
        raise InputError(f"--manual {spec}: {module_name} has no class {class_name}")
    missing = [m for m in REQUIRED if not callable(getattr(cls, m, None))]
    if missing:
        raise InputError(f"--manual {spec}: {class_name} has no method {', '.join(missing)} "
                         f"(needs {', '.join(REQUIRED)}; see comparisons/sides/byo.py)")
    for attr, choices in LAYOUTS.items():
        value = getattr(cls, attr, choices[0])
        if value not in choices:
            raise InputError(f"--manual {spec}: {class_name}.{attr} = {value!r}; choose from {', '.join(choices)}")
    return cls


class ByoSide(StateCopies):
    """A user's network seen as a manual side: torch names, (out, in) weights, (n,) biases,
    samples as rows, integer labels. ``params``/``grads``/``velocity()`` are views."""

    name = "manual"

    def __init__(self, cls, sizes: tuple[int, ...], config: Config, init: dict[str, np.ndarray]):
        self.cls_name = cls.__name__
        self.layout = {attr: getattr(cls, attr, choices[0]) for attr, choices in LAYOUTS.items()}
        self.n_classes = sizes[-1]
        self.dtype = np.dtype(config.dtype)
        try:
            self.net = cls(tuple(sizes), config)
        except Exception as e:    # noqa: BLE001
            raise InputError(f"{self.cls_name}({tuple(sizes)}, config) failed: {type(e).__name__}: {e}") from None
        user = self._call("parameters")
        self.to_torch = self._name_map(getattr(cls, "names", None), user, list(init))
        self.expected = {name: p.shape for name, p in init.items()}
        self._require_live("parameters")
        if callable(getattr(self.net, "velocity", None)):
            self._require_live("velocity")
        for name, value in init.items():            # the shared initialisation, written into the user's arrays
            np.copyto(self.params[name], value)
        self.own_step = callable(getattr(self.net, "step", None))
        self.opt = None if self.own_step else manual.SGDMomentum(self.params, config.lr, config.momentum,
                                                                 config.init_velocity)
        self.reduction = config.reduction
        self.grads: dict[str, np.ndarray] = {}

    def _require_live(self, method: str) -> None:
        """lockstep writes into what parameters()/velocity() return: they must be the class's own arrays."""
        first, again = self._call(method), self._call(method)
        if not isinstance(first, dict) or any(not np.shares_memory(first[k], again[k]) for k in first):
            raise InputError(f"{self.cls_name}.{method}() must return the class's own arrays, not copies "
                             f"(lockstep writes the shared initialisation and replays steps through them)")

    def probe(self, x: np.ndarray, y: np.ndarray) -> None:
        """One forward and backward on a few samples, before anything is written: a class whose
        outputs do not fit is refused up front (its parameters are not changed)."""
        self._forward(x, y)
        self._adapt(self._call("backward"), "backward()")

    # --- adapting names and layouts ---------------------------------------------------

    def _name_map(self, names, user: dict, torch_names: list[str]) -> dict[str, str]:
        if not isinstance(user, dict) or not all(isinstance(v, np.ndarray) for v in user.values()):
            raise InputError(f"{self.cls_name}.parameters() must return a dict of NumPy arrays")
        if names is None:
            if len(user) != len(torch_names):
                raise InputError(f"{self.cls_name}.parameters() has {len(user)} arrays ({', '.join(user)}), "
                                 f"expected {len(torch_names)} ({', '.join(torch_names)}); set `names`")
            names = dict(zip(user, torch_names))
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

    def _to_torch_layout(self, user_name: str, array, what: str) -> np.ndarray:
        """A view of one user array in torch's layout; InputError if its shape does not fit."""
        name = self.to_torch[user_name]
        want = self.expected[name]
        if not isinstance(array, np.ndarray):
            raise InputError(f"{self.cls_name}: {what} {user_name!r} is {type(array).__name__}, not a NumPy array")
        if name.endswith(".weight"):
            view = array.T if self.layout["weight_layout"] == "in_out" else array
            declared = want[::-1] if self.layout["weight_layout"] == "in_out" else want
        else:
            declared = {"flat": want, "row": (1, *want), "column": (*want, 1)}[self.layout["bias_shape"]]
            view = array.reshape(want) if array.shape == declared else array
        if array.shape != declared:
            hint = " (transposed?)" if array.shape == declared[::-1] else ""
            raise InputError(f"{self.cls_name}: {what} {user_name!r} has shape {array.shape}, expected {declared} "
                             f"for {name} ({self.layout['weight_layout'] if name.endswith('.weight') else self.layout['bias_shape']} layout){hint}")
        if array.dtype != self.dtype:
            raise InputError(f"{self.cls_name}: {what} {user_name!r} is {array.dtype}, the run is {self.dtype}")
        return view

    def _adapt(self, arrays, what: str) -> dict[str, np.ndarray]:
        if not isinstance(arrays, dict) or set(arrays) != set(self.to_torch):
            keys = sorted(arrays) if isinstance(arrays, dict) else type(arrays).__name__
            raise InputError(f"{self.cls_name}: {what} keys {keys} differ from parameters() {sorted(self.to_torch)}")
        adapted = {self.to_torch[k]: self._to_torch_layout(k, v, what) for k, v in arrays.items()}
        return {name: adapted[name] for name in self.expected}

    def _call(self, method: str, *args):
        try:
            return getattr(self.net, method)(*args)
        except InputError:
            raise
        except Exception as e:    # noqa: BLE001 - the user's code failed: one line naming the method
            raise InputError(f"{self.cls_name}.{method}() failed: {type(e).__name__}: {e}") from None

    def _inputs(self, x: np.ndarray, y: np.ndarray):
        if self.layout["labels"] == "onehot":
            y = np.eye(self.n_classes, dtype=self.dtype)[y]
        if self.layout["samples"] == "columns":
            return x.T, y.T if y.ndim == 2 else y
        return x, y

    def _forward(self, x, y) -> tuple[float, np.ndarray]:
        out = self._call("forward", *self._inputs(x, y))
        if not (isinstance(out, tuple) and len(out) == 2):
            raise InputError(f"{self.cls_name}.forward() must return (loss, scores), got {type(out).__name__}")
        loss, scores = out
        try:
            loss = float(loss)
        except (TypeError, ValueError):
            raise InputError(f"{self.cls_name}.forward() must return a scalar loss, got "
                             f"{type(loss).__name__} of shape {np.shape(loss)}") from None
        scores = np.array(scores, copy=True)     # a backward that edits them in place must not change ours
        if self.layout["samples"] == "columns":
            scores = scores.T
        if scores.shape != (len(x), self.n_classes):
            raise InputError(f"{self.cls_name}.forward() returned scores of shape {scores.shape}, expected "
                             f"{(len(x), self.n_classes)} (samples as {self.layout['samples']})")
        return loss, scores

    # --- the manual-side interface ---------------------------------------------------

    @property
    def params(self) -> dict[str, np.ndarray]:
        return self._adapt(self._call("parameters"), "parameters()")

    def velocity(self) -> dict[str, np.ndarray] | None:
        if self.opt is not None:
            return self.opt.velocity
        if callable(getattr(self.net, "velocity", None)):
            return self._adapt(self._call("velocity"), "velocity()")
        return None

    def step(self, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        loss, scores = self._forward(x, y)
        self._step(self._backward())
        return loss, scores

    def _backward(self):
        """The class's backward; ``self.grads`` gets copies in torch's layout (a step may edit
        its gradients in place). Returns the gradients as the class gave them."""
        user_grads = self._call("backward")
        self.grads = {k: np.array(v) for k, v in self._adapt(user_grads, "backward()").items()}
        return user_grads

    def _step(self, user_grads) -> None:
        """The class's own step with its own gradients, or the assignment's optimizer."""
        if self.own_step:
            self._call("step", user_grads)
        else:
            self.opt.step(self.grads)

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        """(loss as a mean over the samples, scores): the class's loss follows the run's reduction,
        so a summed loss is divided by N to compare with torch's evaluation."""
        loss, scores = self._forward(x, y)
        return (loss / len(x) if self.reduction == "sum" else loss), scores

    def replay(self, x: np.ndarray, y: np.ndarray) -> dict:
        """``step``, keeping what the class exposes (see ManualSide.replay)."""
        loss, scores = self._forward(x, y)
        try:       # some classes can only give their intermediates after backward
            inter = {k: np.array(v, copy=True) for k, v in self.intermediates().items()}
        except InputError:
            inter = {}
        if "probs" not in inter:
            looks_like_probs = np.all(scores >= 0) and np.allclose(scores.sum(axis=1), 1, atol=1e-3)
            inter["probs"] = scores if looks_like_probs else _softmax(scores.astype(np.float64))
        user_grads = self._backward()
        after_backward = self.intermediates()
        inter = {**{k: np.array(v, copy=True) for k, v in after_backward.items()}, **inter}
        grads = self.grads          # copies, which neither step below edits
        self._step(user_grads)
        after = self.snapshot()
        return {"loss": loss, "scores": scores, "inter": inter, "grads": grads,
                "params_after": after["params"], "velocity_after": after["velocity"]}

    def intermediates(self) -> dict[str, np.ndarray]:
        """The user's forward (and dlogits) quantities in torch's layout, if the class exposes them."""
        if not callable(getattr(self.net, "intermediates", None)):
            return {}
        found = self._call("intermediates")
        if self.layout["samples"] == "columns":
            found = {k: v.T for k, v in found.items()}
        return found


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)

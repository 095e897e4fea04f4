"""The NumPy that hand-written forward passes use, on torch tensors, so autograd can follow it.

``lockstep audit`` runs a user's own NumPy forward with ``np`` bound to
``TorchNumpy`` in every module whose code runs, and with the network's arrays
replaced by ``Array`` tensors (``Tracked``). ``Array`` is a torch.Tensor whose
methods take NumPy's arguments (``x.sum(axis=1, keepdims=True)``,
``o.max(axis=1)``, ``X.dot(W)``, ``.T``, ``.copy()``, ``.astype``, ``.size``),
so student code runs unchanged and torch autograd differentiates exactly that
code, quirks included. A NumPy function reached some other way (``from numpy
import exp``, a real ``numpy`` handed a tensor) is routed here too through
NumPy's ``__array_ufunc__``/``__array_function__`` protocols. Anything outside
this subset raises ``Unsupported`` naming the call, and the audit reports it
in one line.

Conventions (what autograd gives at points where NumPy code has no derivative):
at a tie with a constant (``np.maximum(z, 0)``, ``np.clip``) the derivative is
the constant side's, 0: torch's ReLU convention. Two tensors tied in
``np.maximum`` share the gradient (torch.maximum). Differences there are
conventions; the audit reports them as such.
"""
import math
import sys
from contextlib import ExitStack, contextmanager

import numpy
import torch


class Unsupported(AttributeError):
    """A NumPy feature the stand-in does not provide (an AttributeError, so ``hasattr`` says False)."""

    def __init__(self, what: str):
        super().__init__(f"{what} is not in the torch stand-in")


class Untrackable(Exception):
    """The network's parameters cannot be replaced by tensors where its forward reads them."""


def _dtype(d):
    """torch dtype for a NumPy/Python/torch dtype spelling; None stays None."""
    if d is None or isinstance(d, torch.dtype):
        return d
    if d in (float, "float", "float_"):
        return torch.float64
    if d in (int, "int"):
        return torch.int64
    if d in (bool, "bool"):
        return torch.bool
    try:
        name = numpy.dtype(d).name
    except TypeError:
        raise Unsupported(f"dtype {d!r}") from None
    found = getattr(torch, name, None) if name != "bool" else torch.bool
    if not isinstance(found, torch.dtype):
        raise Unsupported(f"dtype {name}")
    return found


def _t(a, dtype=None):
    """An Array for anything array-like: tensors as they are (cast if dtype), NumPy arrays and
    scalars copied (NumPy's float64 default holds: torch's default dtype is float64 inside ``tracked``)."""
    if isinstance(a, torch.Tensor):
        t = a if dtype is None else a.to(_dtype(dtype))
    elif isinstance(a, numpy.ndarray) or isinstance(a, numpy.generic):
        t = torch.from_numpy(numpy.array(a, copy=True))
        t = t if dtype is None else t.to(_dtype(dtype))
    elif isinstance(a, (list, tuple)) and any(isinstance(v, torch.Tensor) for v in a):
        t = torch.stack([_t(v) for v in a])
        t = t if dtype is None else t.to(_dtype(dtype))
    else:
        t = torch.as_tensor(a, dtype=_dtype(dtype))
    return t if isinstance(t, Array) else t.as_subclass(Array)


def _axis(axis):
    return tuple(axis) if isinstance(axis, (tuple, list)) else axis


def _only(name: str, kwargs: dict) -> None:
    """Refuse NumPy keyword arguments the stand-in does not implement (e.g. where=, initial=)."""
    extra = {k: v for k, v in kwargs.items() if v is not None and not (k == "order" and v in ("C", "K", "A"))}
    if extra:
        raise Unsupported(f"np.{name}({', '.join(f'{k}=' for k in extra)}...)")


def _out(result, out, name: str):
    """NumPy's ``out=``: the result is written into ``out`` (a tensor: in place, so every
    reference sees it, as in NumPy) and ``out`` is returned."""
    if out is None:
        return result
    if isinstance(out, tuple):
        (out,) = out
    if not isinstance(out, torch.Tensor):
        raise Unsupported(f"np.{name}(..., out=) into a NumPy array made outside the network")
    out.copy_(result)
    return out


def _reduce(name, all_fn, dim_fn):
    """A NumPy reduction (``axis``, ``keepdims``, ``dtype``, ``out``) from torch's full and per-dim forms."""
    def reduce(a, axis=None, dtype=None, out=None, keepdims=False, **kwargs):
        _only(name, kwargs)
        a = _t(a, dtype)
        if axis is None and not keepdims:
            result = all_fn(a)
        else:
            dims = tuple(range(a.ndim)) if axis is None else _axis(axis)
            result = dim_fn(a, dims, keepdims)
        return _out(result, out, name)
    reduce.__name__ = name
    return reduce


def _each_dim(fn):
    """torch reductions that take one dim at a time (argmax, cumsum-like): apply over a tuple in turn."""
    def over(a, dims, keepdims):
        dims = dims if isinstance(dims, tuple) else (dims,)
        for d in sorted((d % a.ndim for d in dims), reverse=True):
            a = fn(a, d, keepdims)
        return a
    return over


def _ufunc(name, fn):
    """An elementwise NumPy function with ``out=`` (and ``dtype=``)."""
    def ufunc(*args, out=None, dtype=None, **kwargs):
        _only(name, kwargs)
        if any(isinstance(a, (torch.Tensor, numpy.ndarray)) for a in args):   # Python scalars stay weakly typed
            args = [a if isinstance(a, (int, float, bool)) else _t(a) for a in args]
        else:
            args = [_t(a) for a in args]
        result = fn(*args)
        return _out(result if dtype is None else result.to(_dtype(dtype)), out, name)
    ufunc.__name__ = name
    return ufunc


def _maximum(a, b):
    """np.maximum: against a constant, c + relu(x - c) (derivative 0 at the tie, torch's ReLU
    convention); two tensors: torch.maximum (a tie shares the gradient)."""
    if not isinstance(a, torch.Tensor):
        a, b = b, a
    a = _t(a)
    if isinstance(b, torch.Tensor) and b.requires_grad:
        return torch.maximum(a, b)
    b = _t(b, a.dtype if a.is_floating_point() else None)
    return torch.relu(a) if b.ndim == 0 and b.item() == 0 else b + torch.relu(a - b)


def _minimum(a, b):
    """np.minimum: -max(-a, -b), the same conventions as ``_maximum``."""
    return -_maximum(-_t(a), -_t(b))


def _clip(a, a_min=None, a_max=None, out=None, **kwargs):
    _only("clip", kwargs)
    r = _t(a)
    if a_min is not None:
        r = _maximum(r, a_min)
    if a_max is not None:
        r = _minimum(r, a_max)
    return _out(r, out, "clip")


def _dot(a, b, out=None):
    a, b = _t(a), _t(b)
    if a.ndim == 0 or b.ndim == 0:
        return _out(a * b, out, "dot")
    if a.ndim > 2 or b.ndim > 2:
        raise Unsupported("np.dot of arrays with more than 2 dimensions")
    return _out(a @ b, out, "dot")


def _transpose(a, axes=None):
    a = _t(a)
    axes = tuple(reversed(range(a.ndim))) if axes is None else tuple(axes)
    return a.permute(*axes)


def _reshape(a, shape, order="C"):
    if order != "C":
        raise Unsupported(f"reshape(order={order!r})")
    return _t(a).reshape(shape)


def _shape(shape):
    return (shape,) if isinstance(shape, int) else tuple(shape)


def _arange(start, stop=None, step=1, dtype=None):
    if stop is None:
        start, stop = 0, start
    if dtype is None and all(isinstance(v, (int, numpy.integer)) for v in (start, stop, step)):
        dtype = torch.int64
    return _t(torch.arange(start, stop, step, dtype=_dtype(dtype)))


def _eye(n, m=None, k=0, dtype=float):
    if k:
        raise Unsupported("np.eye(k=)")
    return _t(torch.eye(n, m if m is not None else n, dtype=_dtype(dtype)))


def _array(obj, dtype=None, copy=True, **kwargs):
    _only("array", kwargs)
    t = _t(obj, dtype)
    return t.clone() if copy and isinstance(obj, torch.Tensor) else t


def _asarray(obj, dtype=None, **kwargs):
    _only("asarray", kwargs)
    return _t(obj, dtype)


def _like(fill):
    def like(a, dtype=None, **kwargs):
        _only("zeros_like/ones_like", kwargs)
        a = _t(a)
        return _t(torch.full(a.shape, fill, dtype=_dtype(dtype) or a.dtype))
    return like


def _full(shape, fill_value, dtype=None, **kwargs):
    _only("full", kwargs)
    if dtype is None and isinstance(fill_value, torch.Tensor):
        dtype = fill_value.dtype
    return _t(torch.full(_shape(shape), fill_value, dtype=_dtype(dtype)))     # int fill: int64, as NumPy


def _full_like(a, fill_value, dtype=None, **kwargs):
    _only("full_like", kwargs)
    a = _t(a)
    return _t(torch.full(a.shape, fill_value, dtype=_dtype(dtype) or a.dtype))


def _zeros(shape, dtype=float, **kwargs):
    _only("zeros", kwargs)
    return _t(torch.zeros(_shape(shape), dtype=_dtype(dtype)))


def _ones(shape, dtype=float, **kwargs):
    _only("ones", kwargs)
    return _t(torch.ones(_shape(shape), dtype=_dtype(dtype)))


def _where(cond, a=None, b=None):
    if a is None and b is None:
        raise Unsupported("np.where(cond) with one argument")
    a, b = _t(a), _t(b)
    return torch.where(_t(cond).bool(), a, b)


def _einsum(subscripts, *operands, out=None, optimize=None, **kwargs):
    _only("einsum", kwargs)
    return _out(torch.einsum(subscripts, *(_t(o) for o in operands)), out, "einsum")


def _concatenate(arrays, axis=0, out=None, **kwargs):
    _only("concatenate", kwargs)
    return _out(torch.cat([_t(a) for a in arrays], dim=axis), out, "concatenate")


def _stack(arrays, axis=0, out=None, **kwargs):
    _only("stack", kwargs)
    return _out(torch.stack([_t(a) for a in arrays], dim=axis), out, "stack")


def _var(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, **kwargs):
    _only("var", kwargs)
    a = _t(a, dtype)
    dims = tuple(range(a.ndim)) if axis is None else _axis(axis)
    return _out(torch.var(a, dim=dims, correction=ddof, keepdim=keepdims), out, "var")


def _std(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, **kwargs):
    return torch.sqrt(_var(a, axis, dtype, out, ddof, keepdims, **kwargs))


def _norm(x, ord=None, axis=None, keepdims=False):
    if ord not in (None, 2, "fro"):
        raise Unsupported(f"np.linalg.norm(ord={ord!r})")
    return torch.sqrt(_sum(_t(x) * _t(x), axis=axis, keepdims=keepdims))


_sum = _reduce("sum", torch.sum, lambda a, d, k: torch.sum(a, dim=d, keepdim=k))
_mean = _reduce("mean", torch.mean, lambda a, d, k: torch.mean(a, dim=d, keepdim=k))
_max = _reduce("max", torch.amax, lambda a, d, k: torch.amax(a, dim=d, keepdim=k))
_min = _reduce("min", torch.amin, lambda a, d, k: torch.amin(a, dim=d, keepdim=k))
_prod = _reduce("prod", torch.prod, _each_dim(lambda a, d, k: torch.prod(a, dim=d, keepdim=k)))
_any = _reduce("any", torch.any, _each_dim(lambda a, d, k: torch.any(a, dim=d, keepdim=k)))
_all = _reduce("all", torch.all, _each_dim(lambda a, d, k: torch.all(a, dim=d, keepdim=k)))


def _arg(name, fn):
    def arg(a, axis=None, out=None, keepdims=False):
        a = _t(a)
        result = fn(a.reshape(-1)) if axis is None else fn(a, dim=axis, keepdim=keepdims)
        return _out(result, out, name)
    return arg


def _cumsum(a, axis=None, dtype=None, out=None):
    a = _t(a, dtype)
    return _out(torch.cumsum(a.reshape(-1) if axis is None else a, dim=0 if axis is None else axis), out, "cumsum")


class _Refused:
    """A NumPy submodule the stand-in does not provide (``np.random``: its draws could not be NumPy's)."""

    def __init__(self, name):
        self._name = name

    def __getattr__(self, attr):
        raise Unsupported(f"np.{self._name}.{attr}")


class _Linalg(_Refused):
    norm = staticmethod(_norm)


class TorchNumpy:
    """The ``np`` a forward sees under the audit. Attribute access outside it raises Unsupported."""

    float16, float32, float64 = torch.float16, torch.float32, torch.float64
    int8, int16, int32, int64, uint8, bool_ = torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8, torch.bool
    newaxis, pi, e, inf, nan = None, math.pi, math.e, math.inf, math.nan
    random, linalg = _Refused("random"), _Linalg("linalg")

    sum, mean, max, amax, min, amin, prod, any, all = (staticmethod(f) for f in (
        _sum, _mean, _max, _max, _min, _min, _prod, _any, _all))
    var, std, cumsum = staticmethod(_var), staticmethod(_std), staticmethod(_cumsum)
    argmax, argmin = staticmethod(_arg("argmax", torch.argmax)), staticmethod(_arg("argmin", torch.argmin))
    maximum = staticmethod(_ufunc("maximum", _maximum))
    minimum = staticmethod(_ufunc("minimum", _minimum))
    fmax, fmin = maximum, minimum
    clip = staticmethod(_clip)
    dot, matmul = staticmethod(_dot), staticmethod(_ufunc("matmul", lambda a, b: _t(a) @ _t(b)))
    outer = staticmethod(lambda a, b: torch.outer(_t(a).reshape(-1), _t(b).reshape(-1)))
    einsum, where = staticmethod(_einsum), staticmethod(_where)
    transpose, reshape = staticmethod(_transpose), staticmethod(_reshape)
    ravel = staticmethod(lambda a, order="C": _reshape(a, (-1,), order))
    squeeze = staticmethod(lambda a, axis=None: _t(a).squeeze() if axis is None else _t(a).squeeze(axis))
    expand_dims = staticmethod(lambda a, axis: _t(a).unsqueeze(axis))
    concatenate, stack = staticmethod(_concatenate), staticmethod(_stack)
    hstack = staticmethod(lambda arrays: _concatenate(arrays, axis=1 if _t(arrays[0]).ndim > 1 else 0))
    vstack = staticmethod(lambda arrays: _concatenate([_t(a).reshape(1, -1) if _t(a).ndim == 1 else a
                                                      for a in arrays], axis=0))
    zeros, ones, empty, full = staticmethod(_zeros), staticmethod(_ones), staticmethod(_zeros), staticmethod(_full)
    zeros_like, ones_like, empty_like = staticmethod(_like(0)), staticmethod(_like(1)), staticmethod(_like(0))
    full_like = staticmethod(_full_like)
    arange, eye, array, asarray = staticmethod(_arange), staticmethod(_eye), staticmethod(_array), staticmethod(_asarray)
    copy = staticmethod(lambda a, **kw: _t(a).clone())
    dtype = staticmethod(_dtype)
    shape = staticmethod(lambda a: tuple(_t(a).shape))
    isfinite, isnan = staticmethod(lambda a: torch.isfinite(_t(a))), staticmethod(lambda a: torch.isnan(_t(a)))

    exp, log, log1p, expm1 = (staticmethod(_ufunc(n, f)) for n, f in (
        ("exp", torch.exp), ("log", torch.log), ("log1p", torch.log1p), ("expm1", torch.expm1)))
    log2, log10, sqrt, square = (staticmethod(_ufunc(n, f)) for n, f in (
        ("log2", torch.log2), ("log10", torch.log10), ("sqrt", torch.sqrt), ("square", torch.square)))
    tanh, sin, cos, sign = (staticmethod(_ufunc(n, f)) for n, f in (
        ("tanh", torch.tanh), ("sin", torch.sin), ("cos", torch.cos), ("sign", torch.sign)))
    abs = absolute = staticmethod(_ufunc("abs", torch.abs))
    negative, reciprocal = staticmethod(_ufunc("negative", torch.neg)), staticmethod(_ufunc("reciprocal", torch.reciprocal))
    add, subtract, multiply = (staticmethod(_ufunc(n, f)) for n, f in (
        ("add", lambda a, b: a + b), ("subtract", lambda a, b: a - b), ("multiply", lambda a, b: a * b)))
    divide = true_divide = staticmethod(_ufunc("divide", lambda a, b: a / b))
    power = staticmethod(_ufunc("power", lambda a, b: a ** b))
    greater, greater_equal, less, less_equal, equal, not_equal = (staticmethod(_ufunc(n, f)) for n, f in (
        ("greater", lambda a, b: a > b), ("greater_equal", lambda a, b: a >= b), ("less", lambda a, b: a < b),
        ("less_equal", lambda a, b: a <= b), ("equal", lambda a, b: a == b), ("not_equal", lambda a, b: a != b)))
    logical_and, logical_or, logical_not = (staticmethod(_ufunc(n, f)) for n, f in (
        ("logical_and", torch.logical_and), ("logical_or", torch.logical_or), ("logical_not", torch.logical_not)))

    def __getattr__(self, name):
        raise Unsupported(f"np.{name}")


NP = TorchNumpy()
_UFUNC_NAMES = {"true_divide": "divide", "absolute": "abs"}


class _Size(int):
    """NumPy's ``a.size`` (an int) that still answers torch's ``a.size()`` / ``a.size(dim)``."""

    def __new__(cls, tensor):
        size = int.__new__(cls, tensor.numel())
        size._tensor = tensor
        return size

    def __call__(self, dim=None):
        return torch.Tensor.size(self._tensor) if dim is None else torch.Tensor.size(self._tensor, dim)


class Array(torch.Tensor):
    """A torch tensor that answers NumPy's array methods with NumPy's arguments."""

    def sum(self, axis=None, dtype=None, out=None, keepdims=False, **kw):
        return _sum(self, _axis(kw.pop("dim", axis)), dtype, out, keepdims or kw.pop("keepdim", False), **kw)

    def mean(self, axis=None, dtype=None, out=None, keepdims=False, **kw):
        return _mean(self, _axis(kw.pop("dim", axis)), dtype, out, keepdims or kw.pop("keepdim", False), **kw)

    def max(self, axis=None, out=None, keepdims=False, **kw):
        return _max(self, _axis(kw.pop("dim", axis)), None, out, keepdims or kw.pop("keepdim", False), **kw)

    def min(self, axis=None, out=None, keepdims=False, **kw):
        return _min(self, _axis(kw.pop("dim", axis)), None, out, keepdims or kw.pop("keepdim", False), **kw)

    def prod(self, axis=None, dtype=None, out=None, keepdims=False, **kw):
        return _prod(self, axis, dtype, out, keepdims, **kw)

    def any(self, axis=None, out=None, keepdims=False):
        return _any(self, axis, None, out, keepdims)

    def all(self, axis=None, out=None, keepdims=False):
        return _all(self, axis, None, out, keepdims)

    def var(self, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
        return _var(self, axis, dtype, out, ddof, keepdims)

    def std(self, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
        return _std(self, axis, dtype, out, ddof, keepdims)

    def argmax(self, axis=None, out=None, keepdims=False):
        return NP.argmax(self, axis, out, keepdims)

    def argmin(self, axis=None, out=None, keepdims=False):
        return NP.argmin(self, axis, out, keepdims)

    def cumsum(self, axis=None, dtype=None, out=None):
        return _cumsum(self, axis, dtype, out)

    def dot(self, other, out=None):
        return _dot(self, other, out)

    def copy(self, order="C"):
        return self.clone()

    def astype(self, dtype, order="K", casting="unsafe", copy=True):
        return self.to(_dtype(dtype), copy=copy)

    def transpose(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return _transpose(self, axes or None)

    @property
    def T(self):
        return _transpose(self)

    def reshape(self, *shape, order="C"):
        if order != "C":
            raise Unsupported(f"ndarray.reshape(order={order!r})")
        return torch.Tensor.reshape(self, *shape)

    def flatten(self, order="C"):
        return _reshape(self, (-1,), order)

    def ravel(self, order="C"):
        return _reshape(self, (-1,), order)

    def clip(self, min=None, max=None, out=None, **kwargs):
        return _clip(self, min, max, out, **kwargs)

    def fill(self, value):
        self.fill_(value)

    def squeeze(self, axis=None):
        return torch.Tensor.squeeze(self) if axis is None else torch.Tensor.squeeze(self, axis)

    @property
    def size(self):
        return _Size(self)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        """A real NumPy ufunc handed a tensor (``ndarray * tensor``, ``from numpy import exp``)."""
        if method != "__call__":
            raise Unsupported(f"np.{ufunc.__name__}.{method}")
        return getattr(NP, _UFUNC_NAMES.get(ufunc.__name__, ufunc.__name__))(*inputs, **kwargs)

    def __array_function__(self, func, types, args, kwargs):
        """A real NumPy function handed a tensor (``numpy.sum(t)`` from a module not swapped)."""
        return getattr(NP, func.__name__)(*args, **kwargs)

    def __array__(self, dtype=None, copy=None):
        if self.requires_grad:
            raise Unsupported("real NumPy's array() of a tracked value (from a module the audit did not swap)")
        return torch.Tensor.numpy(self.detach()).astype(dtype, copy=False) if dtype else torch.Tensor.numpy(self.detach())


ndarray = Array
TorchNumpy.ndarray = Array


def leaf(array: numpy.ndarray) -> Array:
    """A float leaf tensor holding a copy of ``array``: autograd accumulates dL/darray in ``.grad``."""
    return torch.Tensor._make_subclass(Array, torch.from_numpy(numpy.array(array, copy=True)), True)


def constant(array: numpy.ndarray) -> Array:
    return _t(array)


# --- swapping np in modules ---------------------------------------------------------

def _replacement(value):
    """What a module global that comes from NumPy becomes under the stand-in, or None (not NumPy's)."""
    if value is numpy:
        return NP
    if isinstance(value, type(numpy)) and value.__name__.startswith("numpy."):
        return getattr(NP, value.__name__.split(".")[1])
    name = getattr(value, "__name__", None)
    if not isinstance(name, str) or getattr(numpy, name, None) is not value:
        return None
    try:
        return getattr(NP, _UFUNC_NAMES.get(name, name))
    except Unsupported:
        def refuse(*args, **kwargs):
            raise Unsupported(f"np.{name}")
        return refuse


@contextmanager
def numpy_as_torch(modules):
    """Within the block, every global of ``modules`` that is NumPy (``np``, ``numpy``,
    ``from numpy import exp``) is its stand-in, torch's default dtype is NumPy's float64, and
    tensors saved for backward are copies, so NumPy's in-place style (``e /= s``, ``out=``) never
    invalidates a gradient. Everything is put back as it was, even on error."""
    swapped = []
    previous = torch.get_default_dtype()
    with ExitStack() as stack:
        try:
            for module in modules:
                for name, value in list(vars(module).items()):
                    new = _replacement(value)
                    if new is not None:
                        swapped.append((module, name, value))
                        setattr(module, name, new)
            torch.set_default_dtype(torch.float64)
            stack.enter_context(torch.autograd.graph.saved_tensors_hooks(lambda t: t.clone(), lambda t: t))
            yield
        finally:
            torch.set_default_dtype(previous)
            for module, name, value in reversed(swapped):
                setattr(module, name, value)


def user_module(module) -> bool:
    """A module of the user's code: not the standard library, not an installed package, not lockstep's harness."""
    name = getattr(module, "__name__", "")
    path = getattr(module, "__file__", None)
    if not path or name.split(".")[0] in ("comparisons", "numpy", "torch"):
        return False
    prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix}
    return not any(path.startswith(p + "/") for p in prefixes) and "site-packages" not in path


# --- a network's arrays as tensors ------------------------------------------------

_KINDS = "fiub"          # array dtypes turned into tensors (floats, ints, bools); others are left alone
_MAX_OBJECTS = 20000     # the walk of the object graph stops there (a network holds tens of objects)


def _is_user_object(obj) -> bool:
    module = sys.modules.get(type(obj).__module__)
    return module is not None and user_module(module) and (hasattr(obj, "__dict__") or hasattr(type(obj), "__slots__"))


def _slot_names(obj):
    names = [n for cls in type(obj).__mro__ for n in getattr(cls, "__slots__", ()) if n not in ("__dict__", "__weakref__")]
    return [n for n in names if hasattr(obj, n)]


class _Graph:
    """Everything reachable from a network through its attributes: objects of user classes,
    dicts, lists (and, read only, tuples). Keeps each container's shallow contents, to put back."""

    def __init__(self, root):
        self.saved = []              # (container, shallow copy)
        self.slots = []              # (container, key, array): where each NumPy array is held
        self.classes = []
        seen, todo = set(), [root]
        while todo and len(seen) < _MAX_OBJECTS:
            obj = todo.pop()
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            if isinstance(obj, dict):
                items, copy = list(obj.items()), dict(obj)
            elif isinstance(obj, list):
                items, copy = list(enumerate(obj)), list(obj)
            elif isinstance(obj, tuple):
                todo.extend(v for v in obj if not isinstance(v, numpy.ndarray))
                continue
            elif _is_user_object(obj):
                self.classes.extend(type(obj).__mro__)
                own = dict(vars(obj)) if hasattr(obj, "__dict__") else {}
                slotted = {n: getattr(obj, n) for n in _slot_names(obj)}
                items, copy = list({**slotted, **own}.items()), (own, slotted)
            else:
                continue
            self.saved.append((obj, copy))
            for key, value in items:
                if isinstance(value, numpy.ndarray):
                    if value.dtype.kind in _KINDS:
                        self.slots.append((obj, key, value))
                else:
                    todo.append(value)

    def put(self, container, key, value) -> None:
        if isinstance(container, (dict, list)):
            container[key] = value
        elif hasattr(container, "__dict__") and key in vars(container):
            vars(container)[key] = value
        else:
            object.__setattr__(container, key, value)

    def restore(self) -> None:
        for obj, copy in self.saved:
            if isinstance(obj, dict):
                obj.clear()
                obj.update(copy)
            elif isinstance(obj, list):
                obj[:] = copy
            else:
                own, slotted = copy
                if hasattr(obj, "__dict__"):
                    vars(obj).clear()
                    vars(obj).update(own)
                for name, value in slotted.items():
                    object.__setattr__(obj, name, value)

    def modules(self) -> list:
        """The user modules whose code the network can run: those of the classes reached (along
        their MROs), and the user modules and functions they import, transitively."""
        found = {}
        todo = [sys.modules.get(c.__module__) for c in self.classes]
        while todo and len(found) < 200:
            module = todo.pop(0)
            if module is None or module.__name__ in found or not user_module(module):
                continue
            found[module.__name__] = module
            for value in list(vars(module).values()):
                if isinstance(value, type(sys)):
                    todo.append(value)
                elif callable(value) and isinstance(getattr(value, "__module__", None), str):
                    todo.append(sys.modules.get(value.__module__))
        return list(found.values())


def _root(a: numpy.ndarray) -> numpy.ndarray:
    while isinstance(a.base, numpy.ndarray):
        a = a.base
    return a


def _offset(a: numpy.ndarray, root: numpy.ndarray):
    """(element offset, element strides) of view ``a`` inside ``root``'s memory, or None if not expressible."""
    size = root.itemsize
    byte = a.__array_interface__["data"][0] - root.__array_interface__["data"][0]
    if a.dtype != root.dtype or byte % size or any(s % size or s < 0 for s in a.strides):
        return None
    return byte // size, tuple(s // size for s in a.strides)


def modules_of(net) -> list:
    """The user modules whose code ``net`` can run (see _Graph.modules)."""
    return _Graph(net).modules()


class Tracked:
    """The network's arrays as tensors: parameters' memory as leaves, the rest as constants."""

    def __init__(self, net, params: dict[str, numpy.ndarray]):
        self.graph = _Graph(net)
        self.params = dict(params)      # a live dict gets tensors put in it: keep the arrays
        roots = {id(_root(a)): _root(a) for _, _, a in self.graph.slots}
        self.tensors = {}
        for name, p in params.items():
            root = _root(p)
            if id(root) not in roots:
                raise Untrackable(f"parameters()[{name!r}] is not held by the network's attributes (a copy?): "
                                  "autograd cannot put a tensor in its place")
            if not (root.flags.c_contiguous or root.flags.f_contiguous) or _offset(p, root) is None:
                raise Untrackable(f"parameters()[{name!r}] is a view of memory the audit cannot follow")
            if id(root) not in self.tensors:
                self.tensors[id(root)] = leaf(root)
        for root in roots.values():
            if id(root) not in self.tensors and (root.flags.c_contiguous or root.flags.f_contiguous):
                self.tensors[id(root)] = constant(root)
        self.modules = self.graph.modules()

    def _tensor(self, a: numpy.ndarray):
        root = _root(a)
        t = self.tensors.get(id(root))
        if t is None or a is root:
            return t
        where = _offset(a, root)
        return None if where is None else torch.as_strided(t, a.shape, where[1], t.storage_offset() + where[0])

    def __enter__(self):
        try:
            for container, key, a in self.graph.slots:
                t = self._tensor(a)
                if t is not None:
                    self.graph.put(container, key, t)
        except BaseException:
            self.graph.restore()
            raise
        return self

    def __exit__(self, *exc):
        self.graph.restore()
        return False

    def grads(self) -> dict[str, numpy.ndarray]:
        """dL/d(each parameter), in the layout parameters() gives it, after ``loss.backward()``."""
        out = {}
        for name, p in self.params.items():
            root = _root(p)
            g = self.tensors[id(root)].grad
            full = numpy.zeros_like(root) if g is None else numpy.empty_like(root)
            if g is not None:
                full[...] = g.numpy()
            offset, _ = _offset(p, root)
            flat = full.ravel(order="K")[offset:]
            out[name] = numpy.array(numpy.lib.stride_tricks.as_strided(flat, p.shape, p.strides))
        return out

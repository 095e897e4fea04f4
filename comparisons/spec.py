"""The model spec: ``linear:100,relu,linear`` -> named layers with their constructor arguments.

Layers are named by their kind's prefix and a count per prefix (``fc1``,
``relu1``, ``fc2``), the names of the torch twin's modules, so parameters read
``fc1.weight``. Input and output widths come from the data: the first layer
takes one sample's shape, and a width left out (``linear`` as the last layer)
is the data's output width. Every error is an InputError pointing at the token.
"""
from dataclasses import dataclass

import numpy as np

from comparisons import memory
from comparisons.errors import InputError
from comparisons.registry import DATA, KINDS, Kind


@dataclass(frozen=True)
class LayerSpec:
    name: str          # fc1
    token: str         # linear:100, as written
    kind: Kind
    kwargs: dict       # constructor arguments of both classes
    in_shape: tuple    # one sample's input shape
    out_shape: tuple   # one sample's output shape
    size: int = 0      # parameter elements


def mlp(hidden: tuple[int, ...]) -> str:
    """``--hidden 1000`` as a spec: Linear -> ReLU for each hidden width, then the output Linear."""
    return ",".join([f"linear:{h},relu" for h in hidden] + ["linear"])


def _parse_args(kind: Kind, token: str, raw: list[str], out_width: int) -> dict:
    flags = {f: False for f in kind.flags}
    values = []
    for item in raw:
        if item in flags:
            flags[item] = True
        else:
            values.append(item)
    if len(values) > len(kind.args):
        raise InputError(f"model token {token!r}: too many arguments (usage {kind.usage})")
    parsed = {}
    for i, arg in enumerate(kind.args):
        if i < len(values):
            try:
                value = arg.type(values[i])
            except ValueError:
                raise InputError(f"model token {token!r}: {arg.name} must be {arg.type.__name__}, "
                                 f"got {values[i]!r} (usage {kind.usage})") from None
            if arg.type is int and value < arg.low:
                raise InputError(f"model token {token!r}: {arg.name} must be >= {arg.low}, got {value}")
        elif arg.default is None:
            raise InputError(f"model token {token!r}: missing {arg.name} (usage {kind.usage})")
        else:
            value = out_width if arg.default == DATA else arg.default
        parsed[arg.name] = value
    return parsed | flags


def canonical(text: str) -> tuple:
    """A spec's meaning without its spelling: (kind, parsed arguments) per token, so ``batchnorm:cs231n``
    and ``BatchNorm:0.9:cs231n`` compare equal (the data's width stands for a width left out)."""
    out = []
    for token in text.split(","):
        head, *raw = token.strip().split(":")
        kind = KINDS.get(head.lower())
        if kind is None:
            raise InputError(f"model token {token.strip()!r}: unknown kind {head!r}; known: {', '.join(KINDS)}")
        args = _parse_args(kind, token.strip(), raw, DATA)
        if kind.token == "batchnorm" and args["momentum"] == "":
            args["momentum"] = 0.9 if args["cs231n"] else 0.1
        if kind.token in ("maxpool", "avgpool") and not args["stride"]:
            args["stride"] = args["k"]          # maxpool:2 is maxpool:2:2
        out.append((kind.token, tuple(sorted(args.items()))))
    return tuple(out)


def layer(token: str, in_shape: tuple, name: str = "", out_width: int = 1, ids: int | None | str = "any") -> LayerSpec:
    """One layer from its token on input of ``in_shape`` (``parse`` names and chains them). ``ids``: the
    input is integer token ids, this many distinct ones (the data's largest id + 1); None: float features;
    "any": whichever the kind takes (a layer built alone)."""
    head, *raw = token.split(":")
    kind = KINDS.get(head.lower())
    if kind is None:
        raise InputError(f"model token {token!r}: unknown kind {head!r}; known: {', '.join(KINDS)}")
    args = _parse_args(kind, token, raw, out_width)
    try:
        kwargs = kind.make(tuple(in_shape), args)
        size = kind.size(kwargs)
        memory.refuse_if_too_big(size, 0, f"model token {token!r}{f' ({name})' if name else ''}")
        if ids == "any":
            ids = 1 if kind.takes == "ids" else None
        if (kind.takes == "ids") != (ids is not None):
            raise ValueError("takes integer token ids, the input is float features" if ids is None else
                             "takes float features, the input is integer token ids; put embedding:V:D first")
        if ids is not None and ids > kwargs["num_embeddings"]:
            raise ValueError(f"the data has token ids up to {ids - 1}, >= V = {kwargs['num_embeddings']}")
        probe = kind.manual(**kwargs, dtype=np.float64)
        zeros = np.zeros((2, *in_shape), np.int64 if ids is not None else np.float64)
        out_shape = probe.forward(zeros, train=False).shape[1:]
    except ValueError as e:
        raise InputError(f"model token {token!r}{f' ({name})' if name else ''} on input of shape "
                         f"{tuple(in_shape)}: {e}") from None
    return LayerSpec(name, token, kind, kwargs, tuple(in_shape), tuple(out_shape), size)


def parse(text: str, in_shape: tuple, out_width: int, ids: int | None = None,
          out_shape: tuple | None = None) -> list[LayerSpec]:
    """The layers of ``text`` for samples of ``in_shape`` and ``out_width`` outputs. ``ids``: the data's
    samples are integer token ids (``layer``); ``out_shape``: the output per sample the data needs,
    when it is not (out_width,) (sequences: (T, out_width))."""
    tokens = [t.strip() for t in text.split(",")]
    if not text.strip() or any(not t for t in tokens):
        raise InputError(f"model {text!r}: expected comma-separated layer tokens, e.g. linear:100,relu,linear")
    layers, counts, shape = [], {}, tuple(in_shape)
    for token in tokens:
        kind = KINDS.get(token.split(":")[0].lower())
        prefix = kind.prefix if kind else "?"
        counts[prefix] = counts.get(prefix, 0) + 1
        layers.append(layer(token, shape, f"{prefix}{counts[prefix]}", out_width, ids if not layers else None))
        shape = layers[-1].out_shape
    want = tuple(out_shape) if out_shape is not None else (out_width,)
    if shape != want:
        last = next((layer for layer in reversed(layers) if layer.kind.args), layers[-1])
        raise InputError(f"model {text!r}: the network outputs shape {shape} per sample, the data needs "
                         f"{want}; check {last.token!r}")
    return layers

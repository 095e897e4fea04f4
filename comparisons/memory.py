"""Refuse a run the machine cannot hold, before it allocates (issue 11, item 9; conv columns: issue 14).

The estimate is linear in what a run keeps copies of: parameter elements P (each side's parameters,
gradients, optimizer state and snapshots; the float64 referee's), the activation elements of one
training step B·W (B the training batch, W the elements one sample produces across all layers: its
input and every layer's output), those of the largest forward pass N·W (N the largest split: an
evaluation, or the whole training split as one batch), and a conv layer's im2col columns N·C (C the
column elements one sample needs: C_in·K² per output position, manual/conv.py):

    bytes ≈ BASE + 8 · (PER_ELEMENT · (P + B·W) + EVAL_COPIES · N·W + COLUMN_COPIES · N·C)

Measured with benchmarks/memory_conv.py (peak RSS of one run in a fresh process, built-in data with the
training split N and 50/50 for the others, one epoch, free mode, minibatch 50 unless said; a shared 2-core
machine at load average 6-10, so each figure may be off by tens of MB). Growth of the peak per sample
between N = 500 and 2000, per element, by a two-case fit (one conv net dominated by its columns, one by
its activations): evaluation activations 7.6 B (float32) / 12.9 B (float64) for conv nets, 7.9-10.6 B /
18.6-21.4 B for MLPs, so EVAL_COPIES = 3 float64 copies; columns 4.3 B (float32: NumPy's copy alone;
torch's float32 conv needs none here) / 15.2 B (float64: NumPy's and torch's im2col buffer), so
COLUMN_COPIES = 2. Parameters: the 784-4000-10 MLP's intercept in float64 is ~20 float64 copies of each
(PER_ELEMENT = 24). Peak and the estimate's ratio to it:
    conv, columns (conv:8:3:1:1,relu,conv:8:5:1:2,...)   float64 N 500/2000: 1926/6034 MB, 1.17x/1.16x
                                                          float32 N 500/2000:  917/2230 MB, 2.45x/3.1x
    conv, activations (conv:32:3:1:1,relu,maxpool:2,...) float64 N 500/2000: 1201/2523 MB, 1.48x/1.63x
                                                          float32 N 2000: 1524 MB, 2.7x
    conv, tests/test_conv.py's CNN                        float64 / float32 N 2000: 1017 / 766 MB, 1.45x / 1.93x
    MLP H 1000                                            float64 N 500/2000: 494/579 MB, 1.22x/1.21x
                                                          float32 N 2000 batch 100: 512 MB, 1.42x
    MLP H 4000                                            float64 N 500/2000: 1009/1243 MB, 1.15x/1.18x
                                                          float64 N 2000 batch 100: 1397 MB, 1.11x
                                                          float32 N 2000 full batch: 1278 MB, 3.6x
(The estimate before the columns and the batch term, 16 copies of every element of the largest pass,
was 1.8-10.6x the peak of these conv runs and 1.3-3.5x of the MLPs': its activation term counted an
evaluation's elements as a training step's.) So the estimate is 1.1-3.6x the peak, most in float32 (it
does not know the dtype). A run is refused only when the estimate divided by MARGIN (4, above the largest
measured over-estimate) still exceeds the memory available: such a run cannot fit, and no run that fits
is refused.
"""
import math
import os

from comparisons.errors import InputError

BASE = 400 * 2**20        # Python, NumPy, torch and pandas loaded: 329 MB measured before the run
PER_ELEMENT = 24          # copies of each parameter and training-step activation element, in float64 bytes
EVAL_COPIES = 3           # copies of each element of the largest forward pass (an evaluation), float64 bytes
MARGIN = 4.0
COLUMN_COPIES = 2         # im2col column copies live at once, in float64 bytes (measured above)


def _machine() -> float:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return math.inf


def _cgroup() -> float:
    """What the process's cgroup (v2: a container, a CI job) still allows; inf without a limit."""
    try:
        with open("/proc/self/cgroup") as f:
            path = next(line.split(":", 2)[2].strip() for line in f if line.startswith("0::"))
        base = os.path.join("/sys/fs/cgroup", path.lstrip("/"))
        with open(os.path.join(base, "memory.max")) as f:
            limit = f.read().strip()
        if limit == "max":
            return math.inf
        with open(os.path.join(base, "memory.current")) as f:
            return int(limit) - int(f.read().strip())
    except (OSError, ValueError, StopIteration, IndexError):
        return math.inf


def available() -> float:
    """Bytes this process can still get: the machine's MemAvailable, or its cgroup's limit less what
    the cgroup uses, whichever is smaller (inf when neither is known)."""
    return min(_machine(), _cgroup())


def estimate(params: int, activations: int, columns: int = 0, batch: int | None = None) -> float:
    """Bytes. ``activations`` and ``columns``: elements of the largest forward pass (an evaluation of a
    whole split, or a full batch); ``batch``: activation elements of one training step (None: the largest
    pass). BASE, PER_ELEMENT float64 copies of every parameter and training-step activation element,
    EVAL_COPIES of every activation element of the largest pass, COLUMN_COPIES of its im2col columns."""
    batch = activations if batch is None else batch
    return (BASE + PER_ELEMENT * 8 * (params + batch) + EVAL_COPIES * 8 * activations
            + COLUMN_COPIES * 8 * columns)


def per_sample(layers, sample_shape: tuple) -> tuple[int, int]:
    """(activation elements, im2col column elements) one sample produces: its input and every layer's
    output; each conv layer's columns, C·K² per output position (manual/conv.py's Conv2d)."""
    activations = math.prod(sample_shape) + sum(math.prod(s.out_shape) for s in layers)
    columns = sum(s.kwargs["in_channels"] * s.kwargs["kernel_size"] ** 2 * math.prod(s.out_shape[1:])
                  for s in layers if s.kind.token == "conv")
    return activations, columns


def _gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB"


def refuse_if_too_big(params: int, activations: int, what: str, columns: int = 0, batch: int | None = None) -> None:
    """InputError when ``params`` parameter elements, ``activations`` activation and ``columns`` im2col
    column elements in the largest forward pass and ``batch`` activation elements in a training step
    (estimate) cannot fit."""
    need, have = estimate(params, activations, columns, batch), available()
    if need / MARGIN > have:
        parts = f"{params:,} parameters" + (f", {activations:,} activation elements in the largest forward "
                                            f"pass" if activations else "") + \
            (f", {columns:,} im2col column elements" if columns else "")
        raise InputError(f"{what} needs about {_gib(need)} of memory ({parts}); {_gib(have)} is available "
                         f"(estimate and its measurements: comparisons/memory.py): use a smaller model, "
                         f"batch or dataset")

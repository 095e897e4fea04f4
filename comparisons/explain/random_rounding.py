"""Random rounding: a torch computation in float64 with every elementary operation's result rounded at
random to a given precision (Monte Carlo arithmetic, Parker 1997; the model of tools like Verificarlo).

Inside ``RandomRounding(eps, rng)``, each float result r of an operation that rounds becomes
r (1 + u), u uniform in [-eps/2, eps/2]: one rounding to nearest in a dtype of that eps, drawn anew for
every element. A result that real arithmetic would hold exactly is rounded too (an optimizer's float
step counter: 14 becomes 14 (1 + u)); it only widens that row's allowance by a rounding (64 x 8e-8
for a float32 counter, where a count off by one is 7e-2). Whole numbers cannot be told apart from rounded
ones: tanh(20) is 1.0 after rounding, and leaving it unrounded failed a saturated run again.

Fused kernels (batchnorm, layernorm, groupnorm, softmax, GELU, the losses and their backwards: every
operation torch has a decomposition for, torch._decomp) are first taken apart into the elementary
operations that decomposition defines, so a cancellation inside them is rounded as a hand-written NumPy
version rounds it. What is left out: views and operations that are exact in any float dtype (copies,
selections, sign flips, max).

Why the referee needs it (explain/referee.py): its float32 probes measure the rounding of torch's own
float32 kernels, which can be exact where a NumPy derivation is not. A bias right before a batchnorm
has a gradient of exactly 0 in exact arithmetic; with a batch of 2, torch's float32 batchnorm backward
gave exactly 0 where the manual side's separate operations left 1e-15 (a configuration hunt,
2026-12-03: 11 false alarms of this kind, under Adam, RMSprop and Adagrad a whole step of rounding).
Measured on those runs and on the grids: see the referee's docstring.
"""
import numpy as np
import torch
from torch._decomp import decomposition_table
from torch.utils._python_dispatch import TorchDispatchMode

aten = torch.ops.aten

# Results exact in any float dtype: copies, selections, sign and order; (views are found by the op itself).
EXACT = frozenset((
    aten.clone, aten.copy_, aten._to_copy, aten.to, aten.detach, aten.lift_fresh, aten.lift_fresh_copy,
    aten.scalar_tensor, aten.alias, aten.cat, aten.stack, aten.index, aten.index_select, aten.gather,
    aten.embedding, aten.where,
    aten.masked_fill, aten.neg, aten.abs, aten.relu, aten.threshold_backward, aten.max, aten.min, aten.amax,
    aten.amin, aten.maximum, aten.minimum, aten.clamp, aten.clamp_min, aten.clamp_max, aten.sign,
    aten.max_pool2d_with_indices, aten.constant_pad_nd, aten.flip, aten.fill, aten.fill_, aten.zero_,
    aten.zeros, aten.zeros_like, aten.ones, aten.ones_like, aten.full, aten.full_like, aten.empty,
    aten.empty_like, aten.empty_strided, aten.new_zeros, aten.new_ones, aten.new_empty, aten.new_full,
    aten.sort, aten.topk, aten.argmax, aten.argmin))


class RandomRounding(TorchDispatchMode):
    def __init__(self, eps: float, rng: np.random.Generator):
        super().__init__()
        self.half = eps / 2
        self.rng = rng

    def _rounded(self, t):
        if not isinstance(t, torch.Tensor) or not t.is_floating_point() or t.numel() == 0:
            return t
        u = torch.from_numpy(self.rng.uniform(-self.half, self.half, tuple(t.shape))).to(t.dtype)
        return t * (1 + u)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func.is_view or func.overloadpacket in EXACT or torch.Tag.inplace_view in func.tags:
            return func(*args, **kwargs)        # (transpose_ and the like change a view, not its values)
        if func in decomposition_table:         # a fused kernel: its elementary operations, each rounded
            with self:
                out = decomposition_table[func](*args, **kwargs)
            if out is not NotImplemented:       # (a decomposition may decline; then the kernel, rounded)
                return out
        out = func(*args, **kwargs)
        if func._schema.is_mutable:     # written in place (p.add_(...), out=, the optimizer): round what it wrote
            for i, spec in enumerate(func._schema.arguments):
                if spec.alias_info is not None and spec.alias_info.is_write:
                    given = args[i] if i < len(args) else kwargs.get(spec.name)
                    for arg in given if isinstance(given, (list, tuple)) else (given,):
                        if isinstance(arg, torch.Tensor) and arg.is_floating_point() and arg.numel():
                            arg.copy_(self._rounded(arg))
            return out
        if isinstance(out, (tuple, list)):
            return type(out)(self._rounded(o) for o in out)
        return self._rounded(out)

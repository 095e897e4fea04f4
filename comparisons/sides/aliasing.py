"""Intermediates that share memory: a value a later one was written over in place.

A manual side keeps each layer's output and dL/dx by reference. Code that edits an array in place
(cs231n's relu_backward, ``dx = dout; dx[x <= 0] = 0``, edits the dL/dx it was given; a ReLU written
over its input edits the previous layer's output; a sigmoid's backward written over its kept output)
leaves two kept values in one memory, and the one made first no longer holds what it held. Found
2026-12-03 with correct students: both failed at the value written over, in full.

``shared`` lists every pair of kept values whose arrays may overlap, each value with every later one: a
flatten's reshaped view is one memory too (conv, flatten, ReLU written over the flatten's view left
conv1.out stale), and so is a chain through a value that changed nothing (fc1.out, a flatten of it, a
ReLU over that). ``Shared.differ`` then asks torch: the earlier value is not compared only when torch's
two values differ at an element both arrays hold (the later layer changed it; dropout in evaluation, a
flatten, a ReLU on positive inputs change nothing, and the earlier value stays compared). The later
value, which the memory holds, is always compared (Lockstep.written_over).
"""
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Shared:
    """Two kept values whose arrays may hold the same memory: ``earlier`` ((part, layer): "out" or "dx")
    made before ``later``; ``a`` and ``b`` their arrays (the side's own, not copies); ``own`` lays torch's
    values out as those arrays are (a bring-your-own class's samples as columns, NHWC: a view), None when
    they are laid out as torch's."""
    earlier: tuple
    later: tuple
    a: np.ndarray = field(repr=False, compare=False)
    b: np.ndarray = field(repr=False, compare=False)
    own: Callable | None = field(default=None, repr=False, compare=False)

    def differ(self, ta: np.ndarray, tb: np.ndarray) -> bool:
        """Whether torch's values ``ta`` (of ``a``) and ``tb`` (of ``b``) differ at some element that ``a`` and
        ``b`` both hold: then that memory cannot hold both, and holds the later value. False where the
        elements cannot be placed (shapes that are not torch's, elements that are not whole items apart):
        the earlier value is then compared as it is."""
        a, b = self.a, self.b
        ta, tb = (self.own(ta), self.own(tb)) if self.own is not None else (ta, tb)
        if ta.shape != a.shape or tb.shape != b.shape or a.itemsize != b.itemsize or not a.size or not b.size:
            return False
        if _pointer(a) == _pointer(b) and (a.shape, a.strides) == (b.shape, b.strides):     # the same array
            return not np.array_equal(ta, tb)
        if _pointer(a) == _pointer(b) and a.size == b.size and a.flags.c_contiguous and b.flags.c_contiguous:
            # one memory in one order (a reshaped view: a flatten's): element k is element k. 0.4 ms for
            # 64 x 32 x 28 x 28 float32, where placing each element (below) takes 67 ms
            return not np.array_equal(ta.reshape(-1), tb.reshape(-1))
        where_a, where_b = _places(a, _pointer(a)), _places(b, _pointer(a))
        if where_a is None or where_b is None:
            return False
        # which of a's elements is at each of b's places: exact for any strides, memory as the arrays'
        # (np.shares_memory is exact too, but can take exponential time on exotic strides and says nothing
        # of which elements; a table over the span both cover is 2.5x faster, and as big as that span)
        order = np.argsort(where_a, axis=None)
        places = where_a.reshape(-1)[order]
        k = np.searchsorted(places, where_b).clip(max=a.size - 1)
        both = places[k] == where_b
        return bool(both.any()) and not np.array_equal(ta.reshape(-1)[order[k[both]]], tb[both])


def shared(arrays: dict, own: Callable | None = None) -> list[Shared]:
    """Every pair of ``arrays`` ({(part, layer): array}, in the order the values were made) whose memory may
    overlap (np.may_share_memory: their bounds overlap, 0.2 us a pair), the earlier one first; ``own``:
    as Shared's."""
    items = [(k, v) for k, v in arrays.items() if isinstance(v, np.ndarray)]
    return [Shared(k, later, a, b, own) for i, (k, a) in enumerate(items) for later, b in items[i + 1:]
            if np.may_share_memory(a, b)]


def _pointer(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0]


def _places(a: np.ndarray, origin: int) -> np.ndarray | None:
    """Where each of a's elements lies, in items from the address ``origin`` (an array of a's shape); None
    when they are not a whole number of items away (a view of another dtype, an unaligned buffer)."""
    size = a.itemsize
    if (_pointer(a) - origin) % size or any(s % size for s in a.strides):
        return None
    start = (_pointer(a) - origin) // size
    return np.asarray(start + sum(i * (s // size) for i, s in zip(np.indices(a.shape, sparse=True), a.strides)))

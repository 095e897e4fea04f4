"""Intermediates that are one array: a value a later one was written over in place.

A manual side keeps each layer's output and dL/dx by reference. Code that edits an array in place
(cs231n's relu_backward, ``dx = dout; dx[x <= 0] = 0``, edits the dL/dx it was given; a ReLU written
over its input edits the previous layer's output) leaves two kept values in one array, and the one
made first no longer holds what it held. Found 2026-12-03 with correct students: both failed at the
value written over, in full. ``same_array`` finds such pairs (the same memory, shape and strides: a
reshaped view, as a flatten makes, is not one); the harness then compares the earlier value only when
torch's two values are equal too (the later layer changed nothing: dropout in evaluation, a ReLU on
positive inputs), and says which value took its array otherwise (Lockstep.step_pairs).
"""
import numpy as np


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return (a.shape == b.shape and a.strides == b.strides and a.dtype == b.dtype
            and a.__array_interface__["data"][0] == b.__array_interface__["data"][0])


def same_array(outputs: dict, input_grads: dict, order: list[str]) -> dict:
    """{(part, layer): (part, later layer)} for a layer's output ("out") or dL/dx ("dx") held in the very
    array of a value made after it: a later layer's output; for dL/dx, an earlier layer's (the backward runs
    from the loss, "loss" last in ``order``, down to the first layer)."""
    rank = {name: i for i, name in enumerate(order)}
    found = {}
    for part, values, later_first in (("out", outputs, False), ("dx", input_grads, True)):
        names = sorted((n for n in values if n in rank and isinstance(values[n], np.ndarray)), key=rank.get,
                       reverse=later_first)      # in the order they were made
        for i, name in enumerate(names):
            for after in names[i + 1:]:
                if _same(values[name], values[after]):
                    found[(part, name)] = (part, after)
                    break
    return found

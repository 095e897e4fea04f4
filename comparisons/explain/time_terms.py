"""A recurrent layer's parameter gradients split into their per-time-step terms.

Backpropagation through time sums, for every parameter, one term per time step: with a_t the
pre-activation at step t and da_t = dL/da_t (the gradient carried back through every later step),
dL/dW_ih = sum_t da_t^T x_t, dL/dW_hh = sum_t da_t^T h_{t-1}, dL/db = sum_t sum_n da_t. A derivation
that keeps only one of them (an assignment where the loop meant +=, the last step's term alone) is
told apart from other slips by comparing with each term, which this module computes: the layer's
step unrolled over the sequence with a separate copy of every parameter per step, so autograd's
gradient of the copy used at step t is that step's term; their sum is the layer's gradient
(relations.partial_sum checks it does before it uses them). ``unrolled`` takes any step function
(`lockstep layers`: cs231n's layout, comparisons/explain/layer_refs.py); ``time_terms`` is a run's
layers, with torch's own cells (nn.RNNCell, nn.LSTMCell: gates i, f, g, o).
"""
import numpy as np
import torch
from torch import nn
from torch.func import functional_call

CELLS = {"rnn": nn.RNNCell, "lstm": nn.LSTMCell}
KEYS = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")


def unrolled(step, params: dict, x, state, dout, fixed=()) -> dict[str, list[np.ndarray]]:
    """{parameter: [its term at t = 0, ..., T-1]} of ``h_t, state = step(x_t, state, params_t)`` over x's
    axis 1, given dL/dh (``dout``, (N, T, H)); all tensors float64; names in ``fixed`` take no gradient."""
    T = x.shape[1]
    copies = [{k: v.detach().clone().requires_grad_(k not in fixed) for k, v in params.items()} for _ in range(T)]
    hs = []
    with torch.enable_grad():
        for t in range(T):
            h, state = step(x[:, t], state, copies[t])
            hs.append(h)
        torch.stack(hs, dim=1).backward(dout)
    return {k: [copies[t][k].grad.numpy() for t in range(T)] for k in params if k not in fixed}


def time_terms(token: str, params: dict, x, dout) -> dict[str, list[np.ndarray]]:
    """{parameter key (``weight_hh_l0``): [its term at t = 0, ..., T-1]} for an ``rnn``/``lstm`` layer
    with ``params`` (torch's four, by key; without bias_hh_l0 for a layer with one bias), input ``x``
    (N, T, D) and dL/d(output) ``dout`` (N, T, H), in float64; {} for another kind."""
    if token not in CELLS:
        return {}
    f64 = torch.float64
    x, dout = torch.tensor(np.asarray(x), dtype=f64), torch.tensor(np.asarray(dout), dtype=f64)
    (N, T, D), H = x.shape, np.shape(params["weight_hh_l0"])[1]
    cell = CELLS[token](D, H, dtype=f64)
    base = {k[:-3]: torch.tensor(np.asarray(params[k]), dtype=f64) for k in KEYS if k in params}
    base.setdefault("bias_hh", torch.zeros_like(base["bias_ih"]))      # one bias (onebias): b_hh = 0
    h = torch.zeros(N, H, dtype=f64)

    def step(x_t, state, p):
        state = functional_call(cell, p, (x_t, state))
        return (state, state) if token == "rnn" else (state[0], state)

    terms = unrolled(step, base, x, h if token == "rnn" else (h, torch.zeros(N, H, dtype=f64)), dout,
                     fixed=() if "bias_hh_l0" in params else ("bias_hh",))
    return {k: terms[k[:-3]] for k in KEYS if k in params}

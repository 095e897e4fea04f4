"""A gradient that is one time step's term instead of the sum over time (relations.partial_sum, with the
terms from comparisons/explain/time_terms.py): the terms sum to torch's gradient; two slips written as
students write backpropagation through time, not from the relation (an RNN's dWx assigned in the loop
where += was meant; an LSTM whose parameter gradients come from the last step alone), are named by a run;
a slip of another kind is not called a cut-short sum."""
import functools

import numpy as np
import pytest
import torch

import manual
from comparisons import Config, run
from comparisons.data.builtin import sequences
from comparisons.explain import relations
from comparisons.explain.time_terms import time_terms
from manual.recurrent import LSTM, RNN


@functools.cache
def data():
    return sequences(seed=5, sizes=(120, 40, 40))


@pytest.mark.parametrize("token", ["rnn", "lstm"])
def test_the_terms_sum_to_torchs_gradient_and_differ_from_each_other(token, rng):
    N, T, D, H = 3, 5, 4, 6
    G = H * (4 if token == "lstm" else 1)
    params = {"weight_ih_l0": rng.standard_normal((G, D)) * 0.5, "weight_hh_l0": rng.standard_normal((G, H)) * 0.5,
              "bias_ih_l0": rng.standard_normal(G) * 0.1, "bias_hh_l0": rng.standard_normal(G) * 0.1}
    x, dout = rng.standard_normal((N, T, D)), rng.standard_normal((N, T, H))
    layer = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM}[token](D, H, batch_first=True, dtype=torch.float64)
    for k, p in layer.named_parameters():
        p.data = torch.from_numpy(params[k])
    layer(torch.from_numpy(x))[0].backward(torch.from_numpy(dout))
    terms = time_terms(token, params, x, dout)
    for k, p in layer.named_parameters():
        assert len(terms[k]) == T
        assert relations.rel(np.sum(terms[k], axis=0), p.grad.numpy()) <= 1e-13       # measured <= 3e-16
        assert not np.any(terms["weight_hh_l0"][0])               # h_0 = 0: W_hh's first term is 0
        assert relations.rel(terms[k][-1], p.grad.numpy()) > 0.1
    ctx = relations.Context(terms={"time step": terms["weight_ih_l0"]})
    r = layer.weight_ih_l0.grad.numpy()
    found = relations.partial_sum(terms["weight_ih_l0"][2], r, 1e-12, ctx)
    assert found == ("a sum over time cut short: manual = the term of time step t = 2 alone, where the reference "
                     f"sums the terms of all T = {T} time steps")
    last3 = np.sum(terms["weight_ih_l0"][-3:], axis=0)
    assert "the sum of the last 3 time steps' terms" in relations.partial_sum(last3, r, 1e-12, ctx)
    assert relations.partial_sum(2 * r, r, 1e-12, ctx) is None
    wrong = relations.Context(terms={"time step": terms["weight_ih_l0"][1:]})     # terms that do not sum to r
    assert relations.partial_sum(terms["weight_ih_l0"][2], r, 1e-12, wrong) is None


class RNNAssignsInLoop(RNN):
    """cs231n-style rnn_backward, one slip: ``dWx = ...`` inside the loop where ``dWx += ...`` was meant."""
    def backward(self, dout):
        Wih, Whh = self.params["weight_ih_l0"], self.params["weight_hh_l0"]
        N, T, H = self.h.shape
        dx, dWh, db = np.zeros_like(self.x), np.zeros_like(Whh), np.zeros(H, self.h.dtype)
        dh_next = np.zeros((N, H), self.h.dtype)
        for t in reversed(range(T)):
            da = (dout[:, t] + dh_next) * (1 - self.h[:, t] ** 2)
            dx[:, t] = da @ Wih
            dWx = da.T @ self.x[:, t]
            dWh += da.T @ self.h_prev[:, t]
            db += da.sum(axis=0)
            dh_next = da @ Whh
        self.grads = {"weight_ih_l0": dWx, "weight_hh_l0": dWh, "bias_ih_l0": db, "bias_hh_l0": db.copy()}
        return dx


class LSTMLastStepWeights(LSTM):
    """dx through time right, but the parameter gradients taken from the final time step's da alone, as
    lstm_step_backward gives them for one step."""
    def backward(self, dout):
        dx = super().backward(dout)
        da = self._da_last
        self.grads = {"weight_ih_l0": da.T @ self.x[:, -1], "weight_hh_l0": da.T @ self.h_prev[:, -1],
                      "bias_ih_l0": da.sum(axis=0), "bias_hh_l0": da.sum(axis=0)}
        return dx

    def _grads(self, da, h_prev):
        self._da_last = da[:, -1].copy()
        return super()._grads(da, h_prev)


SLIPS = [("RNN", RNNAssignsInLoop, "embedding:10:8,rnn:16,temporal_linear",
          "backward > rnn1 (rnn) > grad rnn1.weight_ih_l0", "the term of time step t = 0 (the first) alone"),
         ("LSTM", LSTMLastStepWeights, "embedding:10:8,lstm:16,temporal_linear",
          "backward > lstm1 (lstm) > grad lstm1.weight_ih_l0", "the term of time step t = 11 (the last) alone")]


@pytest.mark.parametrize("cls,mutant,model,where,finding", SLIPS, ids=[s[0] for s in SLIPS])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_sum_over_time_cut_short_is_named(cls, mutant, model, where, finding, dtype, monkeypatch):
    monkeypatch.setattr(manual, cls, mutant)
    result = run(Config(model=model, loss="temporal_cross_entropy", epochs=1, batch_size=16, lr=0.1,
                        dtype=dtype, mode="synced", fail_fast=True), data())
    diagnosis = result.summary["diagnosis"]
    assert not result.passed and diagnosis["first_divergence"] == where, diagnosis
    assert f"{where}: a sum over time cut short: manual = {finding}, where the reference sums the terms of all " \
           f"T = 12 time steps" in diagnosis["findings"], diagnosis


def test_the_last_steps_term_alone_is_not_called_a_cut_short_sum_when_only_that_step_has_a_loss(rng):
    """Many-to-one (a loss at the last step only): a backward that does not carry dh back to earlier steps
    gives exactly the last step's term, as a loop that assigns where it meant += does; the finding names
    both and does not pick one (found by review with an RNN whose backward dropped dh_next)."""
    N, T, D, H = 4, 5, 3, 6
    params = {"weight_ih_l0": rng.standard_normal((H, D)) * 0.5, "weight_hh_l0": rng.standard_normal((H, H)) * 0.5,
              "bias_ih_l0": rng.standard_normal(H) * 0.1, "bias_hh_l0": np.zeros(H)}
    x, dout = rng.standard_normal((N, T, D)), np.zeros((N, T, H))
    dout[:, -1] = rng.standard_normal((N, H))
    terms = time_terms("rnn", params, x, dout)["weight_hh_l0"]
    m, r = terms[-1], np.sum(terms, axis=0)
    assert relations.rel(m, r) > 1e-3          # the earlier steps' terms are not zero: dh is carried in the reference
    ambiguous = relations.partial_sum(m, r, 1e-12, relations.Context(terms={"time step": terms}, fed=(T - 1,)))
    assert "dh not carried back through time" in ambiguous and not ambiguous.startswith("a sum over time cut short")
    everywhere = relations.partial_sum(m, r, 1e-12, relations.Context(terms={"time step": terms}, fed=tuple(range(T))))
    assert everywhere.startswith("a sum over time cut short") and "t = 4 (the last)" in everywhere

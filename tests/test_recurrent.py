"""The recurrent kinds (embedding, rnn, lstm, temporal_linear) and temporal_cross_entropy beyond the twin
test: the course conventions' mapping onto torch's layout (gate order, one bias), the built-in sequence
task, lockstep runs of a small LSTM language model and a vanilla RNN in both dtypes and modes, planted
backpropagation-through-time slips caught at their layer, and bad input refused in one line."""
import functools
import subprocess
import sys

import numpy as np
import pytest
import torch

import manual
from comparisons import Config, run
from comparisons.data import load_data, validate
from comparisons.data.builtin import SEQ_LEN, VOCAB, sequences
from comparisons.data.dataset import Dataset, Split
from comparisons.errors import InputError
from manual.conventions import RECURRENT_GATES, SEQUENCE_PAD, recurrent_from, recurrent_to
from manual.recurrent import LSTM, RNN, Embedding

RTOL = 1e-12      # float64, as tests/test_twins.py (measured vs torch: <= 2.5e-15, rnn:16 over 12 steps)


def rel(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


# --- the course layout: cs231n's forward, written from its assignment's statement -----------------------

def cs231n_lstm(x, Wx, Wh, b):
    """cs231n's lstm_forward (h0 = 0): a = x_t Wx + h Wh + b, (N, 4H) split into i, f, o, g in that order."""
    N, T, _ = x.shape
    H = Wh.shape[0]
    h, c, hs = torch.zeros(N, H, dtype=x.dtype), torch.zeros(N, H, dtype=x.dtype), []
    for t in range(T):
        a = x[:, t] @ Wx + h @ Wh + b
        i, f, o, g = torch.sigmoid(a[:, :H]), torch.sigmoid(a[:, H:2 * H]), torch.sigmoid(a[:, 2 * H:3 * H]), \
            torch.tanh(a[:, 3 * H:])
        c = f * c + i * g
        h = o * torch.tanh(c)
        hs.append(h)
    return torch.stack(hs, dim=1)


def cs231n_rnn(x, Wx, Wh, b):
    """cs231n's rnn_forward (h0 = 0): h_t = tanh(x_t Wx + h_{t-1} Wh + b)."""
    h, hs = torch.zeros(x.shape[0], Wh.shape[0], dtype=x.dtype), []
    for t in range(x.shape[1]):
        h = torch.tanh(x[:, t] @ Wx + h @ Wh + b)
        hs.append(h)
    return torch.stack(hs, dim=1)


def _course_params(rng, D, H, G):
    return [torch.tensor(rng.standard_normal(s), requires_grad=True) for s in ((D, G * H), (H, G * H), (G * H,))]


@pytest.mark.parametrize("kind,course,G", [("lstm", cs231n_lstm, 4), ("rnn", cs231n_rnn, 1)])
def test_the_course_layout_maps_onto_torch(kind, course, G):
    """cs231n's Wx (D, GH), Wh (H, GH), b, gates i, f, o, g, mapped by RECURRENT_GATES["cs231n"] (and b_ih = b,
    b_hh = 0): torch.nn's forward equals the course's, and so do the gradients mapped back (dL/db = either
    bias's gradient); for the LSTM the same parameters without the reordering give another network."""
    rng = np.random.default_rng(0)
    N, T, D, H = 3, 5, 4, 6
    Wx, Wh, b = _course_params(rng, D, H, G)
    x = torch.tensor(rng.standard_normal((N, T, D)))
    dout = torch.tensor(rng.standard_normal((N, T, H)))
    out = course(x, Wx, Wh, b)
    (out * dout).sum().backward()
    twin = getattr(torch.nn, kind.upper())(D, H, batch_first=True, dtype=torch.float64)
    mapped = recurrent_from("cs231n", Wx.detach().numpy(), Wh.detach().numpy(), b.detach().numpy())
    with torch.no_grad():
        for k, v in mapped.items():
            getattr(twin, k).copy_(torch.from_numpy(v))
    tout = twin(x)[0]
    (tout * dout).sum().backward()
    assert rel(tout.detach(), out.detach()) <= RTOL
    grads = {k: p.grad.numpy() for k, p in twin.named_parameters()}
    assert rel(grads["bias_ih_l0"], grads["bias_hh_l0"]) <= RTOL     # the same gradient (summed in another order)
    dWx, dWh, db = recurrent_to("cs231n", {**grads, "bias_hh_l0": 0 * grads["bias_hh_l0"]})
    for mine, ref in ((dWx, Wx.grad), (dWh, Wh.grad), (db, b.grad)):
        assert rel(mine, ref) <= RTOL
    back = recurrent_to("cs231n", mapped)       # the round trip gives the course's arrays back
    assert all(np.array_equal(m, r.detach().numpy()) for m, r in zip(back, (Wx, Wh, b)))
    if kind == "lstm":      # without the gate reordering (torch's order read as the course's): another network
        unmapped = recurrent_from("torch", Wx.detach().numpy(), Wh.detach().numpy(), b.detach().numpy())
        with torch.no_grad():
            for k, v in unmapped.items():
                getattr(twin, k).copy_(torch.from_numpy(v))
            assert rel(twin(x)[0], out.detach()) > 0.1
        assert RECURRENT_GATES["cs231n"] != RECURRENT_GATES["torch"]


def test_the_manual_lstm_is_in_torch_layout():
    """manual.LSTM's parameters load torch's (no mapping in between) and give torch's output."""
    rng = np.random.default_rng(1)
    mine = LSTM(3, 4, dtype=np.float64)
    twin = torch.nn.LSTM(3, 4, batch_first=True, dtype=torch.float64)
    for k, p in twin.named_parameters():
        mine.params[k][...] = p.detach().numpy()
    x = rng.standard_normal((2, 6, 3))
    assert rel(mine.forward(x), twin(torch.from_numpy(x))[0].detach()) <= RTOL


# --- the built-in sequence task ----------------------------------------------------------------------

@functools.cache
def data():
    return sequences(seed=5, sizes=(120, 40, 40))


def test_builtin_sequence_is_deterministic_and_padded():
    a, b = load_data("builtin:sequence"), sequences()
    assert np.array_equal(a.train.x, b.train.x) and np.array_equal(a.test.y, b.test.y)
    validate(a)
    x, y = a.train.x, a.train.y
    assert x.dtype == np.int64 and x.shape == y.shape == (len(x), SEQ_LEN) and a.target == "sequence"
    assert x.min() >= 0 and x.max() < VOCAB and y.max() < VOCAB and (x[:, 0] == 1).all()
    masked = y == SEQUENCE_PAD
    assert 0.1 < masked.mean() < 0.5 and masked.any(axis=1).mean() > 0.5     # many sentences are padded
    assert np.array_equal(x[:, 1:][~masked[:, :-1]], y[:, :-1][~masked[:, :-1]])   # y is x shifted by one
    assert a.astype(np.float32).train.x.dtype == np.int64                 # token ids stay integers
    assert a.out_shape == (SEQ_LEN, VOCAB) and a.ids == VOCAB


def test_builtin_onehot_sequence_is_the_ids_as_one_hot_vectors():
    ids, onehot = sequences(seed=2, sizes=(20, 5, 5)), load_data("builtin:sequence:onehot")
    validate(onehot)
    vectors = sequences(seed=2, sizes=(20, 5, 5), onehot=True)
    assert vectors.train.x.shape == (20, SEQ_LEN, VOCAB) and vectors.sample_shape == (SEQ_LEN, VOCAB)
    assert vectors.ids is None
    assert np.array_equal(vectors.train.x.argmax(axis=-1), ids.train.x) and np.all(vectors.train.x.sum(axis=-1) == 1)
    assert np.array_equal(vectors.test.y, ids.test.y) and onehot.name == "builtin:sequence:onehot"


def test_sequence_accuracy_counts_unmasked_steps():
    """Accuracy and disagreements are per (sample, step), masked steps left out."""
    result = run(Config(model="embedding:10:8,rnn:16,temporal_linear", loss="temporal_cross_entropy", epochs=1,
                        batch_size=0, lr=0.1, dtype="float64"), data())
    rows = result.frame[(result.frame.quantity == "disagreements") & (result.frame.phase == "test")]
    assert set(rows.reference) == {int((data().test.y != SEQUENCE_PAD).sum())}
    assert 0 < result.summary["final"]["test"]["manual"]["accuracy"] < 1


# --- lockstep runs -------------------------------------------------------------------------------------

MODELS = {"lstm": "embedding:10:8,lstm:16,temporal_linear", "rnn": "embedding:10:8,rnn:16,temporal_linear"}
RUNS = [(name, dtype, mode) for name in MODELS for dtype in ("float32", "float64") for mode in ("free", "synced")]


@pytest.mark.parametrize("name,dtype,mode", RUNS)
def test_a_recurrent_language_model_trains_in_lockstep(name, dtype, mode):
    result = run(Config(model=MODELS[name], loss="temporal_cross_entropy", epochs=2, batch_size=16, lr=0.05,
                        momentum=0.9, dtype=dtype, mode=mode), data())
    assert result.passed, result.first_failure
    final = result.summary["final"]["train"]["manual"]
    assert final["loss"] < np.log(VOCAB) * (data().train.y != SEQUENCE_PAD).sum() / len(data().train.y)


def test_the_lstm_learns_the_grammar():
    """Not only agreement: the small LSTM language model learns the next token beyond chance (1/10)."""
    result = run(Config(model=MODELS["lstm"], loss="temporal_cross_entropy", epochs=4, batch_size=20, lr=0.05,
                        momentum=0.9, dtype="float32", mode="synced"), sequences(seed=1, sizes=(300, 100, 100)))
    assert result.passed, result.first_failure
    assert result.summary["final"]["valid"]["manual"]["accuracy"] > 0.4     # measured 0.58 after 8 epochs of 400


# --- planted slips: backpropagation through time ----------------------------------------------------------

class LSTMNoForgetPath(LSTM):
    """dL/dc_{t-1} through the forget gate (dc f) forgotten: each step's cell gradient starts from 0."""
    def backward(self, dout):
        H, Whh = self.hidden_size, self.params["weight_hh_l0"]
        da = np.zeros_like(self.gate)
        dh_next = np.zeros_like(self.h_prev[:, 0])
        for t in reversed(range(self.gate.shape[1])):
            g4, tc = self.gate[:, t], self.tanh_c[:, t]
            i, f, g, o = g4[:, :H], g4[:, H:2 * H], g4[:, 2 * H:3 * H], g4[:, 3 * H:]
            dh = dout[:, t] + dh_next
            dc = dh * o * (1 - tc * tc)                        # + dc_next missing
            da[:, t] = np.concatenate([dc * g * i * (1 - i), dc * self.c_prev[:, t] * f * (1 - f),
                                       dc * i * (1 - g * g), dh * tc * o * (1 - o)], axis=1)
            dh_next = da[:, t] @ Whh
        return self._grads(da, self.h_prev)


class RNNNoCarry(RNN):
    """The gradient not carried through h across time: every step's backward sees only dout_t."""
    def backward(self, dout):
        return self._grads(dout * (1 - self.h ** 2), self.h_prev)


class EmbeddingOverwrites(Embedding):
    """dW[x] = dout: a repeated token id keeps only one of its gradients (np.add.at forgotten)."""
    def backward(self, dout):
        dW = np.zeros_like(self.params["weight"])
        dW[self.x] = dout
        self.grads = {"weight": dW}


SLIPS = [("LSTM", LSTMNoForgetPath, MODELS["lstm"], "backward > lstm1 (lstm)"),
         ("RNN", RNNNoCarry, MODELS["rnn"], "backward > rnn1 (rnn)"),
         ("Embedding", EmbeddingOverwrites, MODELS["lstm"], "embed1.weight")]


@pytest.mark.parametrize("cls,mutant,model,where", SLIPS, ids=[s[0] for s in SLIPS])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_bptt_slip_is_caught_at_its_layer(cls, mutant, model, where, dtype, monkeypatch):
    monkeypatch.setattr(manual, cls, mutant)
    result = run(Config(model=model, loss="temporal_cross_entropy", epochs=1, batch_size=16, lr=0.1,
                        dtype=dtype, mode="synced"), data())
    assert not result.passed and result.first_failure["step"] == 1
    assert where in result.summary["diagnosis"]["first_divergence"], result.summary["diagnosis"]


class TemporalNoMask(manual.TemporalCrossEntropy):
    """The mask ignored in the gradient: padded steps get softmax(s) - onehot(end token) / N, as if unmasked."""
    def backward(self):
        N, T, V = self.shape
        p = np.exp(self.scores - self.scores.max(axis=-1, keepdims=True))
        p /= p.sum(axis=-1, keepdims=True)
        p[..., 0] -= 1
        d = super().backward()
        masked = ~self.keep.reshape(N, T)
        d[masked] = p[masked] / N
        return d

    def forward(self, scores, y):
        self.scores = scores
        return super().forward(scores, y)


class TemporalNoN(manual.TemporalCrossEntropy):
    def backward(self):
        return super().backward() * self.shape[0]          # the 1/N forgotten


@pytest.mark.parametrize("mutant,finding", [(TemporalNoN, "a constant factor: manual = 16 × reference (= N = 16"),
                                            (TemporalNoMask, "differs at")])
def test_a_temporal_loss_slip_is_caught_at_the_loss(mutant, finding):
    result = run(Config(model=MODELS["lstm"], loss="temporal_cross_entropy", epochs=1, batch_size=16, lr=0.05,
                        dtype="float64", mode="synced"), data(), manual_loss=mutant("mean"))
    diagnosis = result.summary["diagnosis"]
    assert not result.passed and diagnosis["first_divergence"] == "backward > loss > dL/dscores", diagnosis
    assert any(finding in f for f in diagnosis["findings"]), diagnosis


# --- bad input ---------------------------------------------------------------------------------------------

def _sequence_data(x, y, n_classes=VOCAB):
    return Dataset("seq", Split(x, y), Split(x, y), Split(x, y), n_classes=n_classes, target="sequence")


@pytest.mark.parametrize("model,loss,which,words", [
    ("embedding:10:4,rnn:4,temporal_linear", "temporal_cross_entropy", "empty", "a sequence of length 0"),
    ("rnn:4,temporal_linear", "temporal_cross_entropy", "seq", "'rnn:4' (rnn1) on input of shape (12,): rnn needs "
                                                             "sequences (T, features)"),
    ("embedding:5:4,rnn:4,temporal_linear", "temporal_cross_entropy", "seq",
     "'embedding:5:4' (embed1) on input of shape (12,): the data has token ids up to 9"),
    ("embedding:10:4,rnn:4,temporal_linear", "temporal_cross_entropy", "float", "sequence samples must be integer "
                                                                              "token ids, got float"),
    ("embedding:10:4,rnn:4,temporal_linear", "cross_entropy", "flat", "'embedding:10:4' (embed1) on input of shape "
                                                                    "(4,): takes integer token ids"),
    ("linear:4,rnn:4,temporal_linear", "cross_entropy", "flat", "'rnn:4' (rnn1) on input of shape (4,): rnn needs "
                                                            "sequences"),
    ("embedding:10:4,lstm:4,linear", "temporal_cross_entropy", "seq", "'linear' (fc1) on input of shape (12, 4)"),
    ("embedding:10:4,lstm:4,temporal_linear:3", "temporal_cross_entropy", "seq", "check 'temporal_linear:3'"),
    ("embedding:10:4,lstm:4,temporal_linear", "cross_entropy", "seq", "loss cross_entropy needs class targets"),
    ("embedding:10:4,lstm:4,temporal_linear", "temporal_cross_entropy", "negative", "negative token id -3"),
])
def test_bad_sequence_input_is_one_line(model, loss, which, words):
    x, y = data().train.x, data().train.y
    given = {"seq": data(), "empty": _sequence_data(x[:, :0], y[:, :0]),
             "float": _sequence_data(x.astype(np.float64), y), "negative": _sequence_data(np.where(x == 2, -3, x), y),
             "flat": Dataset("flat", *(Split(np.ones((20, 4)), np.arange(20) % 3),) * 3, n_classes=3)}[which]
    with pytest.raises(InputError) as e:
        run(Config(model=model, loss=loss, epochs=1, batch_size=10), given)
    message = str(e.value)
    assert words in message and "\n" not in message, message


@pytest.mark.parametrize("args,words", [
    (["--model", "rnn:8,temporal_linear"], "model token 'rnn:8' (rnn1)"),
    (["--model", "embedding:4:8,rnn:8,temporal_linear"], "token ids up to 9, >= V = 4"),
])
def test_bad_sequence_input_exits_2_in_one_line(tmp_path, args, words):
    proc = subprocess.run([sys.executable, "-m", "comparisons.cli", "run", "--data", "builtin:sequence", "--loss",
                           "temporal_cross_entropy", "--epochs", "1", "--out", str(tmp_path / "o"), *args],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], proc.stderr


# --- the referee ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_referee_recomputes_a_recurrent_step(name, dtype):
    """tanh and sigmoid have no branch points: the referee recomputes a step of the recurrent network from
    the manual side's state (token ids kept integers) and every value of a correct manual side is within
    the rounding its probes measure; the per-step scores feed the near-tie count."""
    from comparisons.check import rules
    from comparisons.explain.referee import near_ties
    from comparisons.lockstep import Lockstep
    config = Config(model=MODELS[name], loss="temporal_cross_entropy", batch_size=16, lr=0.05, momentum=0.9,
                    dtype=dtype)
    lock = Lockstep(config, data().astype(np.dtype(dtype)))
    x, y = lock.data.train.x[:16], lock.data.train.y[:16]
    m, j = lock.manual, lock.judge
    m.train_step(x, y)
    _, scores_t = j.train_step(x, y)
    before = {"params": j.before, "buffers": j.before_buffers, "state": j.before_state, "step": j.before_step}
    recomputed = lock.referee.step(before, x, y, m.outputs)
    assert not recomputed.flips
    forward, backward = lock.step_pairs()
    checked = 0
    for pair in forward + backward:
        q, key, mv = pair.quantity, pair.name, pair.manual_value()
        if (q, key) in recomputed.ref:
            row = rules.tensor_row((1, 1, "step"), q, key, mv, pair.torch_value(), dtype)
            judged = rules.rejudge(row, mv, recomputed.ref[(q, key)], recomputed.noise((q, key)), dtype)
            assert judged.passed, (q, key, judged.referee_diff, judged.tolerance)
            checked += 1
    assert checked >= 12
    pred = lock.predict(m.net.outputs[lock.layers[-1].name], y)
    assert pred.shape == ((y != SEQUENCE_PAD).sum(),)
    other = pred.copy()
    other[0] = (other[0] + 1) % VOCAB            # one step predicted differently: far from a tie (not explained)
    assert near_ties(lock.step_scores(recomputed, y), pred, other, rules.FACTOR, rules.floor(dtype)) == 0


def test_the_shared_init_of_a_recurrent_layer():
    """Both weights from --init, each with its own fans; b_ih from --init-bias, b_hh 0 (RECURRENT_BIAS)."""
    from comparisons import spec
    from comparisons.sides import shared_init
    layers = spec.parse(MODELS["lstm"], (SEQ_LEN,), VOCAB, ids=VOCAB, out_shape=(SEQ_LEN, VOCAB))
    values = shared_init.draw(layers, np.random.default_rng(0), "float64", "normal:0.5", "normal:0.1")
    assert not values["lstm1.bias_hh_l0"].any() and values["lstm1.bias_ih_l0"].std() > 0.05
    assert values["lstm1.weight_hh_l0"].shape == (64, 16) and 0.4 < values["lstm1.weight_hh_l0"].std() < 0.6


# --- one bias (onebias: the courses' b) ------------------------------------------------------------

@pytest.mark.parametrize("token", ["rnn", "lstm"])
def test_one_bias_is_torchs_layer_with_b_hh_zero_and_trains_as_one(token, rng):
    """rnn:H:onebias / lstm:H:onebias: bias_ih_l0 alone (both sides), equal to torch's layer with b_hh = 0, its
    gradient db; torch's own layer gives db to each of its two biases (SGD would move their sum by 2·lr·db)."""
    from comparisons import spec
    layer = spec.layer(f"{token}:4:onebias", (5, 3))
    G = 4 * (4 if token == "lstm" else 1)
    mine, twin = layer.kind.manual(**layer.kwargs, dtype=np.float64), layer.kind.twin(**layer.kwargs,
                                                                                      dtype=torch.float64)
    assert set(mine.params) == {k for k, _ in twin.named_parameters()} == {"weight_ih_l0", "weight_hh_l0",
                                                                           "bias_ih_l0"}
    full = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM}[token](3, 4, batch_first=True, dtype=torch.float64)
    values = {"weight_ih_l0": rng.standard_normal((G, 3)), "weight_hh_l0": rng.standard_normal((G, 4)),
              "bias_ih_l0": rng.standard_normal(G)}
    for k, p in twin.named_parameters():
        p.data = torch.from_numpy(values[k].copy())
        mine.params[k][...] = values[k]
    for k, p in full.named_parameters():
        p.data = torch.from_numpy(values.get(k, np.zeros(G)).copy())
    x, dout = rng.standard_normal((2, 5, 3)), rng.standard_normal((2, 5, 4))
    out = twin(torch.from_numpy(x))
    assert rel(out.detach().numpy(), full(torch.from_numpy(x))[0].detach().numpy()) <= RTOL
    assert rel(mine.forward(x), out.detach().numpy()) <= RTOL
    out.backward(torch.from_numpy(dout))
    full(torch.from_numpy(x))[0].backward(torch.from_numpy(dout))
    mine.backward(dout)
    db = twin.bias_ih_l0.grad.numpy()
    assert rel(mine.grads["bias_ih_l0"], db) <= RTOL and "bias_hh_l0" not in mine.grads
    assert rel(full.bias_hh_l0.grad.numpy(), db) <= RTOL    # torch's pair: each gets db, so b_ih + b_hh moves 2 lr db


def test_a_one_bias_model_trains_in_lockstep():
    result = run(Config(model="embedding:10:8,lstm:16:onebias,temporal_linear", loss="temporal_cross_entropy",
                        epochs=1, batch_size=16, lr=0.05, dtype="float64", mode="synced"), data())
    assert result.passed, result.first_failure
    assert "lstm1.bias_hh_l0" not in set(result.frame.name) and "lstm1.bias_ih_l0" in set(result.frame.name)

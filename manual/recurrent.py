"""Sequence layers: token embedding, vanilla RNN, LSTM and a per-step affine, over (N, T, ...) batches.

Layout as torch.nn with ``batch_first=True``: x is (N, T, D), the output (N, T, H); parameters keyed
by torch's names (``weight_ih_l0`` (H, D) or (4H, D), ``weight_hh_l0``, ``bias_ih_l0``, ``bias_hh_l0``),
the LSTM's gates stacked in torch's order i, f, g, o; h_0 = c_0 = 0. The course conventions (cs231n's
Wx (D, 4H), Wh (H, 4H), one bias, gates i, f, o, g) and their mapping onto this layout are declared in
manual/conventions.py (RECURRENT_*).

Backpropagation through time is the loop over t from T - 1 down to 0 in ``backward``: each step's
backward takes dL/dh_t (from the layer above at step t, plus what step t + 1 sent back through h_t)
and, for the LSTM, dL/dc_t (what step t + 1 sent back through its forget gate); within a step the
batch is vectorised.
"""
import numpy as np

from manual.layers import Layer


def _sigmoid(z):
    """1 / (1 + exp(-z)) from exp(-|z|), so no exponent overflows (as manual.Sigmoid)."""
    e = np.exp(-np.abs(z))
    one = z.dtype.type(1)
    return np.where(z >= 0, one / (one + e), e / (one + e))


def _sequences(x, what: str):
    if x.ndim != 3:
        raise ValueError(f"{what} needs sequences (N, T, features), got shape {x.shape}")
    if x.shape[1] == 0:
        raise ValueError(f"{what}: a sequence of length 0")


class Embedding(Layer):
    """out[n, t] = W[x[n, t]] with W (V, D), as torch.nn.Embedding; x (N, T) integer token ids in [0, V).

    dL/dW[v] = sum of dout[n, t] over every (n, t) with x[n, t] = v (np.add.at: repeated ids add up);
    the ids have no gradient (backward returns None).
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, dtype=np.float32):
        super().__init__()
        self.params["weight"] = np.zeros((num_embeddings, embedding_dim), dtype)

    def forward(self, x, train=True):
        x = np.asarray(x)
        if not np.issubdtype(x.dtype, np.integer):
            raise ValueError(f"embedding needs integer token ids, got {x.dtype} input")
        V = len(self.params["weight"])
        if x.size and (x.min() < 0 or x.max() >= V):
            raise ValueError(f"embedding: token ids must be in [0, {V}), got ids in [{x.min()}, {x.max()}]")
        self.x = x
        return self.params["weight"][x]

    def backward(self, dout):
        dW = np.zeros_like(self.params["weight"])
        np.add.at(dW, self.x, dout)
        self.grads = {"weight": dW}
        return None


class TemporalLinear(Layer):
    """The affine map of torch.nn.Linear at every time step: (N, T, D) -> (N, T, OUT),
    out[:, t] = x[:, t] @ W.T + b. dL/dW = sum over (n, t) of dout[n, t] x[n, t]^T, dL/db the sum of
    dout over (n, t), dL/dx = dout @ W (cs231n's temporal_affine; W here is (OUT, D), torch's)."""

    def __init__(self, in_features: int, out_features: int, dtype=np.float32):
        super().__init__()
        self.params["weight"] = np.zeros((out_features, in_features), dtype)
        self.params["bias"] = np.zeros(out_features, dtype)

    def forward(self, x, train=True):
        _sequences(x, "temporal_linear")
        self.x = x
        return np.matmul(x, self.params["weight"].T) + self.params["bias"]

    def backward(self, dout):
        D = self.x.shape[-1]
        flat = dout.reshape(-1, dout.shape[-1])
        self.grads = {"weight": flat.T @ self.x.reshape(-1, D), "bias": flat.sum(axis=0)}
        return dout @ self.params["weight"] if self.need_dx else None


class _Recurrent(Layer):
    """What RNN and LSTM share: torch's four parameters for ``gates`` stacked gates of width H; with
    ``one_bias`` (the courses' one b, manual/conventions.py RECURRENT_BIAS) three: no bias_hh_l0."""
    gates = 1

    def __init__(self, input_size: int, hidden_size: int, one_bias: bool = False, dtype=np.float32):
        super().__init__()
        G = self.gates * hidden_size
        self.hidden_size = hidden_size
        self.params["weight_ih_l0"] = np.zeros((G, input_size), dtype)
        self.params["weight_hh_l0"] = np.zeros((G, hidden_size), dtype)
        self.params["bias_ih_l0"] = np.zeros(G, dtype)
        if not one_bias:
            self.params["bias_hh_l0"] = np.zeros(G, dtype)

    def _bias_hh(self):
        return self.params.get("bias_hh_l0", 0)

    def _inputs(self, x):
        """x_t W_ih^T + b_ih for every step at once (N, T, G): the part that needs no recurrence."""
        _sequences(x, type(self).__name__.lower())
        self.x = x
        return np.matmul(x, self.params["weight_ih_l0"].T) + self.params["bias_ih_l0"]

    def _grads(self, da, h_prev):
        """From dL/da_t (N, T, G) of every step and h_{t-1} (N, T, H): the parameter gradients, dL/dx.
        Both biases enter a_t once each: dL/db_ih = dL/db_hh = sum over (n, t) of dL/da_t."""
        G, D = da.shape[-1], self.x.shape[-1]
        flat = da.reshape(-1, G)
        db = flat.sum(axis=0)
        self.grads = {"weight_ih_l0": flat.T @ self.x.reshape(-1, D),
                      "weight_hh_l0": flat.T @ h_prev.reshape(-1, self.hidden_size), "bias_ih_l0": db}
        if "bias_hh_l0" in self.params:
            self.grads["bias_hh_l0"] = db.copy()
        return da @ self.params["weight_ih_l0"] if self.need_dx else None


class RNN(_Recurrent):
    """Vanilla (tanh) RNN, as torch.nn.RNN(batch_first=True):
    h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh), h_0 = 0; the output is (h_1, ..., h_T).

    Backward through time, t = T-1 .. 0:  dh = dout_t + dh_next;  da = dh (1 - h_t²);
    dh_next = da W_hh (the gradient carried to h_{t-1});  W_ih, W_hh, b from every step's da.
    cs231n's one bias b is b_ih + b_hh (manual/conventions.py RECURRENT_BIAS).
    """

    def forward(self, x, train=True):
        xw = self._inputs(x)
        N, T, H = *x.shape[:2], self.hidden_size
        Whh, b = self.params["weight_hh_l0"], self._bias_hh()
        self.h = np.zeros((N, T, H), x.dtype)
        self.h_prev = np.zeros((N, T, H), x.dtype)
        h = np.zeros((N, H), x.dtype)
        for t in range(T):
            self.h_prev[:, t] = h
            h = np.tanh(xw[:, t] + (h @ Whh.T + b))
            self.h[:, t] = h
        return self.h.copy()

    def backward(self, dout):
        Whh = self.params["weight_hh_l0"]
        da = np.zeros_like(self.h)
        dh_next = np.zeros_like(self.h[:, 0])
        for t in reversed(range(self.h.shape[1])):
            dh = dout[:, t] + dh_next
            da[:, t] = dh * (1 - self.h[:, t] ** 2)
            dh_next = da[:, t] @ Whh
        return self._grads(da, self.h_prev)


class LSTM(_Recurrent):
    """LSTM, as torch.nn.LSTM(batch_first=True); h_0 = c_0 = 0. With a_t = x_t W_ih^T + b_ih +
    h_{t-1} W_hh^T + b_hh split in torch's gate order [i | f | g | o] (each H wide):
    i, f, o = sigmoid(.), g = tanh(.);  c_t = f c_{t-1} + i g;  h_t = o tanh(c_t). Output (h_1, ..., h_T).

    Backward through time, t = T-1 .. 0, with dc_next = dL/dc_t from step t + 1:
      dh = dout_t + dh_next;  do = dh tanh(c_t);  dc = dc_next + dh o (1 - tanh²(c_t));
      di = dc g;  df = dc c_{t-1};  dg = dc i;  dc_next = dc f (the path through the forget gate);
      da = [di i(1-i) | df f(1-f) | dg (1-g²) | do o(1-o)];  dh_next = da W_hh.
    cs231n stacks the gates i, f, o, g in Wx (D, 4H), Wh (H, 4H), b (4H,): manual/conventions.py
    RECURRENT_GATES maps it onto this layout.
    """
    gates = 4

    def forward(self, x, train=True):
        xw = self._inputs(x)
        N, T, H = *x.shape[:2], self.hidden_size
        Whh, b = self.params["weight_hh_l0"], self._bias_hh()
        self.h_prev = np.zeros((N, T, H), x.dtype)
        self.c_prev = np.zeros((N, T, H), x.dtype)
        self.gate = np.zeros((N, T, 4 * H), x.dtype)        # i, f, g, o after their nonlinearity
        self.tanh_c = np.zeros((N, T, H), x.dtype)
        out = np.zeros((N, T, H), x.dtype)
        h, c = np.zeros((N, H), x.dtype), np.zeros((N, H), x.dtype)
        for t in range(T):
            self.h_prev[:, t], self.c_prev[:, t] = h, c
            a = xw[:, t] + (h @ Whh.T + b)
            i, f, g, o = _sigmoid(a[:, :H]), _sigmoid(a[:, H:2 * H]), np.tanh(a[:, 2 * H:3 * H]), _sigmoid(a[:, 3 * H:])
            c = f * c + i * g
            tc = np.tanh(c)
            h = o * tc
            self.gate[:, t] = np.concatenate([i, f, g, o], axis=1)
            self.tanh_c[:, t], out[:, t] = tc, h
        return out

    def backward(self, dout):
        H, Whh = self.hidden_size, self.params["weight_hh_l0"]
        da = np.zeros_like(self.gate)
        dh_next = np.zeros_like(self.h_prev[:, 0])
        dc_next = np.zeros_like(dh_next)
        for t in reversed(range(self.gate.shape[1])):
            g4, tc = self.gate[:, t], self.tanh_c[:, t]
            i, f, g, o = g4[:, :H], g4[:, H:2 * H], g4[:, 2 * H:3 * H], g4[:, 3 * H:]
            dh = dout[:, t] + dh_next
            do = dh * tc
            dc = dc_next + dh * o * (1 - tc * tc)
            di, df, dg = dc * g, dc * self.c_prev[:, t], dc * i
            dc_next = dc * f
            da[:, t] = np.concatenate([di * i * (1 - i), df * f * (1 - f), dg * (1 - g * g), do * o * (1 - o)], axis=1)
            dh_next = da[:, t] @ Whh
        return self._grads(da, self.h_prev)

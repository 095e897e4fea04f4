"""Conventions the courses differ on, each a named value declared once and mapped onto torch.

Every mapping is proven equal to torch (and shown different without it) in tests/test_conventions.py.
Each table maps a convention's name to a function from the course's number to torch's number, or
to the constant that defines it.
"""

# dropout:P - torch (and the token's default) gives the DROP probability; cs231n's ``p`` is the
# probability of KEEPING a unit (its inverted dropout: mask = (rand < p) / p). torch_p = 1 - keep_p.
DROPOUT_P = {"drop": lambda p: p, "keep": lambda p: 1.0 - p}

# batchnorm momentum - torch weighs the NEW batch statistic: r <- (1 - m) r + m batch (m = 0.1);
# cs231n weighs the OLD running value: r <- m' r + (1 - m') batch (m' = 0.9). torch_m = 1 - m'.
BN_MOMENTUM = {"torch": lambda m: m, "cs231n": lambda m: 1.0 - m}
BN_MOMENTUM_DEFAULT = {"torch": 0.1, "cs231n": 0.9}

# batchnorm running_var - torch moves it towards the UNBIASED batch variance (sum / (N - 1)); cs231n's
# batchnorm_forward towards np.var(x, axis=0), the BIASED one (sum / N), the variance it normalises with.
# The value is the factor on the biased batch variance for a batch of N. torch.nn.BatchNorm1d has no
# option for the biased form: its twin (torch_ref/norm.py) updates the buffer itself in torch operations.
BN_RUNNING_VAR = {"unbiased": lambda n: n / (n - 1), "biased": lambda n: 1.0}

# mse - torch.nn.MSELoss: mean over every element of (s - y)²; the course form 0.5 · mean(...)
# (its gradient is (s - y) / numel, without the 2). The value is the factor on torch's loss.
MSE_SCALE = {"torch": 1.0, "half": 0.5}

# bce - torch.nn.BCELoss takes log(p) and log(1 - p) clamped at >= -100, and divides the gradient by
# max(p (1 - p), 1e-12); NNFS clips p to [1e-7, 1 - 1e-7] first, in the loss and in its gradient
# (the gradient at the clipped value passes through unchanged). The value is the clip's epsilon.
BCE_CLIP = {"torch": None, "nnfs": 1e-7}
BCE_LOG_FLOOR = -100.0       # torch's clamp of log(p) and log(1 - p)
BCE_GRAD_EPS = 9.999999960041972e-13   # torch's lower bound on p (1 - p) in the gradient: 1e-12 as a float32,
                                       # in float64 too (measured: 1/max(0, 1e-12) from torch float64 is
                                       # 4.0e-9 off 1e12 and equal to 1/float32(1e-12))

# Regularisation (--reg l2:LAMBDA | l1:LAMBDA, --reg-convention): the penalty each course adds to the
# loss, as a coefficient c(N) on sum(W²) (l2) or sum(|W|) (l1), N the batch size, and the parameters it
# covers. Its gradient is 2 c W (l2) or c sign(W) (l1). "torch" adds no loss term: torch.optim.SGD's
# weight_decay = lambda adds lambda p to every parameter's gradient inside the step (L2 only), the same
# gradient as 0.5 lambda sum(p²) over every parameter.
#   cs231n  0.5 lambda sum(W²) over the affine weights       (its dW += reg * W)
#   dls     lambda / (2 m) sum(W²) over the weights, m the batch size
#   nnfs    lambda sum(W²) + lambda sum(b²) (l1: lambda sum|W| + lambda sum|b|) over weights and biases
REG_KINDS = ("l2", "l1")
REG = {
    "cs231n": {"l2": lambda lam, n: 0.5 * lam, "l1": lambda lam, n: lam, "biases": False},
    "dls": {"l2": lambda lam, n: lam / (2 * n), "biases": False},
    "nnfs": {"l2": lambda lam, n: lam, "l1": lambda lam, n: lam, "biases": True},
    "torch": {"l2": None, "biases": True},      # weight_decay on every parameter: no loss term
}

# Convolution layout (a bring-your-own class's ``conv_layout``). torch and cs231n are NCHW: images X (N, C, H, W),
# conv weights (F, C, HH, WW), biases (F,). The Deep Learning Specialization and numpy-ml are NHWC: X (m, H, W, C),
# weights (f, f, C_prev, C), biases (1, 1, 1, C). Inside lockstep everything stays NCHW; a course's arrays are
# seen through views: CONV_LAYOUT[c][role] is the axis permutation that takes the course's array of that role to
# torch's (np.transpose(a, perm)), and CONV_BIAS[c] the shape a conv bias has in the course (C standing for its
# length). "activation" covers the input images, every 4-D layer output and dL/d of one, and dropout masks.
# Proven in tests/test_conventions.py: an NHWC convolution on the mapped arrays equals torch's conv2d, and
# differs without the mapping.
CONV_LAYOUT = {"nchw": {"activation": (0, 1, 2, 3), "weight": (0, 1, 2, 3)},
               "nhwc": {"activation": (0, 3, 1, 2), "weight": (3, 2, 0, 1)}}
CONV_BIAS = {"nchw": ("C",), "nhwc": (1, 1, 1, "C")}

# Samples as rows or columns (a bring-your-own class's ``samples``). torch puts the batch first: features
# (N, D), sequences (N, T, D). "columns" (the Deep Learning Specialization) puts the features first: X (n_x, m)
# and, for sequences, time last: X (n_x, m, T_x), y_pred (n_y, m, T_x), a<t> stacked as (n_a, m, T_x).
# SAMPLE_AXES[s][ndim] is the permutation taking torch's array to the course's (np.transpose(a, perm));
# 4-D arrays follow CONV_LAYOUT. Proven in tests/test_examples.py: the DLS RNN as written, behind it, equals
# torch's layers.
SAMPLE_AXES = {"rows": {2: (0, 1), 3: (0, 1, 2)}, "columns": {2: (1, 0), 3: (2, 0, 1)}}

# flatten - torch.nn.Flatten and cs231n reshape an NCHW tensor, so the features come in the order c, h, w (the
# channel slowest); an NHWC tensor reshaped (DLS, numpy-ml) orders them h, w, c, and the linear layer after it
# has its weight columns in that order. FLATTEN_ORDER[o] is the permutation of an NCHW tensor's axes
# whose reshape lists the features in order o: the spec's ``flatten:hwc`` flattens as x.permute(0, 2, 3, 1)
# on both sides (a class declaring conv_layout = "nhwc" gets it on every flatten token). Proven in
# tests/test_conventions.py: the NHWC reshape equals flatten:hwc of the NCHW view, and not plain flatten.
FLATTEN_ORDER = {"chw": (0, 1, 2, 3), "hwc": (0, 2, 3, 1)}


# Recurrent layers (rnn:H, lstm:H). torch stacks the LSTM's gates in weight_ih_l0 (4H, D), weight_hh_l0
# (4H, H) and each bias (4H,) in the order i, f, g, o, rows = gates; cs231n stacks them in the order
# i, f, o, g, COLUMNS = gates: Wx (D, 4H), Wh (H, 4H), b (4H,). RECURRENT_GATES[c] lists, for each of
# torch's gate blocks in order, the block of convention c that holds it. (The vanilla RNN has one
# "gate": only the transpose.) Proven in tests/test_recurrent.py: cs231n's forward on the mapped
# parameters equals torch.nn.LSTM's, and differs without the reordering.
RECURRENT_GATES = {"torch": (0, 1, 2, 3), "cs231n": (0, 1, 3, 2)}

# The bias: torch has two, b_ih and b_hh, both added to every step's pre-activation; cs231n one, b.
# Decision: the layers keep torch's two (so parameters, gradients and updates are compared name for name);
# the course's b is their sum. Loading a course's b: b_ih = b, b_hh = 0 (the built-in init also starts
# b_hh at 0: its role is "zero"); reading one back: b = b_ih + b_hh. Both get the course's gradient:
# dL/db_ih = dL/db_hh = db. (So plain SGD on the two moves their sum by 2 lr db per step, where the
# course's b moves by lr db: compare a course's own training loop through the mapping, not step by step.)
RECURRENT_BIAS = "b = b_ih + b_hh; load b_ih = b, b_hh = 0"
# A course network trained as the course trains it has one b: its SGD moves b by lr db, where torch's pair
# would move b_ih + b_hh by 2 lr db. So a layer can have one bias: the spec flag ``onebias`` (rnn:H:onebias,
# a bring-your-own class's recurrent_bias = "one") keeps bias_ih_l0 alone on both sides, torch's bias_hh_l0
# a constant zero (torch_ref/recurrent.py). Proven in tests/test_recurrent.py: it equals torch's layer with
# b_hh = 0, and training one bias is not training two.


def _reorder(a, order, axis):
    """The gate blocks of ``a`` along ``axis`` taken in ``order`` (len(order) equal blocks)."""
    import numpy as np
    blocks = np.split(a, len(order), axis=axis)
    return np.concatenate([blocks[k] for k in order], axis=axis)


def recurrent_from(convention: str, Wx, Wh, b) -> dict:
    """A course's (Wx (D, G H), Wh (H, G H), b (G H,)), gates in its order, -> torch's four parameters
    (G = 4 for an LSTM, 1 for a vanilla RNN); b_hh = 0."""
    order = RECURRENT_GATES[convention] if Wx.shape[1] == 4 * Wh.shape[0] else (0,)
    return {"weight_ih_l0": _reorder(Wx, order, 1).T.copy(), "weight_hh_l0": _reorder(Wh, order, 1).T.copy(),
            "bias_ih_l0": _reorder(b, order, 0), "bias_hh_l0": 0 * b}


def recurrent_to(convention: str, params: dict) -> tuple:
    """torch's four parameters -> the course's (Wx, Wh, b = b_ih + b_hh), gates in its order. For
    gradients pass bias_hh_l0 = 0 (dL/db is either bias's gradient)."""
    Wih, Whh = params["weight_ih_l0"], params["weight_hh_l0"]
    order = RECURRENT_GATES[convention] if Wih.shape[0] == 4 * Whh.shape[1] else (0,)
    inverse = tuple(order.index(k) for k in range(len(order)))
    return (_reorder(Wih, inverse, 0).T.copy(), _reorder(Whh, inverse, 0).T.copy(),
            _reorder(params["bias_ih_l0"] + params["bias_hh_l0"], inverse, 0))


# temporal_cross_entropy - cs231n's temporal_softmax_loss(x (N, T, V), y (N, T), mask (N, T)): the sum over
# every unmasked (n, t) of -log softmax(x[n, t])[y[n, t]], divided by N (not by the number of unmasked
# steps). The mask travels in the targets: a step whose target is SEQUENCE_PAD is masked out (the data's
# padded steps). torch: F.cross_entropy(x.reshape(N T, V), y.reshape(N T), ignore_index=SEQUENCE_PAD,
# reduction="sum") / N (torch's own "mean" with ignore_index divides by the unmasked count instead).
SEQUENCE_PAD = -1

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

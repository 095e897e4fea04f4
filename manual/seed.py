"""The seed assignment's code, as written (../shared/seed/assignment-2-neural-networks.md).

The five helpers are the seed's, character for character but for names of
constants; ``SeedNetwork`` trains with them using the section 1.2 formulas.
The document's section 1.3 (learning) is empty: the momentum recipe used here
(v <- gamma v + alpha dL/dW, W <- W - v, v starting at init_velocity) is the
course recipe as the project's issue states it, not text of the seed.
Nothing here is corrected: lockstep's job is to show what these choices do.
"1^T (p - y), the sum of the elements of (p - y)" is read as the sum over the
batch (axis 0), the reading under which it is dL/db_o.

Layout (the seed leaves it open): ``compute(X, W, b) = W·X + b`` and
``softmax`` normalises along axis 1, so softmax's rows must be samples. The
one reading under which the seed's training works is samples as rows with the
data passed second: ``compute(W, h, b) = h @ W + b`` with h (N, in), W (in, out),
b (1, out). So weights are stored (in, out), biases (1, n), labels one-hot.
"""
import numpy as np

SOFTMAX_EPS = 0.00001    # added to softmax's denominator, after the global-max shift
CE_EPS = 0.00001         # added to the prediction inside averageCE's log


# --- the seed's helpers, section 1.1 -------------------------------------------

def relu(x):
    return np.maximum(x, 0)


def softmax(x):
    x = x - np.max(x)                   # the max of the whole matrix, not of each row
    exp_x = np.exp(x)
    return exp_x / (np.sum(exp_x, axis=1, keepdims=True) + SOFTMAX_EPS)


def compute(X, W, b):
    return np.matmul(W, X) + b


def averageCE(target, prediction):
    return -np.mean(target * np.log(prediction + CE_EPS))   # a mean over all N*K entries


def gradCE(target, prediction):
    return prediction - target


# --- the section 1.2 derivations, as formulas ---------------------------------

def grad_output_weight(h, dl_do):
    """dL/dW_o = h^T (p - y): (in, out)."""
    return h.T @ dl_do


def grad_output_bias(dl_do):
    """dL/db_o = 1^T (p - y): the sum over the batch, (1, out)."""
    return np.sum(dl_do, axis=0, keepdims=True)


def grad_hidden_weight(x, dl_do, w_o, z_h):
    """dL/dW_h = x^T ((p - y) W_o^T, where z_h > 0, else 0): (in, hidden)."""
    return x.T @ ((dl_do @ w_o.T) * (z_h > 0))


def grad_hidden_bias(dl_do, w_o, z_h):
    """dL/db_h = 1^T ((p - y) W_o^T, where z_h > 0, else 0): (1, hidden)."""
    return np.sum((dl_do @ w_o.T) * (z_h > 0), axis=0, keepdims=True)


class SeedNetwork:
    """The seed's 784-H-10 network, in lockstep's bring-your-own protocol
    (comparisons.sides.byo): parameters (in, out) / (1, n), one-hot labels, its own step."""

    weight_layout = "in_out"
    bias_shape = "row"
    samples = "rows"
    labels = "onehot"
    names = {"W_h": "fc1.weight", "b_h": "fc1.bias", "W_o": "fc2.weight", "b_o": "fc2.bias"}
    formulas = {"dlogits": "dL/dO = p - y", "fc2.weight": "dL/dW_o = h^T (p - y)",
                "fc2.bias": "dL/db_o = 1^T (p - y)", "fc1.weight": "dL/dW_h = x^T ((p - y) W_o^T * [z > 0])",
                "fc1.bias": "dL/db_h = 1^T ((p - y) W_o^T * [z > 0])"}

    def __init__(self, sizes, config):
        if len(sizes) != 3:
            raise ValueError(f"the seed's network has one hidden layer, got sizes {tuple(sizes)}")
        n_in, n_hidden, n_out = sizes
        dtype = np.dtype(config.dtype)
        rng = np.random.default_rng(0)          # the recipe's Xavier-normal init (the seed does not say how)
        self.params = {"W_h": (rng.standard_normal((n_in, n_hidden)) * np.sqrt(2 / (n_in + n_hidden))).astype(dtype),
                       "b_h": np.zeros((1, n_hidden), dtype),
                       "W_o": (rng.standard_normal((n_hidden, n_out)) * np.sqrt(2 / (n_hidden + n_out))).astype(dtype),
                       "b_o": np.zeros((1, n_out), dtype)}
        self.v = {k: np.full_like(p, config.init_velocity) for k, p in self.params.items()}
        self.lr, self.gamma = config.lr, config.momentum
        self.cache = {}

    def parameters(self):
        return self.params

    def velocity(self):
        return self.v

    def forward(self, x, y):
        """x (N, 784), y one-hot (N, 10) -> (averageCE, probabilities (N, 10))."""
        p = self.params
        z_h = compute(p["W_h"], x, p["b_h"])
        h = relu(z_h)
        o = compute(p["W_o"], h, p["b_o"])
        prob = softmax(o)
        self.cache = {"x": x, "y": y, "fc1.out": z_h, "relu1.out": h, "fc2.out": o, "probs": prob}
        return averageCE(y, prob), prob

    def intermediates(self):
        return {k: v for k, v in self.cache.items() if k not in ("x", "y")}

    def backward(self):
        c, p = self.cache, self.params
        dl_do = gradCE(c["y"], c["probs"])
        c["dlogits"] = dl_do
        return {"W_h": grad_hidden_weight(c["x"], dl_do, p["W_o"], c["fc1.out"]),
                "b_h": grad_hidden_bias(dl_do, p["W_o"], c["fc1.out"]),
                "W_o": grad_output_weight(c["relu1.out"], dl_do),
                "b_o": grad_output_bias(dl_do)}

    def claims(self):
        """Intermediate claims of the derivation, for ``lockstep audit``: name -> (formula,
        the function differentiated, the hand Jacobian of one row given that row's output)."""
        return {"dp/dO": ("dp/dO = p(1 - p)", softmax, lambda p_row: np.diag(p_row * (1 - p_row)))}

    def step(self, grads):
        """The course recipe (from the project's issue; the seed's section 1.3 is empty):
        v <- gamma v + alpha dL/dW;  W <- W - v."""
        for k, w in self.params.items():
            self.v[k] = self.gamma * self.v[k] + self.lr * grads[k]
            w -= self.v[k]

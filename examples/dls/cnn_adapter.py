"""The adapter that lets lockstep check examples/dls/cnn.py unchanged (and its slipped variant).
The course's layout is declared, not converted: conv_layout = "nhwc" (images (m, H, W, C), filters
(f, f, C_prev, C), biases (1, 1, 1, C); the flatten orders features h, w, c), dense W (n_in, n_out).

    lockstep run --data builtin:images --manual examples/dls/cnn_adapter.py:Adapter --epochs 1 --out runs/dls-cnn
    lockstep run --data builtin:images --manual examples/dls/cnn_adapter.py:WithSlip --epochs 1 --out runs/slip
"""
import cnn
import cnn_slip


class Adapter:
    backward_pass = staticmethod(cnn.backward_propagation)
    model = "conv:4:3:1:1,relu,maxpool:2,conv:8:3:1:1,relu,maxpool:2,flatten,linear"
    loss, init = "cross_entropy", "he_normal"        # initialize_parameters draws N(0, 2 / fan_in)
    conv_layout, weight_layout, bias_shape, labels = "nhwc", "in_out", "row", "onehot"
    names = {"W1": "conv1.weight", "b1": "conv1.bias", "W2": "conv2.weight", "b2": "conv2.bias",
             "W3": "fc1.weight", "b3": "fc1.bias"}

    def __init__(self, sizes, config):
        self.parameters_ = cnn.initialize_parameters(n_y=sizes[-1], dtype=config.dtype)

    def parameters(self):
        return self.parameters_

    def forward(self, x, y):
        self.Y = y
        self.AL, self.caches = cnn.forward_propagation(x, self.parameters_)
        return cnn.compute_cost(self.AL, y), self.AL

    def backward(self):
        self.grads = self.backward_pass(self.AL, self.Y, self.caches, self.parameters_)
        return {k: self.grads["d" + k] for k in self.parameters_}

    def intermediates(self):
        outs = {}
        for l, (_, Z, R, _, A) in enumerate(self.caches[:-1], start=1):
            outs.update({f"conv{l}.out": Z, f"relu{l}.out": R, f"pool{l}.out": A})
        outs.update({"flatten1.out": self.caches[-1][0], "fc1.out": self.caches[-1][2]})
        if hasattr(self, "grads"):
            g = self.grads
            outs.update({"loss.dx": g["dZ3"], "flatten1.dx": g["dA2"], "conv2.dx": g["dA1"]})
            outs.update({f"{layer}{l}.dx": g[f"d{key}{l}"] for l in (1, 2) for layer, key in
                         (("pool", "R"), ("relu", "Z"))})
        return outs


class WithSlip(Adapter):
    backward_pass = staticmethod(cnn_slip.backward_propagation)

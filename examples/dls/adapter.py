"""The adapter that lets lockstep check examples/dls/deep_nn.py unchanged (and its slipped variant).

    lockstep run --preset dls-deep --manual examples/dls/adapter.py:Adapter --epochs 50 --out runs/dls
    lockstep run --preset dls-deep --manual examples/dls/adapter.py:WithSlip --epochs 5 --out runs/slip
"""
import deep_nn
import deep_nn_slip


class Adapter:
    backward_pass = staticmethod(deep_nn.L_model_backward)
    model = "linear:20,relu,linear:7,relu,linear:5,relu,linear:1,sigmoid"
    loss = "bce"
    samples, bias_shape = "columns", "column"        # X (n_x, m), Y (1, m), b (n_l, 1); W (n_l, n_{l-1})
    names = {f"{p}{l}": f"fc{l}.{q}" for l in (1, 2, 3, 4) for p, q in (("W", "weight"), ("b", "bias"))}

    def __init__(self, sizes, config):
        self.parameters_ = deep_nn.initialize_parameters_deep(sizes, dtype=config.dtype)

    def parameters(self):
        return self.parameters_

    def forward(self, x, y):
        self.AL, self.caches = deep_nn.L_model_forward(x, self.parameters_)
        self.Y = y.reshape(1, -1).astype(self.AL.dtype)
        return deep_nn.compute_cost(self.AL, self.Y), self.AL

    def backward(self):
        self.grads = self.backward_pass(self.AL, self.Y, self.caches)
        return {k: self.grads["d" + k] for k in self.parameters_}

    def intermediates(self):
        L = len(self.caches)
        outs = {f"fc{l}.out": self.caches[l - 1][1] for l in range(1, L + 1)}
        outs.update({f"relu{l}.out": self.caches[l][0][0] for l in range(1, L)})
        outs.update({f"sigmoid1.out": self.AL})
        if hasattr(self, "grads"):       # DLS's dA carry no 1/m (linear_backward applies it): dL/dx = dA / m
            m = self.Y.shape[1]
            outs.update({f"fc{l}.dx": self.grads["dA" + str(l - 1)] / m for l in range(2, L + 1)})
            outs["loss.dx"] = self.grads["dA" + str(L)] / m           # dL/dAL: AL is the network's output
        return outs


class WithSlip(Adapter):
    backward_pass = staticmethod(deep_nn_slip.L_model_backward)

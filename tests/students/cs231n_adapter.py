"""lockstep's adapter for cs231n_net.py, in a module of its own (a test fixture).

    lockstep audit --manual tests/students/cs231n_adapter.py:Adapter
"""
from cs231n_net import TwoLayerNet


class Adapter:
    weight_layout, bias_shape = "in_out", "flat"        # X.dot(W1): W (in, out); b (n,)
    names = {"W1": "hidden.weight", "b1": "hidden.bias", "W2": "output.weight", "b2": "output.bias"}
    reg = 1e-3

    def __init__(self, sizes, config):
        self.model = TwoLayerNet(*sizes)
        for k, v in self.model.params.items():
            self.model.params[k] = v.astype(config.dtype)

    def parameters(self):
        return self.model.params                         # the model's own dict, live

    def forward(self, x, y):
        loss, self.grads = self.model.loss(x, y, reg=self.reg)
        return loss, self.model.loss(x)

    def backward(self):
        return self.grads


class Fixed784(Adapter):
    """Ignores ``sizes``: always the assignment's 784-50-10."""

    def __init__(self, sizes, config):
        super().__init__((784, 50, 10), config)


class FixedInOut(Adapter):
    """Hard-codes 784 inputs and 10 classes, takes the hidden width it is given."""

    def __init__(self, sizes, config):
        super().__init__((784, sizes[1], 10), config)

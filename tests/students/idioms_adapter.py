"""lockstep's adapter for idioms_net.py, in a module of its own (a test fixture); ``parameters()``
builds a new dict on each call.

    lockstep audit --manual tests/students/idioms_adapter.py:Adapter
"""
from idioms_net import IdiomNet


class Adapter:
    weight_layout, bias_shape = "in_out", "flat"
    names = {"W1": "hidden.weight", "b1": "hidden.bias", "W2": "output.weight", "b2": "output.bias"}

    def __init__(self, sizes, config):
        self.net = IdiomNet(*sizes, dtype=config.dtype)

    def parameters(self):
        n = self.net
        return {"W1": n.W1, "b1": n.b1, "W2": n.W2, "b2": n.b2}

    def forward(self, x, y):
        return self.net.forward(x, y)

    def backward(self):
        return self.net.backward()

    def intermediates(self):
        n = self.net
        return {"hidden.pre": n.z, "hidden.act": n.h, "logits": n.o, "probs": n.p}

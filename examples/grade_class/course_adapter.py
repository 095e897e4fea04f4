"""The course's one adapter for its starter code: it serves every submission of the class.

``lockstep grade`` puts each submission's folder first on sys.path, so ``from starter import
Network`` imports that student's starter.py. The interface (the starter code's): weights (in, out),
biases (1, n), one-hot labels, mean cross-entropy, momentum v <- gamma v + lr g, W <- W - v.

    lockstep grade examples/grade_class/class --adapter examples/grade_class/course_adapter.py:Adapter \\
        --checks examples/grade_class/checks.toml --out runs/grade
"""
from starter import Network


class Adapter:
    weight_layout, bias_shape, labels = "in_out", "row", "onehot"
    names = {"W1": "hidden.weight", "b1": "hidden.bias", "W2": "output.weight", "b2": "output.bias"}

    def __init__(self, sizes, config):
        self.net = Network(*sizes, lr=config.lr, momentum=config.momentum, v0=config.init_velocity,
                           dtype=config.dtype)

    def parameters(self):
        return {"W1": self.net.W1, "b1": self.net.b1, "W2": self.net.W2, "b2": self.net.b2}

    def forward(self, x, y):
        self.y = y
        probs = self.net.forward(x)
        return self.net.loss(y), probs

    def backward(self):
        return self.net.backward(self.y)

    def step(self, grads):
        self.net.update(grads)

    def velocity(self):
        return self.net.v

    def intermediates(self):
        n = self.net
        return {"hidden.pre": n.Z1, "hidden.act": n.H, "logits": n.O, "probs": n.P}

"""The adapter that lets lockstep check examples/student_mlp.py unchanged.

    lockstep run --manual examples/student_adapter.py:Adapter --dtype float64 --mode synced --out runs/student
    lockstep audit --manual examples/student_adapter.py:Adapter
"""
from student_mlp import StudentMLP   # the student's file, beside this one


class Adapter:
    weight_layout, bias_shape, labels = "in_out", "row", "onehot"   # W (in, out), b (1, n), one-hot y
    names = {"W1": "hidden.weight", "b1": "hidden.bias", "W2": "output.weight", "b2": "output.bias"}

    def __init__(self, sizes, config):
        self.net = StudentMLP(*sizes, lr=config.lr, gamma=config.momentum, v0=config.init_velocity,
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

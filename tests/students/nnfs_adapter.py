"""lockstep's adapter for nnfs_layers.py, in a module of its own (a test fixture): its
``parameters()`` builds a new dict on each call from the layers' attributes.

    lockstep audit --manual tests/students/nnfs_adapter.py:Adapter
"""
from nnfs_layers import Dense, ReLU, SoftmaxCrossEntropy


class Adapter:
    weight_layout, bias_shape = "in_out", "row"
    names = {"W1": "hidden.weight", "b1": "hidden.bias", "W2": "output.weight", "b2": "output.bias"}

    def __init__(self, sizes, config):
        n_in, n_hidden, n_out = sizes
        self.dense1, self.relu, self.dense2 = Dense(n_in, n_hidden), ReLU(), Dense(n_hidden, n_out)
        self.head = SoftmaxCrossEntropy()
        for layer in (self.dense1, self.dense2):
            layer.weights, layer.biases = layer.weights.astype(config.dtype), layer.biases.astype(config.dtype)

    def parameters(self):
        return {"W1": self.dense1.weights, "b1": self.dense1.biases,
                "W2": self.dense2.weights, "b2": self.dense2.biases}

    def forward(self, x, y):
        self.y = y
        self.dense1.forward(x)
        self.relu.forward(self.dense1.output)
        self.dense2.forward(self.relu.output)
        loss = self.head.forward(self.dense2.output, y)
        return loss, self.head.output

    def backward(self):
        self.head.backward(self.head.output, self.y)
        self.dense2.backward(self.head.dinputs)
        self.relu.backward(self.dense2.dinputs)
        self.dense1.backward(self.relu.dinputs)
        return {"W1": self.dense1.dweights, "b1": self.dense1.dbiases,
                "W2": self.dense2.dweights, "b2": self.dense2.dbiases}

    def intermediates(self):
        return {"hidden.pre": self.dense1.output, "hidden.act": self.relu.output,
                "logits": self.dense2.output, "probs": self.head.output}

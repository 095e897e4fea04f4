"""A student's network built from layer objects, in the style of "Neural Networks from Scratch"
(a test fixture, written for lockstep).

Each layer keeps what its forward saw and its backward writes ``d...``
attributes; softmax and cross-entropy are one object whose backward is the
shortcut p - y. W (in, out), biases (1, n), integer labels.
"""
import numpy as np


class Dense:
    def __init__(self, n_inputs, n_neurons):
        self.weights = 0.1 * np.random.randn(n_inputs, n_neurons)
        self.biases = np.zeros((1, n_neurons))

    def forward(self, inputs):
        self.inputs = inputs
        self.output = np.dot(inputs, self.weights) + self.biases

    def backward(self, dvalues):
        self.dweights = np.dot(self.inputs.T, dvalues)
        self.dbiases = np.sum(dvalues, axis=0, keepdims=True)
        self.dinputs = np.dot(dvalues, self.weights.T)


class ReLU:
    def forward(self, inputs):
        self.inputs = inputs
        self.output = np.maximum(0, inputs)

    def backward(self, dvalues):
        self.dinputs = dvalues.copy()
        self.dinputs[self.inputs <= 0] = 0


class SoftmaxCrossEntropy:
    def forward(self, inputs, y_true):
        shifted = inputs - np.max(inputs, axis=1, keepdims=True)
        log_norm = np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
        self.output = np.exp(shifted - log_norm)
        picked = (shifted - log_norm)[range(len(inputs)), y_true]
        return -np.mean(picked)

    def backward(self, dvalues, y_true):
        samples = len(dvalues)
        self.dinputs = dvalues.copy()
        self.dinputs[range(samples), y_true] -= 1
        self.dinputs = self.dinputs / samples

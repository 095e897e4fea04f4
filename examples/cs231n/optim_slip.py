"""optim.py with one deliberate slip in each rule, each of a kind lockstep names:
sgd_momentum steps with Nesterov's look-ahead, rmsprop swaps the decay and its complement,
adam leaves out the bias correction."""
import numpy as np


def sgd_momentum(w, dw, config):
    v = config.get("velocity", np.zeros_like(w))
    v = config["momentum"] * v - config["learning_rate"] * dw
    config["velocity"] = v
    return w + config["momentum"] * v - config["learning_rate"] * dw, config


def rmsprop(w, dw, config):
    config.setdefault("cache", np.zeros_like(w))
    config["cache"] = (1 - config["decay_rate"]) * config["cache"] + config["decay_rate"] * dw**2
    return w - config["learning_rate"] * dw / (np.sqrt(config["cache"]) + config["epsilon"]), config


def adam(w, dw, config):
    for key in ("m", "v"):
        config.setdefault(key, np.zeros_like(w))
    config["t"] = config.get("t", 0) + 1
    config["m"] = config["beta1"] * config["m"] + (1 - config["beta1"]) * dw
    config["v"] = config["beta2"] * config["v"] + (1 - config["beta2"]) * dw**2
    return w - config["learning_rate"] * config["m"] / (np.sqrt(config["v"]) + config["epsilon"]), config

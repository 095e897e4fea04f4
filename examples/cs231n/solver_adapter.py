"""The adapter that checks cs231n's update rules (examples/cs231n/optim.py) as its Solver applies them,
on fc_net.py's network without batchnorm or dropout. One class per rule, and one per slipped rule:

    lockstep run --manual examples/cs231n/solver_adapter.py:Adam --lr 1e-3 --out runs/adam
    lockstep run --manual examples/cs231n/solver_adapter.py:AdamSlip --lr 1e-3 --epochs 1 --out runs/slip
"""
import numpy as np

import fc_net
import optim
import optim_slip


class _Solver:
    model = "linear:100,relu,linear"
    init = "normal:0.01"                     # weight_scale * randn with weight_scale 1e-2
    weight_layout = "in_out"
    names = {f"{p}{i}": f"fc{i}.{q}" for i in (1, 2) for p, q in (("W", "weight"), ("b", "bias"))}
    state_names = {}         # torch's state name -> the key in cs231n's config dict

    def __init__(self, sizes, config):
        self.net = fc_net.FullyConnectedNet(sizes[1:-1], sizes[0], sizes[-1], normalization=None,
                                            dtype=np.dtype(config.dtype))
        self.configs = {k: {"learning_rate": config.lr, **self.settings} for k in self.net.params}

    def parameters(self):
        return self.net.params

    def forward(self, x, y):
        self.loss, self.grads = self.net.loss(x, y)
        return self.loss, self.net.outputs["fc2"]

    def backward(self):
        return self.grads

    def step(self, grads):
        for k, w in self.net.params.items():         # the Solver rebinds params[k]; lockstep holds the arrays
            next_w, self.configs[k] = self.rule(w, grads[k], self.configs[k])
            w[...] = next_w

    def optimizer_state(self):
        return {f"{k}.{torch}": c[ours] for k, c in self.configs.items() for torch, ours in self.state_names.items()
                if ours in c}


class SgdMomentum(_Solver):
    optimizer = "momentum:form=cs231n,momentum=0.9"
    settings = {"momentum": 0.9}
    state_names = {"momentum_buffer": "velocity"}
    rule = staticmethod(optim.sgd_momentum)


class RMSProp(_Solver):
    optimizer = "rmsprop:form=cs231n"
    settings = {"decay_rate": 0.99, "epsilon": 1e-8}
    state_names = {"square_avg": "cache"}
    rule = staticmethod(optim.rmsprop)


class Adam(_Solver):
    optimizer = "adam:form=cs231n"
    settings = {"beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}
    state_names = {"exp_avg": "m", "exp_avg_sq": "v", "step": "t"}
    rule = staticmethod(optim.adam)


class SgdMomentumSlip(SgdMomentum):
    rule = staticmethod(optim_slip.sgd_momentum)


class RMSPropSlip(RMSProp):
    rule = staticmethod(optim_slip.rmsprop)


class AdamSlip(Adam):
    rule = staticmethod(optim_slip.adam)

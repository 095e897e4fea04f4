"""The adapter that lets lockstep check examples/cs231n/fc_net.py unchanged (and its slipped variant).

    lockstep run --preset cs231n-fc --manual examples/cs231n/adapter.py:Adapter --out runs/cs231n
    lockstep run --preset cs231n-fc --manual examples/cs231n/adapter.py:WithSlip --epochs 1 --out runs/slip
"""
import numpy as np

import fc_net
import fc_net_slip
from comparisons.config import parse_reg

class Adapter:
    net_class = fc_net.FullyConnectedNet
    model = "linear:100,batchnorm,relu,dropout:0.5,linear:100,batchnorm,relu,dropout:0.5,linear"
    dropout_p, bn_momentum, bn_running_var = "keep", "cs231n", "biased"   # cs231n's conventions
    reg_convention = "cs231n"                                            # 0.5 * reg * sum(W^2)
    init = "normal:0.01"                     # weight_scale * randn with weight_scale 1e-2
    weight_layout = "in_out"                                             # W (in, out)
    names = {f"{p}{i}": f"{layer}{i}.{q}" for i in (1, 2, 3)
             for p, layer, q in (("W", "fc", "weight"), ("b", "fc", "bias"), ("gamma", "bn", "weight"),
                                 ("beta", "bn", "bias")) if layer == "fc" or i < 3}

    def __init__(self, sizes, config):
        reg = parse_reg(config.reg, config.reg_convention)
        self.net = self.net_class(sizes[1:-1], sizes[0], sizes[-1], dropout_keep_ratio=0.5,
                                  reg=reg[1] if reg else 0.0, dtype=np.dtype(config.dtype))
        for bn, width in zip(self.net.bn_params, sizes[1:-1]):   # cs231n starts running_var at 0 (its
            bn["running_mean"], bn["running_var"] = np.zeros(width, config.dtype), np.ones(width, config.dtype)  # .get), torch at 1

    def parameters(self):
        return self.net.params

    def mode(self, training, masks):
        self.training = training
        for i, param in enumerate(self.net.dropout_params, 1):
            param["keep"] = masks.get(f"drop{i}")

    def forward(self, x, y):
        if self.training:
            self.loss, self.grads = self.net.loss(x, y)
            return self.loss, self.net.outputs["fc3"]
        scores = self.net.scores(x, "test")
        reg = sum(0.5 * self.net.reg * np.sum(self.net.params[f"W{i}"] ** 2) for i in (1, 2, 3))
        return fc_net.softmax_loss(scores, y)[0] + reg, scores

    def backward(self):
        return self.grads

    def buffers(self):
        return {f"bn{i}.{k}": bn[k] for i, bn in enumerate(self.net.bn_params, 1) for k in ("running_mean", "running_var")}

    def intermediates(self):
        return {**{f"{k}.out": v for k, v in self.net.outputs.items()},
                **{f"{k}.dx": v for k, v in getattr(self.net, "upstream", {}).items()}}


class WithSlip(Adapter):
    net_class = fc_net_slip.FullyConnectedNet

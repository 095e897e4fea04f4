"""The torch twin of manual.Network: named modules in order, a loss on the last output.

``forward(x, keep=True)`` keeps every layer's input and output (outputs retain
their gradient, so after ``backward`` each layer's dL/dx can be read);
``taken`` forces the branches of layers that have them (see torch_ref.layers).
"""
import torch
from torch import nn


class Network(nn.Module):
    def __init__(self, layers: dict, loss: nn.Module):
        super().__init__()
        for name, module in layers.items():
            self.add_module(name, module)
        self.loss = loss
        self.inputs: dict[str, torch.Tensor] = {}
        self.outputs: dict[str, torch.Tensor] = {}

    def layers(self) -> dict[str, nn.Module]:
        return {name: m for name, m in self.named_children() if name != "loss"}

    def forward(self, x: torch.Tensor, keep: bool = False, taken: dict | None = None) -> torch.Tensor:
        self.inputs, self.outputs = {}, {}
        for name, module in self.layers().items():
            if keep:
                self.inputs[name] = x
            x = module.forward_with(x, taken[name]) if taken and name in taken else module(x)
            if keep:
                if x.requires_grad:
                    x.retain_grad()
                self.outputs[name] = x
        return x

    def input_grads(self) -> dict[str, torch.Tensor]:
        """After ``forward(keep=True)`` and ``backward``: layer name -> dL/d(its input), for every
        layer but the first (the data's gradient is never used), and "loss" -> dL/dscores."""
        names = list(self.outputs)
        grads = {after: self.outputs[before].grad for before, after in zip(names, names[1:])}
        grads["loss"] = self.outputs[names[-1]].grad       # dL/dscores, the loss's input gradient
        return grads

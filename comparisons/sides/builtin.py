"""The built-in manual side: manual.Network built from the model spec, and its optimizer."""
import numpy as np

import manual
from comparisons.config import Config
from comparisons.registry import LOSSES, build_optimizer, penalty_args
from comparisons.sides.aliasing import Shared, shared
from manual.regularization import Penalty


class ManualSide:
    """manual/ as one side of the lockstep. After ``train_step``: ``outputs`` and ``input_grads``
    per layer, ``grads``, and the live ``params``, ``buffers`` and ``state`` (the optimizer's,
    in its own units: ``{key: (array, 1.0)}``)."""

    name = "manual"

    def __init__(self, layers, config: Config, loss=None):
        """``loss`` replaces the built-in loss object (tests plant a wrong backward with it)."""
        dtype = np.dtype(config.dtype)
        loss = loss if loss is not None else LOSSES[config.loss].make_manual(config.reduction)
        self.net = manual.Network({s.name: s.kind.manual(**s.kwargs, dtype=dtype) for s in layers}, loss)
        self.params = self.net.params
        reg = penalty_args(config, layers)
        self.penalty = None if reg is None else \
            Penalty(*reg[:3], [k for k in reg[3] if k in self.params])
        self.opt = build_optimizer(config, self.params, "manual")
        self.eval_loss = LOSSES[config.loss].make_manual("mean")

    @property
    def outputs(self):
        return self.net.outputs

    @property
    def input_grads(self):
        return {k: v for k, v in self.net.input_grads.items() if v is not None}

    @property
    def grads(self):
        return self.net.grads

    @property
    def shared(self) -> list[Shared]:
        """Outputs and dL/dx whose arrays the network may hold in one memory (a layer that edits in place:
        sides/aliasing.py), in the order they were made: the outputs, then dL/dx from the loss down. The
        outputs are the network's own arrays, so a backward that writes over one (a sigmoid's, over its
        kept output) is found too."""
        grads = self.input_grads
        return shared({**{("out", k): v for k, v in self.net.outputs.items()},
                       **{("dx", k): grads[k] for k in ["loss", *reversed(self.net.layers)] if k in grads}})

    @property
    def buffers(self):
        return self.net.buffers

    @property
    def state(self) -> dict[str, tuple[np.ndarray, float]]:
        return {k: (v, 1.0) for k, v in self.opt.state.items()}

    def train_step(self, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        """Forward, backward and update on one batch: (loss, scores before the update)."""
        loss, scores = self.net.step_loss(x, y)
        grads = self.net.grads
        if self.penalty is not None:          # the regularisation term and its gradient (README "Models")
            loss += self.penalty.value(self.params, len(x))
            self.penalty.add_grads(grads, self.params, len(x))
        self.opt.step(grads)
        return loss, scores

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        """(mean loss over the samples, whatever the training reduction; scores), nothing updated."""
        scores = self.net.forward(x, train=False)
        return self.eval_loss.forward(scores, y), scores

"""fc_net.py with one deliberate slip: dropout's backward forgets the 1/p its (inverted) forward applied.
lockstep names it: ``drop2.dx`` is the reference times 0.5, the keep probability."""
import fc_net


def dropout_backward(dout, cache):
    dropout_param, mask = cache
    return dout * (mask != 0) if dropout_param["mode"] == "train" else dout


class FullyConnectedNet(fc_net.FullyConnectedNet):
    dropout_backward = staticmethod(dropout_backward)

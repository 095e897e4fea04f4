"""The torch recomputation of one step from a given state: the reference for diagnosis.

Run in float64 it is the referee: a float32 difference is rounding when the
manual side is about as far from it as torch float32 is.
"""
import numpy as np
import torch
import torch.nn.functional as F


def layer_order(params: dict) -> list[str]:
    return [k[: -len(".weight")] for k in params if k.endswith(".weight")]


def reference_step(params: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray, reduction: str,
                   dtype=np.float64) -> dict[str, np.ndarray]:
    """Forward and backward of the reference MLP at ``params`` on (x (N, D), y (N,) ints), in ``dtype``.

    Returns numpy arrays: "<layer>.in" (each layer's input), "<layer>.pre" and
    "<layer>.act" for hidden layers, "logits", "probs", "loss", "dlogits", and
    "grad:<param>" for every parameter.
    """
    tdt = getattr(torch, np.dtype(dtype).name)
    leaves = {k: torch.tensor(np.asarray(v), dtype=tdt, requires_grad=True) for k, v in params.items()}
    names = layer_order(params)
    out, kept = torch.tensor(np.asarray(x), dtype=tdt), {}
    for i, name in enumerate(names):
        kept[f"{name}.in"] = out
        z = F.linear(out, leaves[f"{name}.weight"], leaves[f"{name}.bias"])
        if i < len(names) - 1:
            kept[f"{name}.pre"] = z
            out = torch.relu(z)
            kept[f"{name}.act"] = out
        else:
            out = z
    out.retain_grad()
    loss = F.cross_entropy(out, torch.as_tensor(y), reduction=reduction)
    loss.backward()
    result = {k: v.detach().numpy() for k, v in kept.items()}
    result.update(logits=out.detach().numpy(), probs=torch.softmax(out, 1).detach().numpy(),
                  loss=np.array(loss.item()), dlogits=out.grad.numpy())
    result.update({f"grad:{k}": v.grad.numpy() for k, v in leaves.items()})
    return result


def backprop(params: dict, ref: dict, dlogits: np.ndarray, mask: str = "z>0", bias: str = "sum") -> dict:
    """Hand backpropagation (float64) from the referee's forward quantities, with a choice of
    ReLU mask ("z>0" correct, "z>=0", "none", "act": multiplied by the activation itself) and bias
    reduction ("sum" correct, "mean")."""
    names = layer_order(params)
    grads, d = {}, dlogits
    for i in reversed(range(len(names))):
        name = names[i]
        grads[f"{name}.weight"] = d.T @ ref[f"{name}.in"]
        grads[f"{name}.bias"] = d.sum(axis=0) if bias == "sum" else d.mean(axis=0)
        if i > 0:
            d = d @ params[f"{name}.weight"]
            z = ref[f"{names[i - 1]}.pre"]
            if mask == "act":
                d = d * ref[f"{names[i - 1]}.act"]
            elif mask != "none":
                d = d * ((z > 0) if mask == "z>0" else (z >= 0))
    return grads

"""Generate a sample class for ``lockstep grade``: 24 submissions of the course's starter.py.

    python examples/grade_class/make_class.py OUT [--layout plain|gradescope] [--only NAME,NAME]

Eight correct submissions (written differently), seven slips in different derivations (the
project's mutants: tests/mutants.py), and nine that misbehave: a segfault, an infinite loop,
a memory hog, sys.exit, os._exit, a syntax error, an import of a missing package, data loaded at
import time from a path that does not exist, and a constructor that raises. ``plain``: OUT/<name>/starter.py
(and one submission as a single file, OUT/<name>.py); ``gradescope``: OUT/<name>/submission/starter.py
with a submission_metadata.json beside it.
"""
import argparse
import json
from pathlib import Path

STARTER = '''"""Assignment 1: a two-layer network by hand ({who})."""
{imports}import numpy as np
{top}

class Network:
    def __init__(self, n_in, n_hidden, n_out, lr, momentum, v0, dtype="float64"):
        rng = np.random.default_rng(0)
        self.W1 = rng.normal(0, np.sqrt(2 / (n_in + n_hidden)), (n_in, n_hidden)).astype(dtype)
        self.b1 = np.zeros((1, n_hidden), dtype)
        self.W2 = rng.normal(0, np.sqrt(2 / (n_hidden + n_out)), (n_hidden, n_out)).astype(dtype)
        self.b2 = np.zeros((1, n_out), dtype)
        self.lr, self.momentum = lr, momentum
        self.v = {{k: np.full_like(getattr(self, k), v0) for k in ("W1", "b1", "W2", "b2")}}
{init}
    def forward(self, X):
{forward_extra}        self.X = X
        self.Z1 = X @ self.W1 + self.b1
        self.H = np.maximum(self.Z1, 0)
        self.O = self.H @ self.W2 + self.b2
        e = np.exp(self.O - self.O.max(axis=1, keepdims=True))
        self.P = e / e.sum(axis=1, keepdims=True)
        return self.P

    def loss(self, Y):
        return {loss}

    def backward(self, Y):
{backward_extra}        dO = {dO}
        dW2 = self.H.T @ dO
        db2 = dO.{bias_reduce}(axis=0, keepdims=True)
        dZ1 = (dO @ self.W2.T) * {mask}
        dW1 = self.X.T @ dZ1
        db1 = dZ1.{bias_reduce}(axis=0, keepdims=True)
        return {{"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}}

    def update(self, grads):
        for k, g in grads.items():
            self.v[k] = {velocity}
            setattr(self, k, getattr(self, k) - self.v[k])
'''

CORRECT = dict(imports="", top="", init="", forward_extra="", backward_extra="",
               loss="-np.mean(np.sum(Y * np.log(self.P), axis=1))", dO="(self.P - Y) / len(Y)",
               bias_reduce="sum", mask="(self.Z1 > 0)", velocity="self.momentum * self.v[k] + self.lr * g")

STYLES = [{}, {"loss": "-np.sum(Y * np.log(self.P)) / Y.shape[0]"}, {"dO": "(self.P - Y) / Y.shape[0]"},
          {"mask": "(self.Z1 > 0).astype(self.Z1.dtype)"}, {"velocity": "self.lr * g + self.momentum * self.v[k]"},
          {"top": "\nEPS = 0.0  # no smoothing"}, {"dO": "(self.P - Y) * (1.0 / len(Y))"},
          {"loss": "-(Y * np.log(self.P)).sum(axis=1).mean()"}]

SLIPS = {   # one wrong derivation each (tests/mutants.py has the same slips on examples/student_mlp.py)
    "slip_missing_1_over_n": {"dO": "self.P - Y"},
    "slip_no_relu_derivative": {"mask": "1.0"},
    "slip_relu_derivative_is_relu": {"mask": "self.H"},
    "slip_bias_averaged": {"bias_reduce": "mean"},
    "slip_swapped_target": {"dO": "(Y - self.P) / len(Y)"},
    "slip_momentum_without_lr": {"velocity": "self.momentum * self.v[k] + g"},
    "slip_loss_summed": {"loss": "-np.sum(Y * np.log(self.P))"},
}

MISBEHAVING = {
    "bad_segfault": {"imports": "import ctypes\n", "backward_extra": "        ctypes.string_at(0)\n"},
    "bad_infinite_loop": {"backward_extra": "        while True:\n            pass\n"},
    "bad_memory_hog": {"forward_extra": "        self.cache = getattr(self, 'cache', [])\n"
                                         "        while True:\n            self.cache.append(np.ones(2**20))\n"},
    "bad_sys_exit": {"imports": "import sys\n", "backward_extra": "        sys.exit(1)\n"},
    "bad_os_exit": {"imports": "import os\n", "backward_extra": "        os._exit(3)\n"},
    "bad_syntax_error": {"top": "\ndef helper(:\n    pass"},
    "bad_missing_import": {"imports": "import tensorflow as tf\n"},
    "bad_missing_data": {"top": "\nMEAN = np.load('data/mean_image.npy')  # only on the student's laptop"},
    "bad_constructor": {"init": "        self.W1 = self.W1.reshape(-1)  # flattened 'for speed'\n"
                                "        raise ValueError('W1 must be 2-D')\n"},
}


def submissions() -> dict[str, str]:
    """name -> starter.py source."""
    out = {}
    for i, style in enumerate(STYLES):
        name = f"ok_{i + 1:02d}"
        out[name] = STARTER.format(who=name, **(CORRECT | style))
    for name, change in (SLIPS | MISBEHAVING).items():
        out[name] = STARTER.format(who=name, **(CORRECT | change))
    return out


def write(out: Path, layout: str, only: list[str] | None = None) -> list[str]:
    made = []
    for name, source in submissions().items():
        if only and name not in only:
            continue
        if layout == "gradescope":
            folder = out / name / "submission"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "starter.py").write_text(source)
            meta = {"id": len(made) + 1, "users": [{"email": f"{name}@example.edu", "name": name}],
                    "assignment": {"title": "Assignment 1: backprop by hand"}}
            (out / name / "submission_metadata.json").write_text(json.dumps(meta, indent=2))
        elif name == "ok_01":          # one submission as a single file: checked as starter.py (checks.toml: module)
            out.mkdir(parents=True, exist_ok=True)
            (out / f"{name}.py").write_text(source)
        else:
            (out / name).mkdir(parents=True, exist_ok=True)
            (out / name / "starter.py").write_text(source)
        made.append(name)
    return made


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path)
    p.add_argument("--layout", choices=("plain", "gradescope"), default="plain")
    p.add_argument("--only", help="comma-separated names (default: all 24)")
    args = p.parse_args(argv)
    made = write(args.out, args.layout, args.only.split(",") if args.only else None)
    print(f"{len(made)} submissions ({args.layout}) in {args.out}")


if __name__ == "__main__":
    main()

"""Small lockstep runs written to disk, for the report, compare, schema and plugin tests."""
import functools
import json
import struct
from importlib import resources
from pathlib import Path

import jsonschema

import manual
from comparisons import Config, run
from comparisons.data.builtin import synthetic

SMALL = dict(hidden=(32,), epochs=3, batch_size=100, lr=0.05)   # 9 steps on 300 training samples


@functools.cache
def tiny_data():
    return synthetic(seed=0, sizes=(300, 100, 100))


class ForgetsOneOverN(manual.CrossEntropy):
    """A deliberately worse manual side: dL/dlogits = p - y, the 1/N of the mean dropped."""
    def backward(self):
        return super().backward() * len(self.y)


class BreaksAtCall(manual.CrossEntropy):
    """The manual loss until its ``at``-th forward (the ``at``-th step): there it returns NaN
    (``what="nan"``) or raises KeyboardInterrupt, as Ctrl-C would (``what="interrupt"``)."""
    def __init__(self, at: int, what: str):
        super().__init__()
        self.at, self.what, self.calls = at, what, 0

    def forward(self, logits, labels):
        self.calls += 1
        if self.calls == self.at and self.what == "interrupt":
            raise KeyboardInterrupt
        loss = super().forward(logits, labels)
        return float("nan") if self.calls == self.at else loss


def write_idx(directory) -> str:
    """``tiny_data()`` (its 500 samples) as MNIST IDX files in ``directory``, for ``lockstep run --data``:
    a worker process then loads its data in milliseconds instead of generating the built-in set.
    Returns the images file's path."""
    import numpy as np
    data = tiny_data()
    x = np.concatenate([s.x for s in data.splits().values()])
    y = np.concatenate([s.y for s in data.splits().values()])
    images, labels = Path(directory) / "tiny-images-idx3-ubyte", Path(directory) / "tiny-labels-idx1-ubyte"
    images.write_bytes(struct.pack(">iiii", 2051, len(y), 28, 28) + np.round(x * 255).astype(np.uint8).tobytes())
    labels.write_bytes(struct.pack(">ii", 2049, len(y)) + y.astype(np.uint8).tobytes())
    return str(images)


def make_run(out, manual_loss=None, **fields):
    """A RunResult written to ``out``; ``fields`` override SMALL and Config's defaults."""
    return run(Config(**{**SMALL, **fields}), tiny_data(), out=out, manual_loss=manual_loss)


SCHEMA = jsonschema.Draft202012Validator(json.loads(
    resources.files("comparisons.record").joinpath("summary.schema.json").read_text()))


def read_whole(out):
    """A run directory read back as report and compare read it, and checked whole: steps.csv ends
    with a whole row and reaches exactly the step summary.json reports; the summary follows the schema."""
    from comparisons.record.rundir import load_run
    loaded = load_run(out)
    assert loaded.summary["steps"] == loaded.frame["step"].max()
    assert (Path(out) / "steps.csv").read_bytes().endswith(b"\n")
    SCHEMA.validate(loaded.summary)
    return loaded

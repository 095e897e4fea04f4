"""Small lockstep runs written to disk, for the report, compare, schema and plugin tests."""
import functools

import manual
from comparisons import Config, run
from comparisons.data import synthetic

SMALL = dict(hidden=(32,), epochs=3, batch_size=100, lr=0.05)   # 9 steps on 300 training samples


@functools.cache
def tiny_data():
    return synthetic(seed=0, sizes=(300, 100, 100))


class ForgetsOneOverN(manual.SoftmaxCrossEntropy):
    """A deliberately worse manual side: dL/dlogits = p - y, the 1/N of the mean dropped."""
    def backward(self):
        return super().backward() * len(self.labels)


def make_run(out, manual_loss=None, **fields):
    """A RunResult written to ``out``; ``fields`` override SMALL and Config's defaults."""
    return run(Config(**{**SMALL, **fields}), tiny_data(), out=out, manual_loss=manual_loss)

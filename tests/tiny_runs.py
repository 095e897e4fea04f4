"""Small lockstep runs written to disk, for the report, compare, schema and plugin tests."""
import functools

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


def make_run(out, manual_loss=None, **fields):
    """A RunResult written to ``out``; ``fields`` override SMALL and Config's defaults."""
    return run(Config(**{**SMALL, **fields}), tiny_data(), out=out, manual_loss=manual_loss)

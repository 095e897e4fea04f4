"""Measure what the pass rule's numbers rest on (comparisons/check/rules.py): on correct code,
how far the manual side is from torch (the direct rule) and from the float64 referee relative
to the rounding the probe measures (the referee rule), over a grid of configurations.

    python -m benchmarks.calibrate [--quick] [--out FILE.csv]

Every step of every run is recomputed by the referee (a normal run does so only for rows the
direct rule did not pass). Prints quantiles per (dtype, quantity); writes every row to --out.
"""
import argparse
import itertools
import sys
import time

import numpy as np
import pandas as pd

from comparisons import Config
from comparisons.check import rules
from comparisons.data.builtin import synthetic
from comparisons.lockstep import Lockstep
from comparisons.record.recorder import Recorder


class Measuring(Lockstep):
    """A Lockstep whose referee recomputes every step; each tensor's distances are kept."""
    found: list = []

    def judged_step(self, where_, x, y, loss_m, scores_m, loss_t, scores_t):
        forward, backward = self.step_pairs()
        pairs = forward + backward
        j = self.judge
        manual = {("loss", ""): loss_m, **{(p.quantity, p.name): np.array(p.manual_value()) for p in pairs}}
        torch_values = {("loss", ""): loss_t, **{(p.quantity, p.name): np.array(p.torch_value()) for p in pairs}}
        results = super().judged_step(where_, x, y, loss_m, scores_m, loss_t, scores_t)
        before = {"params": j.before, "buffers": j.before_buffers, "state": j.before_state}
        rec = self.referee.step(before, x, y, self.manual.outputs)
        for key, m in manual.items():
            if key not in rec.ref:
                continue
            noise = rec.noise(key)
            self.found.append({"dtype": self.dtype, "mode": self.config.mode, "config": self.label,
                               "step": where_[0], "quantity": key[0], "name": key[1],
                               "direct": rules.rel64(m, torch_values[key]), "referee": rules.rel64(m, rec.ref[key]),
                               "noise": noise, "flips": sum(c for c, _ in rec.flips.values())})
        return results


def issue_grid():
    """Issue 10's grid of 72 correct float32 runs that had 5 false alarms under the old table."""
    for mode, hidden, seed in itertools.product(("synced", "free"), [(16,), (32,), (64,), (128,), (256,), (64, 32)],
                                                range(6)):
        yield Config(hidden=hidden, epochs=2, batch_size=100, dtype="float32", mode=mode, seed=seed)


def grid(quick: bool):
    hiddens = [(16,), (64,), (128,), (64, 32)] if quick else [(8,), (16,), (32,), (64,), (128,), (256,), (64, 32), (100, 50, 20)]
    seeds = range(2) if quick else range(4)
    batches = [10, 100] if quick else [1, 10, 100, 0]
    for dtype, mode, hidden, batch, seed in itertools.product(("float32", "float64"), ("synced", "free"),
                                                              hiddens, batches, seeds):
        yield Config(hidden=hidden, epochs=1, batch_size=batch, lr=0.05, momentum=0.9, init_velocity=1e-3,
                     dtype=dtype, mode=mode, seed=seed)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--issue", action="store_true", help="issue 10's 72 runs (built-in data, 2 epochs)")
    p.add_argument("--out")
    args = p.parse_args(argv)
    data = synthetic() if args.issue else synthetic(seed=0, sizes=(600, 100, 100))
    t0 = time.time()
    for config in (issue_grid() if args.issue else grid(args.quick)):
        short = data if config.batch_size != 1 else synthetic(seed=0, sizes=(60, 20, 20))
        lockstep = Measuring(config, short.astype(np.dtype(config.dtype)))
        lockstep.label = f"h{'-'.join(map(str, config.hidden))} b{config.batch_size} s{config.seed}"
        lockstep.recorder = Recorder(None)
        with np.errstate(all="ignore"):
            lockstep.train(bar=type("Bar", (), {"update": lambda self: None})())
        failed = lockstep.tracker.first_failure
        if failed:
            print(f"FAILED {config.dtype} {config.mode} {lockstep.label}: {failed['message']}", file=sys.stderr)
    frame = pd.DataFrame(Measuring.found)
    frame["ratio"] = frame["referee"] / (frame["noise"] + rules.EPS["float64"])
    if args.out:
        frame.to_csv(args.out, index=False)
    q = [0.5, 0.9, 0.99, 0.999, 1.0]
    pd.set_option("display.width", 200)
    for what in ("direct", "referee", "noise", "ratio"):
        print(f"\n{what} (quantiles {q})")
        print(frame.groupby(["dtype", "quantity"])[what].quantile(q).unstack().to_string(float_format="%.2e"))
    print(f"\n{len(frame)} rows, {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

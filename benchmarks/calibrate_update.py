"""Calibration of the update-stage referee (comparisons.explain.referee.Referee.update): at every step of
correct float32 runs, the manual update's and state's distance to its float64 recomputation from the manual
side's own gradients, over the rounding its probes measure (the ratio the pass rule bounds by
rules.FACTOR = 16). Prints each run's verdict and the worst ratio and distance per optimizer and quantity.

    python -m benchmarks.calibrate_update

Measured 2026-12-02 (12 conventions x full batch / batch 50 x 2 seeds, 784-64-10 on 300 built-in samples,
3 epochs, 48 runs, all passed): worst ratio 2.19 (state, adam:form=nnfs), 2.0 (update, nesterov); worst
distance 1.2e-4 (update, momentum:form=ema: p_after - p_before's own cancellation, which the probes see
too). So 16 x rounding leaves >= 7x margin on the update stage, as on the whole step (README "The pass rule").
"""
import itertools
import types
import numpy as np
import comparisons  # noqa: F401  -- first: thread settings
from comparisons.config import Config
from comparisons.data.builtin import synthetic
from comparisons.lockstep import Lockstep
from comparisons.record.recorder import Recorder
from comparisons.explain.referee import _rel

WORST: dict = {}      # (optimizer, quantity) -> worst ratio; (optimizer, quantity, "err") -> worst distance
OPTIMIZERS = ["", "sgd", "momentum:form=cs231n", "momentum:form=ema", "momentum:form=torch", "nesterov", "rmsprop",
              "rmsprop:form=nnfs", "adagrad", "adam", "adam:form=nnfs", "adamw:weight_decay=0.01"]


class Probe(Lockstep):
    """A Lockstep that also runs the update-stage referee at every step and keeps the worst ratios."""

    def judged_step(self, where_, x, y, loss_m, scores_m, loss_t, scores_t):
        j, m = self.judge, self.manual
        before = {"params": j.before, "buffers": j.before_buffers, "state": j.before_state, "step": j.before_step}
        manual_updates = {k: v - j.before[k] for k, v in m.params.items()}
        manual_state = {k: v * s for k, (v, s) in m.state.items()}
        out = super().judged_step(where_, x, y, loss_m, scores_m, loss_t, scores_t)
        rec = self.referee.update(before, m.grads)
        for (q, k), ref in rec.ref.items():
            mv = manual_updates.get(k) if q == "update" else manual_state.get(k)
            if mv is None or k.endswith(".step"):
                continue
            noise, err = rec.noise((q, k)), _rel(mv, ref)
            ratio = err / noise if noise > 0 else (0 if err == 0 else np.inf)
            key = (self.config.optimizer or "momentum", q)
            WORST[key] = max(WORST.get(key, 0), ratio)
            WORST[key + ("err",)] = max(WORST.get(key + ("err",), 0), err)
        return out


def main() -> None:
    data = synthetic(seed=1, sizes=(300, 60, 60)).astype(np.float32)
    for opt, batch, seed in itertools.product(OPTIMIZERS, (0, 50), (0, 1)):
        adaptive = opt.startswith(("adam", "rmsprop")) or opt == "adagrad"
        cfg = Config(hidden=(64,), epochs=3, batch_size=batch, optimizer=opt, lr=1e-3 if adaptive else 0.05,
                     seed=seed, dtype="float32", init_velocity=1e-3 if opt == "" else 0.0)
        lockstep = Probe(cfg, data)
        lockstep.recorder = Recorder(None)
        with np.errstate(all="ignore"):
            lockstep.train(types.SimpleNamespace(update=lambda: None))
        first = lockstep.tracker.first_failure
        print(opt or "momentum", batch, seed, "passed" if first is None else first["message"][:100], flush=True)
    for key, value in sorted(WORST.items()):
        print(key, f"{value:.3g}")


if __name__ == "__main__":
    main()

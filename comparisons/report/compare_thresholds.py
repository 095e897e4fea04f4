"""Every threshold of ``lockstep compare``, with the measurements behind it.

Two runs of one config and seed on one machine are bit-identical, so the thresholds
bound what changes *without* a regression: rounding-level perturbations (thread
count, library versions, an equivalent reordering of the arithmetic) and, as an
upper reference, a different seed.

Measured on this machine (2026-11-26), default config (784-1000-10, 10 epochs of
minibatch 100 = 600 steps, float32 free, builtin data) with seeds 0-4, seed 0 again
with 1 BLAS/torch thread instead of 2; float64 synced with seeds 0-2 and 1 thread;
plus the committed assignment baseline (200 full-batch epochs on real notMNIST).

Agreement (manual vs torch), split by what a row measures:
  single-step rows (synced mode, or step <= 1 where both sides start from one state):
      float32 worst per quantity over seeds and threads: loss 1.0e-7..2.0e-7,
      grad 1.9e-7..3.5e-7, param 1.6e-7..3.4e-7, momentum 1.9e-7..3.4e-7; float64
      synced: loss 7.8e-16..9.4e-16, grad 2.0e-15..2.6e-15, param 2.6e-16..5.9e-16,
      momentum 9.9e-16..1.4e-15. At most 2.3x apart; at most 2.0% of their allowance
      (float32 loss at step 0-1: one ulp against the 1e-5 synced entry; float64 <= 0.06%).
      Full batch, a kink flip gives float32 grad up to 9.8e-5 = 1% of allowance
      (comparisons.check.tolerances).
  drift rows (free mode, after step 1): chaotic in any perturbation. Over seeds
      param 7.6e-4..5.8e-3 (7.7x), loss 9.8e-5..1.1e-3 (11x); seed 0 with 1
      thread instead of 2: param 3.3e-6 instead of 5.8e-3 (1700x). Largest share of
      allowance: param 5.8% here, 14% on real notMNIST (comparisons.check.tolerances).
Learning (final and per-epoch evaluation):
  rounding-level spread, manual vs torch within one run (same computation, other
  rounding) and 1 vs 2 threads: loss up to 4.4% relative (assignment float32, train
  loss 0.007 at epoch 189; valid/test <= 1.3%), accuracy up to 0.45 points
  (assignment, valid). Seeds 0-4, final: loss 3-5% relative, accuracy <= 1.05
  points apart.
"""
from dataclasses import dataclass


@dataclass(frozen=True)
class Thresholds:
    # A quantity's worst share of its allowance regresses when it is this many times the baseline's ...
    agreement_factor: float = 10.0
    # ... and more than this share of the allowance.
    share_floor: float = 0.5
    # Learning: worse than the baseline at the end or at any epoch both runs evaluated.
    loss_rise: float = 0.10                # relative; 2.3x the largest rounding-level spread (4.4%)
    accuracy_drop: float = 0.01            # absolute; 2.2x the largest rounding-level spread (0.45 points)


DEFAULT = Thresholds()

# Config fields whose difference is listed but does not make two runs incomparable:
# ``manual`` names the implementation under test (comparing two is what compare is for),
# ``data`` is a path (the data itself is compared through summary["data"]: name and split
# sizes), ``fail_fast`` only decides whether a failing run stops early.
CONFIG_FIELDS_LISTED = ("manual", "data", "fail_fast")

"""`make bench`: every performance target of the harness, measured in one process.

    python -m benchmarks [--quick] [--only GROUP ...] [--markdown FILE] [--json FILE]

Prints the machine, then one row per figure: the measured value (median, with
its interquartile range), the reference it is divided by (measured in the same
run, in alternating blocks), the ratio, the target and pass/fail. Groups:
threads, step (with both libraries' sgemm rates), spin, lockstep, load (the lockstep step
with two busy processes started by the bench, against idle), float64,
referee (how often a correct run calls the float64 referee, and what one call
costs against a lockstep step; no target), zoo (issues 12 and 13: the batchnorm, layernorm,
dropout and GELU layers against torch's; compare + record of the default job, of the cs231n-fc
preset and of adam and sgd at minibatch 100; the optimizer state's comparison), preset, optim (the
built-in Adam step against torch.optim.Adam's), conv (the built-in Conv2d's forward + backward against
torch's on a 2-conv-layer net at batch 64, 28x28, float32), grade (`lockstep grade`: the overhead per
submission, 1 vs 2 workers, RSS per worker: benchmarks/grade.py).
--quick shortens every measurement and the preset to 20 epochs (a smoke run);
the full run took ~7 minutes on 2 cores before the referee group. Exit status 1 if a target is missed.
"""
import comparisons  # noqa: F401  -- first: thread settings before NumPy and torch load

import argparse
import json
import sys
from dataclasses import asdict

from benchmarks import cases
from benchmarks.machine import describe
from comparisons.config import Config
from comparisons.data import load_data
from comparisons.record.recorder import strict_json

GROUPS = ("threads", "step", "spin", "lockstep", "load", "float64", "referee", "zoo", "preset", "optim", "conv",
          "grade")


def measure(groups, quick: bool) -> list[cases.Figure]:
    scale = 0.4 if quick else 1.0
    figures: list[cases.Figure] = []

    def report(new):
        for f in new:
            print(f"  measured: {f.name}: {_value(f)}", file=sys.stderr, flush=True)
        figures.extend(new)

    if "threads" in groups:
        report(cases.idle_spin())
    if "step" in groups:
        report(cases.step_vs_torch("float32", scale))
    if "spin" in groups:
        report(cases.spin_and_step_ratio(scale))
    if "lockstep" in groups:
        report(cases.lockstep_step(f"full batch N={cases.FULL_BATCH}", Config(batch_size=0),
                                   cases._data(cases.FULL_BATCH, "float32"), scale, reps=3,
                                   compare_target="<= 0.02", pair_target="<= 1.05"))
        builtin = load_data("builtin").astype("float32")
        report(cases.lockstep_step("minibatch 500", Config(batch_size=500), builtin, scale, reps=12,
                                   compare_target="<= 0.10", pair_target="<= 1.05", control=True))
        report(cases.lockstep_step("minibatch 100", Config(batch_size=100), builtin, scale, reps=40,
                                   compare_target="<= 0.10", pair_target="", control=True))
    if "float64" in groups:
        report(cases.step_vs_torch("float64", scale))
    if "load" in groups:
        builtin = load_data("builtin").astype("float32")
        report(cases.under_load(Config(batch_size=100), builtin, "minibatch 100",
                                blocks=2 if quick else 4, reps=10 if quick else 20))
    if "referee" in groups:
        for dtype in ("float32", "float64"):
            report(cases.referee_share(dtype, epochs=2))
        report(cases.referee_share("float32", epochs=3 if quick else 10, preset="assignment"))
        builtin = load_data("builtin").astype("float32")
        report(cases.referee_call("minibatch 100", Config(batch_size=100), builtin, scale, reps=10))
        report(cases.referee_call(f"full batch N={cases.FULL_BATCH}", Config(batch_size=0),
                                  cases._data(cases.FULL_BATCH, "float32"), scale, reps=2))
    if "zoo" in groups:
        report(cases.layers_vs_torch(scale))
        builtin = load_data("builtin").astype("float32")
        report(cases.lockstep_shares(cases.zoo_jobs(), builtin, scale, reps=10, targets=cases.ZOO_TARGETS,
                                     state=cases.ZOO_STATE))
        report(cases.lockstep_shares(cases.zoo_jobs(batch_size=0), cases._data(cases.FULL_BATCH, "float32"), scale,
                                     reps=2, state=cases.ZOO_STATE_FULL))
    if "conv" in groups:
        report(cases.conv_vs_torch(scale))
    if "preset" in groups:
        epochs = 20 if quick else None
        report(cases.preset(epochs))
        report(cases.preset_peak_rss(epochs))
    if "optim" in groups:
        report(cases.adam_step(scale))
    if "grade" in groups:
        from benchmarks import grade
        report(grade.measure(quick))
    return figures


def _value(f: cases.Figure) -> str:
    if f.unit == "ms" and f.value >= 10_000:
        text = f"{f.value / 1e3:.1f} s"
    elif f.unit in ("GF/s", "MB"):
        text = f"{f.value:.0f} {f.unit}"
    else:
        text = f"{f.value:.3g} {f.unit}" if f.value < 100 else f"{f.value:.1f} {f.unit}"
    if f.spread:
        lo, hi = f.spread
        fmt = "{:.0f}" if f.unit in ("GF/s", "MB") or f.value >= 100 else "{:.3g}"
        text += f" [{fmt.format(lo)}-{fmt.format(hi)}]"
    return text


def _result(f: cases.Figure) -> str:
    return {True: "pass", False: "FAIL", None: ""}[f.passed]


def table(figures) -> str:
    rows = [("figure", "measured [IQR]", "reference", "ratio", "target", "result")]
    rows += [(f.name, _value(f), f.reference, "" if f.ratio is None else f"{f.ratio:.3f}", f.target, _result(f))
             for f in figures]
    widths = [max(len(r[i]) for r in rows) for i in range(6)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    notes = [f"  - {f.name}: {f.note}" for f in figures if f.note]
    return "\n".join(lines + (["", "notes:"] + notes if notes else []))


def markdown(figures, machine: dict) -> str:
    out = ["| figure | measured [IQR] | reference | ratio | target | result |", "| --- | --- | --- | --- | --- | --- |"]
    out += [f"| {f.name} | {_value(f)} | {f.reference} | {'' if f.ratio is None else f'{f.ratio:.3f}'} | "
            f"{f.target} | {_result(f)} |" for f in figures]
    notes = [f"- {f.name}: {f.note}" for f in figures if f.note]
    head = [f"- {k}: {v}" for k, v in machine.items()]
    return "\n".join(head + [""] + out + ([""] + notes if notes else [])) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="short measurements (smoke run), 20-epoch preset")
    p.add_argument("--only", nargs="+", choices=GROUPS, default=GROUPS, help="measure these groups only")
    p.add_argument("--markdown", help="also write the machine and the table as Markdown to this file")
    p.add_argument("--json", help="also write every figure as JSON to this file")
    args = p.parse_args(argv)
    machine = describe()
    print("\n".join(f"{k}: {v}" for k, v in machine.items()), flush=True)
    figures = measure(set(args.only), args.quick)
    print()
    print(table(figures))
    failed = [f.name for f in figures if f.passed is False]
    print(f"\n{len(failed)} of {sum(f.passed is not None for f in figures)} targets missed" if failed
          else "\nevery target met")
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(markdown(figures, machine))
    if args.json:
        with open(args.json, "w") as f:
            figures_json = {"machine": machine, "figures": [asdict(x) | {"passed": x.passed} for x in figures]}
            json.dump(strict_json(figures_json), f, indent=2, allow_nan=False)   # strict JSON, as summary.json
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

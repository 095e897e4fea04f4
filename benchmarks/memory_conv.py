"""Peak memory of conv runs against comparisons/memory.py's estimate.

    python -m benchmarks.memory_conv [--quick]

Each case is one run (built-in images, or the flat built-in data for the MLPs; one epoch, minibatch 50,
free mode) in a fresh process, at two sizes of the
training split (the largest forward pass is the evaluation of the whole split); peak RSS is the
child's ru_maxrss. Printed per case and size: the peak, the estimate, their ratio, and the estimate's
terms; then per case the growth of the peak per sample between the two sizes, in bytes per im2col
column element (the conv layers' C·K²·OH·OW per sample) and per activation element, with the
estimate's own growth beside it. The column copies (memory.COLUMN_COPIES) and the activation term
are read from these rows (comparisons/memory.py cites them).
"""
import comparisons  # noqa: F401  -- first: thread settings before NumPy and torch load

import argparse
import json
import subprocess
import sys

CASES = {
    # the im2col columns dominate: conv2's 8·5²·28² = 156,800 column elements per sample, 15x its output
    "columns": "conv:8:3:1:1,relu,conv:8:5:1:2,relu,maxpool:2,flatten,linear",
    # the activations dominate: 32 channels at 28x28, a 3x3 kernel on one channel (9 columns per output)
    "activations": "conv:32:3:1:1,relu,maxpool:2,flatten,linear",
    # tests/test_conv.py's CNN
    "small": "conv:4:3:1:1,relu,maxpool:2,conv:8:3:1:1,relu,maxpool:2,flatten,linear",
    # MLPs on the flat built-in data (the fit the estimate's PER_ELEMENT came from), for comparison
    "mlp1000": "linear:1000,relu,linear",
    "mlp4000": "linear:4000,relu,linear",
}

CHILD = """
import json, resource, sys
from comparisons import Config, run, memory, spec
from comparisons.data.builtin import images, synthetic
model, n, dtype, batch = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
data = (images if model.startswith("conv") else synthetic)(seed=0, sizes=(n, 50, 50))
layers = spec.parse(model, data.sample_shape, data.n_outputs)
params = sum(s.size for s in layers)
acts, cols = memory.per_sample(layers, data.sample_shape)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
run(Config(model=model, epochs=1, batch_size=batch, lr=0.01, dtype=dtype, mode="free"), data)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps(dict(peak=peak, before=before, params=params, acts=acts, cols=cols,
                      estimate=memory.estimate(params, n * acts, n * cols, (batch or n) * acts))))
"""


def measure(model: str, n: int, dtype: str, batch: int = 50) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, model, str(n), dtype, str(batch)], capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="smaller splits (a smoke run)")
    p.add_argument("--only", nargs="*", choices=list(CASES), help="these cases only")
    args = p.parse_args(argv)
    sizes = (200, 600) if args.quick else (500, 2000)
    mb = 2 ** 20
    print(f"{'case':<12} {'dtype':<8} {'N':>5} {'peak MB':>8} {'estimate MB':>11} {'ratio':>6} "
          f"{'acts/sample':>11} {'cols/sample':>11}")
    for name, model in CASES.items():
        if args.only and name not in args.only:
            continue
        for dtype in ("float32", "float64"):
            rows = [measure(model, n, dtype) for n in sizes]
            for n, r in zip(sizes, rows):
                print(f"{name:<12} {dtype:<8} {n:>5} {r['peak'] / mb:>8.0f} {r['estimate'] / mb:>11.0f} "
                      f"{r['estimate'] / r['peak']:>6.2f} {r['acts']:>11,} {r['cols']:>11,}")
            grow = (rows[1]["peak"] - rows[0]["peak"]) / (sizes[1] - sizes[0])
            grow_est = (rows[1]["estimate"] - rows[0]["estimate"]) / (sizes[1] - sizes[0])
            a, c = rows[0]["acts"], rows[0]["cols"]
            print(f"  growth per sample: measured {grow / 1024:.0f} KB, estimated {grow_est / 1024:.0f} KB; "
                  f"measured per element of (acts + cols) {grow / (a + c):.1f} B, per acts alone "
                  f"{grow / a:.1f} B, per cols alone {grow / c if c else float('nan'):.1f} B")


if __name__ == "__main__":
    main()

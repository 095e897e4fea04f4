"""`make baselines`: rerun the assignment on real notMNIST and rewrite baselines/.

    python -m benchmarks.baselines [--data DIR]

For each dtype (float32, float64) it runs `lockstep run --preset assignment`
on the shared 10k sample into a temporary directory, then keeps what the
README's reproduction table quotes: the run's summary.json as written, and
epochs.csv, the per-epoch accuracy and loss of both sides on every split
(the `accuracy` and `loss` rows of steps.csv outside training steps).
Nothing in baselines/ is written by hand.
"""
import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "notmnist-small-10k"


def epochs_table(steps_csv: Path) -> pd.DataFrame:
    rows = pd.read_csv(steps_csv, low_memory=False)
    rows = rows[rows["phase"].isin(["train", "val", "test"])
                & rows["quantity"].isin(["accuracy", "loss"])]
    wide = rows.pivot_table(index=["epoch", "phase"], columns="quantity",
                            values=["manual", "reference"], aggfunc="first")
    out = pd.DataFrame({
        "accuracy_manual": wide[("manual", "accuracy")],
        "loss_manual": wide[("manual", "loss")],
        "accuracy_torch": wide[("reference", "accuracy")],
        "loss_torch": wide[("reference", "loss")],
    }).reset_index()
    return out.sort_values(["epoch", "phase"])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        print(f"baselines: {args.data} is not a directory (the shared notMNIST sample)", file=sys.stderr)
        return 2
    data = "../shared/data/notmnist-small-10k" if args.data.resolve() == DEFAULT_DATA.resolve() else str(args.data)
    for dtype in ("float32", "float64"):
        with tempfile.TemporaryDirectory() as tmp:
            run = Path(tmp) / "run"
            code = subprocess.call([sys.executable, "-m", "comparisons.cli", "run", "--preset", "assignment",
                                    "--data", data, "--dtype", dtype, "--out", str(run), "--quiet"],
                                   cwd=ROOT)
            if code != 0:
                print(f"baselines: the {dtype} run exited {code}; baselines/ left as it was", file=sys.stderr)
                return 1
            dest = ROOT / "baselines" / f"assignment-notmnist10k-{dtype}"
            dest.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(run / "summary.json", dest / "summary.json")
            epochs_table(run / "steps.csv").to_csv(dest / "epochs.csv", index=False, float_format="%.6g")
            print(f"baselines: wrote {dest.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

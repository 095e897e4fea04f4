"""`make baselines`: rerun the assignment on real notMNIST and rewrite baselines/.

    python -m benchmarks.baselines [--data DIR]

For each dtype (float32, float64) it runs `lockstep run --preset assignment`
on the shared 10k sample into a temporary directory, then keeps what the
README's reproduction table quotes: the run's summary.json as written, and
epochs.csv, the per-epoch accuracy and loss of both sides on every split
(the `loss`, `accuracy` and `disagreements` rows of steps.csv at each epoch's
evaluation; torch's figures are those of the twin training on its own, and
`disagreements` the samples the two predict differently). It prints how far
the two trajectories' parameters ended apart.
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
    """Per epoch and split: loss and accuracy of the manual side and of torch training on its own
    (the ``drift`` track in free mode; in synced mode the ``judged`` track, torch loaded each step)."""
    rows = pd.read_csv(steps_csv, low_memory=False)
    rows = rows[rows["phase"].isin(["train", "valid", "test"])]
    track = "drift" if (rows["track"] == "drift").any() else "judged"
    rows = rows[rows["track"] == track].set_index(["epoch", "phase", "quantity"])
    n = rows.xs("disagreements", level="quantity")["reference"]        # the split's size
    loss, correct = rows.xs("loss", level="quantity"), rows.xs("accuracy", level="quantity")
    out = pd.DataFrame({
        "accuracy_manual": correct["manual"] / n,
        "loss_manual": loss["manual"],
        "accuracy_torch": correct["reference"] / n,
        "loss_torch": loss["reference"],
        "disagreements": rows.xs("disagreements", level="quantity")["manual"].astype(int),
    }).reset_index()
    return out.sort_values(["epoch", "phase"])


def drift(steps_csv: Path) -> str:
    """The two trajectories at the last step: the greatest relative L2 distance between parameters."""
    rows = pd.read_csv(steps_csv, low_memory=False)
    params = rows[(rows["quantity"] == "param") & (rows["phase"] == "step")]
    if params.empty:
        return "no drift rows (synced mode)"
    last = params[params["step"] == params["step"].max()]
    worst = last.loc[last["rel_diff"].idxmax()]
    return f"parameters after step {worst['step']}: greatest rel_l2 {worst['rel_diff']:.2g} ({worst['name']})"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        print(f"baselines: {args.data} is not a directory (the shared notMNIST sample)", file=sys.stderr)
        return 2
    data = "../shared/data/notmnist-small-10k" if args.data.resolve() == DEFAULT_DATA.resolve() else str(args.data)
    with tempfile.TemporaryDirectory() as tmp:          # both runs first: baselines/ changes only if both pass
        runs = {}
        for dtype in ("float32", "float64"):
            run = runs[dtype] = Path(tmp) / dtype
            code = subprocess.call([sys.executable, "-m", "comparisons.cli", "run", "--preset", "assignment",
                                    "--data", data, "--dtype", dtype, "--out", str(run), "--quiet"],
                                   cwd=ROOT)
            if code != 0:
                print(f"baselines: the {dtype} run exited {code}; baselines/ left as it was", file=sys.stderr)
                return 1
        for dtype, run in runs.items():
            dest = ROOT / "baselines" / f"assignment-notmnist10k-{dtype}"
            dest.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(run / "summary.json", dest / "summary.json")
            epochs_table(run / "steps.csv").to_csv(dest / "epochs.csv", index=False, float_format="%.6g")
            print(f"baselines: wrote {dest.relative_to(ROOT)}; {drift(run / 'steps.csv')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

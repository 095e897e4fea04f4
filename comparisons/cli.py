"""lockstep: the command line. Exit 0 when every check passes, 1 when any fails, 2 on bad input."""
import argparse
import sys

from comparisons.config import DTYPES, MODES, QUANTITIES, Config
from comparisons.console import print_outcome
from comparisons.errors import InputError

D = Config()   # the defaults, shown in --help


class _Parser(argparse.ArgumentParser):
    def error(self, message):          # one line, exit 2 (argparse would print the usage too)
        raise InputError(message)


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _tol(text: str) -> tuple[str, float]:
    quantity, sep, value = text.partition("=")
    try:
        return quantity, float(value) if sep else float("nan")
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected QUANTITY=VALUE, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="lockstep", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    r = sub.add_parser("run", help="train both sides in lockstep and check every step",
                       description="Train the NumPy MLP and its torch twin on the same batches, compare "
                                   "loss, accuracy, predictions, gradients, parameters and momentum at every "
                                   "step, write OUT/steps.csv and OUT/summary.json. "
                                   "Exit 0: all checks pass; 1: a check failed or a value turned NaN; 2: bad input.")
    r.add_argument("--out", required=True, help="directory for steps.csv and summary.json")
    r.add_argument("--overwrite", action="store_true", help="replace a run already in --out")
    r.add_argument("--quiet", action="store_true", help="no progress bar and no table; the exit code tells")
    r.add_argument("--hidden", type=_ints, default=D.hidden, help="hidden widths, e.g. 1000 or 500,200 (default 1000)")
    r.add_argument("--epochs", type=int, default=D.epochs, help=f"passes over the training split (default {D.epochs})")
    r.add_argument("--batch-size", type=int, default=D.batch_size,
                   help=f"samples per step, 0 = full batch (default {D.batch_size})")
    r.add_argument("--lr", type=float, default=D.lr, help=f"learning rate alpha (default {D.lr})")
    r.add_argument("--momentum", type=float, default=D.momentum, help=f"momentum gamma (default {D.momentum})")
    r.add_argument("--init-velocity", type=float, default=D.init_velocity,
                   help=f"initial value of every velocity element (default {D.init_velocity})")
    r.add_argument("--dtype", choices=DTYPES, default=D.dtype, help=f"(default {D.dtype})")
    r.add_argument("--seed", type=int, default=D.seed, help=f"seeds init and batch order (default {D.seed})")
    r.add_argument("--mode", choices=MODES, default=D.mode,
                   help="free: each side evolves alone (end-to-end drift); synced: torch is reset to the "
                        f"manual state after each step (each step's own error) (default {D.mode})")
    r.add_argument("--data", default=D.data, help="'builtin' (generated notMNIST-like set, no download; the default), an assignment "
                        "notMNIST.npz, or an MNIST-IDX images file (.gz or raw) or its directory")
    r.add_argument("--tol", type=_tol, action="append", default=[], metavar="QUANTITY=VALUE",
                   help=f"override a tolerance; QUANTITY one of {', '.join(QUANTITIES)}; repeatable")
    r.add_argument("--fail-fast", action="store_true", help="stop at the first failed check")
    return p


def config_from_args(args: argparse.Namespace) -> Config:
    values = {name: getattr(args, name) for name in Config.field_names()}
    values["tol"] = tuple(args.tol)
    config = Config(**values)
    config.validate()
    return config


def main(argv=None) -> int:
    try:
        args = build_parser().parse_args(argv)
        config = config_from_args(args)
        from comparisons.lockstep import run   # after validation: bad flags answer before torch loads
        result = run(config, out=args.out, overwrite=args.overwrite, progress=not args.quiet)
    except InputError as e:
        print(f"lockstep: error: {e}", file=sys.stderr)
        return 2
    if not args.quiet:
        print_outcome(result)
    elif result.first_failure:
        print(result.first_failure["message"], file=sys.stderr)
    return {"passed": 0, "failed": 1, "interrupted": 130}[result.status]


if __name__ == "__main__":
    sys.exit(main())

"""lockstep: the command line.

Exit codes (README, "Exit codes"): 0 every check passed, 1 a check failed or the run could not
finish (NaN/Inf, your code raised, exited, crashed or timed out, the record could not be
written), 2 bad input or usage (nothing written), 129/130/143 interrupted by SIGHUP/SIGINT/SIGTERM.
"""
import argparse
import math
import signal
import sys
import threading

from comparisons import interrupts
from comparisons.cli import report as cli_report
from comparisons.data import presets
from comparisons.config import DTYPES, MODES, QUANTITIES, REDUCTIONS, REG_CONVENTIONS, Config, check_seed
from comparisons.errors import InputError, cli_words
from comparisons.registry import LOSSES, optimizer_usage, schedule_usage

LOSS_NAMES = tuple(LOSSES)

D = Config()   # the defaults, shown in --help
TIMEOUT = 600.0   # seconds a step (or start-up, an evaluation, the diagnosis) may take. The slowest measured: the
                  # worker's start-up at load 6 on 2 cores (still loading the built-in data after 12 s), an epoch
                  # of the assignment preset in float64 (0.9 s: 177 s / 200 epochs, README). 600 s: 40x and more.
EXIT_CODES = ("exit codes: 0 passed; 1 a check failed, or the run could not finish (NaN/Inf, your code "
              "raised, exited, crashed or timed out, the record could not be written); 2 bad input or "
              "usage (nothing written); 130/143/129 interrupted by SIGINT/SIGTERM/SIGHUP (the record so "
              "far is kept). See the README's \"Exit codes\".")


RUN_EXAMPLES = """examples:
  lockstep run --out runs/demo                                   the assignment's MLP on built-in data
  lockstep run --preset assignment --data ../shared/data/notmnist-small-10k --out runs/a
  lockstep run --model linear:100,batchnorm,relu,dropout:0.5,linear --optimizer adam --out runs/z
  lockstep run --manual mynet.py:MyNet --dtype float64 --mode synced --out runs/mine   your class (a file)
  lockstep run --manual mypkg.net:MyNet --out runs/mine                                (or a module)
  lockstep run --preset cs231n-fc --manual examples/cs231n/adapter.py:Adapter --out runs/cs231n"""
AUDIT_EXAMPLES = """examples:
  lockstep audit                                                 the assignment's code (seed)
  lockstep audit --manual examples/student_adapter.py:Adapter    your class, through its adapter"""


def _epilog(examples: str = "") -> str:
    import textwrap
    return "\n\n".join(filter(None, (examples, textwrap.fill(EXIT_CODES, 100))))


class _Parser(argparse.ArgumentParser):
    def error(self, message):          # one line, exit 2 (argparse would print the usage too)
        raise InputError(message)


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _seed(text: str) -> int:
    """``lockstep audit --seed``: an integer in Config.seed's range (run's --seed is checked by Config)."""
    try:
        seed = int(text)
        check_seed(seed)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    except InputError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return seed


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return value


def _tol(text: str) -> tuple[str, float]:
    quantity, sep, value = text.partition("=")
    try:
        return quantity, float(value) if sep else float("nan")
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected QUANTITY=VALUE, got {text!r}") from None


def _add_config_flags(r: argparse.ArgumentParser) -> None:
    """One flag per Config field. Defaults are SUPPRESSed so that a preset sits between
    Config's defaults and the flags actually given."""
    def flag(name, help, **kw):
        default = getattr(D, name)
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        r.add_argument(f"--{name.replace('_', '-')}", dest=name, default=argparse.SUPPRESS,
                       help=f"{help} (default {shown})", **kw)

    flag("model", "the layers, e.g. linear:100,relu,linear (README \"Models\"); empty: the MLP of --hidden")
    flag("hidden", "hidden widths of the default MLP (Linear -> ReLU per width, then Linear), e.g. 1000 or 500,200",
         type=_ints)
    flag("loss", "the loss on the network's output", choices=LOSS_NAMES)
    flag("init", "the weights' initialisation scheme (both sides start from one draw of it; a bring-your-own "
                 "class's own init is checked against it): xavier_normal, xavier_uniform, he_normal, he_uniform, "
                 "lecun_normal, torch_default, normal:S, uniform:A")
    flag("init_bias", "the biases' scheme: zeros, normal:S, uniform:A, torch_default, ...")
    flag("reg", "regularisation: l2:LAMBDA or l1:LAMBDA; empty: none (README \"Models\")")
    flag("reg_convention", "the penalty's form: cs231n 0.5 lambda sum W^2; dls lambda/(2m) sum W^2; nnfs lambda "
                           "sum W^2 + lambda sum b^2; torch SGD weight_decay, no loss term", choices=REG_CONVENTIONS)
    flag("epochs", "passes over the training split", type=int)
    flag("batch_size", "samples per step, 0 = full batch", type=int)
    flag("lr", "learning rate alpha", type=float)
    flag("momentum", "momentum gamma", type=float)
    flag("init_velocity", "initial value of every velocity element", type=float)
    flag("optimizer", "NAME[:key=value,...], e.g. adam:beta1=0.9,beta2=0.999,eps=1e-8 or momentum:form=ema; "
                      f"names and forms: {optimizer_usage()}; the learning rate is --lr; empty: the assignment's "
                      "momentum (v <- momentum v + lr g, p <- p - v) from --momentum and --init-velocity "
                      "(README \"Optimizers\")")
    flag("lr_schedule", "NAME:key=value,...: the lr of the update with t optimizer steps before it, "
                        f"{schedule_usage()}; torch's StepLR, ExponentialLR and LambdaLR; empty: constant --lr "
                        "(README \"Optimizers\")")
    flag("reduction", "training loss over the batch: mean, or sum (the gradient the assignment's "
                      "gradCE = p - y descends)", choices=REDUCTIONS)
    flag("dtype", "both sides' floating-point type", choices=DTYPES)
    flag("seed", "seeds the initial weights and the batch order", type=int)
    flag("mode", "free: each side evolves alone (end-to-end drift); synced: torch is reset to the "
                 "manual state after each step (each step's own error)", choices=MODES)
    flag("data", "'builtin' (generated notMNIST-like set, no download; builtin:binary and builtin:regression "
                 "for those targets, builtin:images as (N, 1, 28, 28) for conv nets, builtin:sequence: a generated "
                 "next-token task for embedding/rnn/lstm models, builtin:sequence:onehot: its tokens as one-hot "
                 "vectors for a model starting with rnn/lstm), an assignment notMNIST.npz, "
                 "or an MNIST-IDX images file (.gz or raw) or its directory")
    flag("manual", "the manual side: builtin (manual/), seed (the assignment's code as written), "
                   "path/file.py:Class or pkg.module:Class implementing the protocol in comparisons/sides/byo.py")
    r.add_argument("--tol", dest="tol", type=_tol, action="append", default=argparse.SUPPRESS,
                   metavar="QUANTITY=VALUE",
                   help=f"override a tolerance; QUANTITY one of {', '.join(QUANTITIES)}; repeatable")
    r.add_argument("--fail-fast", dest="fail_fast", action="store_true", default=argparse.SUPPRESS,
                   help="stop at the first failed check")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("lockstep")
    except PackageNotFoundError:     # run from a checkout that was not installed
        return "(not installed)"


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="lockstep", description="Prove a hand-written NumPy network computes what its hand "
                "derivation says, by training it in lockstep with a torch twin.", epilog=_epilog(RUN_EXAMPLES),
                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"lockstep {_version()}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    r = sub.add_parser("run", help="train both sides in lockstep and check every step",
                       description="Train the NumPy network and its torch twin on the same batches from one "
                                   "initialisation; compare every layer's output, the loss, predictions, every "
                                   "gradient, update and piece of optimizer state at every step (README \"What a "
                                   "run checks\"); write OUT/steps.csv and OUT/summary.json.",
                       epilog=_epilog(RUN_EXAMPLES), formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("--out", required=True, help="directory for steps.csv and summary.json (one run at a time: "
                                                "it is locked while the run writes)")
    r.add_argument("--overwrite", action="store_true", help="replace a run already in --out")
    r.add_argument("--quiet", action="store_true", help="no progress bar and no table; the exit code tells")
    _add_timeout_flag(r)
    r.add_argument("--preset", help=f"start from a named configuration ({', '.join(presets.names())}) "
                                    "or a .toml file of Config fields; flags override it")
    _add_config_flags(r)
    cli_report.add_run_flag(r)
    cli_report.add_commands(sub)
    a = sub.add_parser("audit", help="check each hand derivation against autograd and finite differences",
                       description="Compare each hand derivation of a manual implementation with torch "
                                   "autograd through its own forward and with central differences (float64), "
                                   "on random inputs and edge cases. Exit 0: every derivation holds; "
                                   "1: one does not; 2: bad input, or the class raised, exited or crashed; "
                                   "130/143/129: interrupted.",
                       epilog=AUDIT_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    a.add_argument("--manual", default="seed",
                   help="seed (the assignment's code, the default), pkg.module:Class or path/file.py:Class")
    a.add_argument("--seed", type=_seed, default=0, help="seeds the random inputs (default 0)")
    _add_timeout_flag(a)
    y = sub.add_parser("layers", help="check a file of function-style layers (cs231n's layers.py) against torch",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Import FILE.py, find its layer functions (X_forward/X_backward pairs in cs231n's "
                                   "names and signatures, or those named in a LOCKSTEP_LAYERS dict in the file), and "
                                   "check each known layer's forward outputs and every gradient its backward returns "
                                   "against torch's functional ops and autograd, on random inputs (float64 and "
                                   "float32) and edge cases (README \"lockstep layers\"). One line per layer; a "
                                   "pair that is not a known layer is listed as not checked.",
                       epilog="example:\n  lockstep layers examples/cs231n_layers/layers_slips.py --out runs/layers\n"
                              "  affine (affine_forward/affine_backward): pass (2 cases, 12 values; worst rel_l2 "
                              "1.2e-16 float64, 8.2e-08 float32)\n  ...\n  conv (conv_forward_naive/conv_backward_naive): "
                              "FAIL dw: not summed over axis 0: the manual value has shape (2, 4, 3, 3, 3); summed "
                              "there, it is the reference (4, 3, 3, 3) (case stride 1, pad 1, float64)\n  ...\n"
                              "  rows: runs/layers/layers.csv\n  report: runs/layers/layers.html  "
                              "runs/layers/layers.md\n\n"
                              "naming: cs231n's X_forward/X_backward names, or in the file: LOCKSTEP_LAYERS = "
                              "{'affine': ('dense_fwd', 'dense_bwd'), 'softmax_loss': 'xent', 'conv': None}\n\n"
                              "exit codes: 0 every known layer passed; 1 a layer failed (or its code raised); 2 bad "
                              "input (the file cannot be imported, a function does not take the known arguments, "
                              "nothing to check), or the file's code crashed or hung; 130/143/129: interrupted.")
    y.add_argument("file", metavar="FILE.py", help="the layers file")
    y.add_argument("--out", help="directory to write layers.csv (one row per compared value), layers.html and "
                                 "layers.md (one row per layer) into")
    y.add_argument("--seed", type=_seed, default=0, help="seeds the random inputs (default 0)")
    y.add_argument("--timeout", type=_seconds, default=TIMEOUT, metavar="SECONDS",
                   help=f"end the check (exit 2, one line) when one layer takes longer (default {TIMEOUT:g})")
    from comparisons.grade.command import add_parser as add_grade
    add_grade(sub, _seconds)
    return p


def _add_timeout_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--timeout", type=_seconds, default=TIMEOUT, metavar="SECONDS",
                   help=f"end the run as failed when one step (or start-up, an evaluation, the diagnosis) "
                        f"takes longer (default {TIMEOUT:g})")


def audit_command(args) -> int:
    from comparisons.explain.audit import audit, format_table
    result = audit(args.manual, args.seed)
    print(format_table(result.rows))
    if result.findings:
        print("\nfindings:\n" + "\n".join(f"  - {f}" for f in result.findings))
    print(f"\n{result.verdict}")
    return 0 if result.passed else 1


def layers_command(args) -> int:
    from comparisons.explain.layers_file import check_file, exit_code, prepare_out, write_csv
    from comparisons.report import layers_report
    if args.out is not None:
        prepare_out(args.out)
    layers = check_file(args.file, args.seed)
    for layer in layers:
        print(layer.line())
    if args.out:
        print(f"rows: {write_csv(layers, args.out)}")
        print("report: " + "  ".join(map(str, layers_report.write(layers, args.file, args.out))))
    print(f"\n{layers_report.verdict(layers)}")
    return exit_code(layers)


def config_from_args(args: argparse.Namespace) -> Config:
    """Config defaults, then the preset's values, then the flags given; validated."""
    values = presets.load_preset(args.preset) if args.preset else {}
    given = {name: getattr(args, name) for name in Config.field_names() if hasattr(args, name)}
    if "tol" in given:   # a flag replaces the preset's entry; a quantity given twice by flags is refused
        flagged = {q for q, _ in given["tol"]}
        given["tol"] = tuple((q, v) for q, v in values.get("tol", ()) if q not in flagged) + tuple(given["tol"])
    config = Config(**(values | given))
    config.validate()
    return config


def run_command(args, out) -> int:
    """``lockstep run`` itself, in the worker process (comparisons.cli.child); ``out``: the OutDir its
    parent opened. Prints the outcome; returns the exit code the record's status calls for."""
    config = config_from_args(args)
    from comparisons.cli.console import print_outcome
    from comparisons.lockstep import run   # torch loads only once the input is known good
    result = None
    try:
        result = run(config, out=out, overwrite=args.overwrite, progress=not args.quiet)
        interrupts.defer()
    except KeyboardInterrupt:
        if result is None:
            raise
        interrupts.defer()             # the run had ended with its record whole: that record stands
    try:
        if not args.quiet:
            print_outcome(result)
        else:
            first, stopped = (result.first_failure or {}).get("message"), result.summary.get("stopped")
            for line in dict.fromkeys(filter(None, (first, stopped))):   # once each, the first failure first
                print(line, file=sys.stderr)
    except OSError:     # stdout closed (piped into head): the record and the exit code still tell
        pass
    return {"passed": 0, "failed": 1}[result.status] if result.status != "interrupted" else interrupts.exit_code()


def main(argv=None) -> int:
    """The ``lockstep`` command. ``run``, ``audit`` and ``layers`` run in a worker process watched by this one
    (comparisons.cli.parent), which never imports torch or the user's code; ``report`` and
    ``compare`` run here; ``grade`` drives a Dask cluster from here (comparisons.grade)."""
    with cli_words():          # messages name --flags here, the API's arguments from Python
        return _main(sys.argv[1:] if argv is None else list(argv))


def _main(argv: list) -> int:
    main_thread = threading.current_thread() is threading.main_thread()
    saved = {s: signal.signal(s, interrupts.raise_interrupted) for s in interrupts.SIGNALS} if main_thread else {}
    try:
        args = build_parser().parse_args(argv)
        if args.command in cli_report.COMMANDS:   # report, compare: read runs back, no torch
            return cli_report.dispatch(args)
        if args.command == "grade":               # many submissions, each in its own process on Dask
            from comparisons.grade.command import grade_command
            return grade_command(args)
        if args.command == "run":
            config_from_args(args)                # bad input is refused before a process is started
        from comparisons.cli.parent import contain
        return contain(argv, args)
    except InputError as e:
        print(f"lockstep: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        return interrupts.one_line(e)
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)


if __name__ == "__main__":
    sys.exit(main())

"""The worker process of ``lockstep run``, ``lockstep audit`` and ``lockstep layers``: it imports torch and the user's code.

Started by comparisons.cli.parent as ``python -c BOOT SYS_PATH --heartbeat-fd N [--lock-fd N
--write-to DIR] -- ARGV...``, with the parent's module search path (so it imports the same
lockstep) and its output directory already locked (the lock's descriptor is inherited).

It installs the signal handlers first (comparisons.interrupts: a signal during the imports is
an interruption too), publishes where it is through the heartbeat the parent maps, does the
command, prints its outcome, marks the heartbeat with its exit code, and leaves with
``os._exit``: atexit handlers and non-daemon threads the user's code left behind can neither
change that code nor keep the process alive.
"""
import importlib
import os
import signal
import sys

from comparisons import heartbeat, interrupts
from comparisons.errors import InputError, RecordWriteError, cli_words, describe

# The parent runs: python -c BOOT '<its sys.path as JSON>' --heartbeat-fd ...
BOOT = ("import json, sys; sys.path[:] = json.loads(sys.argv.pop(1)); "
        "from comparisons.cli.child import main; main()")


def main() -> None:
    interrupts.install()
    options, argv = _split(sys.argv[1:])
    beat = heartbeat.attach(int(options["--heartbeat-fd"]))
    out = None
    if "--lock-fd" in options:
        from comparisons.record.outdir import OutDir
        out = OutDir.adopt(options["--out"], options["--write-to"], int(options["--lock-fd"]))
    with cli_words():
        code = work(argv, out)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    beat.done(code)
    os._exit(code)


def work(argv: list[str], out) -> int:
    """Do the command; its exit code. Every way it can end is one line (or the closing table)."""
    beat = heartbeat.current
    try:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, interrupts.SIGNALS)   # the parent started it with them blocked
        cli = importlib.import_module("comparisons.cli.main")   # argparse, NumPy: inside, so a signal here is caught
        args = cli.build_parser().parse_args(argv)
        if args.command == "audit":
            beat.at("audit")
            code = cli.audit_command(args)
        elif args.command == "layers":
            beat.at("layers")
            code = cli.layers_command(args)
        else:
            code = cli.run_command(args, out)
        interrupts.defer()               # from here to os._exit, a signal changes nothing
        return code
    except KeyboardInterrupt as e:       # a run interrupted after it started returns a result instead
        interrupts.defer()
        print(f"lockstep: interrupted by {interrupts.name(interrupts.signal_of(e))} during {beat.where()}; "
              "nothing written", file=sys.stderr)
        return interrupts.EXIT_CODES[interrupts.signal_of(e)]
    except RecordWriteError as e:        # summary.json could not be written: the run did not end whole
        interrupts.defer()
        print(f"lockstep: error: {e}", file=sys.stderr)
        return 1
    except InputError as e:
        interrupts.defer()
        print(f"lockstep: error: {e}", file=sys.stderr)
        return 2
    except SystemExit as e:              # the user's code, outside the calls lockstep wraps (an import, the audit)
        interrupts.defer()
        print(f"lockstep: error: {beat.where()}: the manual code {describe(e)}", file=sys.stderr)
        return 2
    except Exception as e:               # noqa: BLE001 - anything else (MemoryError, a bug of lockstep's): one line
        interrupts.defer()
        print(f"lockstep: error: {beat.where()}: {describe(e)} (not a check's verdict: an error while running; "
              f"if it names no code of yours, please report it)", file=sys.stderr)
        started = out is not None and (out.write_to / "steps.csv").exists()
        return 1 if started else 2       # the parent keeps or discards the record by this


def _split(args: list[str]) -> tuple[dict, list[str]]:
    """``--name value`` pairs before ``--``, and the command line after it."""
    cut = args.index("--")
    head = args[:cut]
    return dict(zip(head[::2], head[1::2])), args[cut + 1:]

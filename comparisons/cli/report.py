"""``lockstep report`` and ``lockstep compare``, and ``lockstep run --report``; registered by comparisons.cli.

Neither command loads torch: they read a run directory back (comparisons.record.rundir).
"""
import argparse
import sys

COMMANDS = ("report", "compare")


def add_commands(sub) -> None:
    """Add the report and compare subparsers to ``lockstep``'s subparsers."""
    r = sub.add_parser("report", help="write an HTML report and its Markdown twin for a run directory",
                       description="Read RUN_DIR (steps.csv, summary.json) and write report.html (figures "
                                   "embedded), report.md (for CI job summaries) and the figures as report-*.png. "
                                   "Exit 0 when written, 2 on unusable input.",
                       epilog="examples:\n  lockstep report runs/demo\n  lockstep report runs/demo --out "
                              "public/report          (the folder is made)",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("run_dir", metavar="RUN_DIR", help="a directory written by lockstep run")
    r.add_argument("--out", help="write the report here instead of into RUN_DIR")
    r.add_argument("--quiet", action="store_true", help="print nothing; the exit code tells")
    c = sub.add_parser("compare", help="regression verdict of a run against a known-good baseline",
                       description="Compare CURRENT_DIR with BASELINE_DIR (runs of the same config): agreement, "
                                   "final loss and accuracy, and the learning curves. Prints Markdown. "
                                   "Exit 0: no regression; 1: a regression; 2: unusable input or different configs.",
                       epilog="example:\n  lockstep compare baselines/float32 runs/today    a version's run against "
                              "the known-good one", formatter_class=argparse.RawDescriptionHelpFormatter)
    c.add_argument("baseline", metavar="BASELINE_DIR", help="the known-good run")
    c.add_argument("current", metavar="CURRENT_DIR", help="the run to judge")
    c.add_argument("--force", action="store_true",
                   help="compare runs of different configs (the differences are listed)")


def add_run_flag(run_parser: argparse.ArgumentParser) -> None:
    run_parser.add_argument("--report", action="store_true",
                            help="also write OUT/report.html and OUT/report.md (as lockstep report OUT)")


def dispatch(args: argparse.Namespace) -> int:
    """Run the report or compare command; InputError propagates to the CLI (one line, exit 2)."""
    if args.command == "report":
        from comparisons.report.write import write_report
        report = write_report(args.run_dir, args.out)
        if not args.quiet:
            print(f"report: {report.html}  {report.markdown}")
        return 0
    from comparisons.report.compare import compare_runs
    from comparisons.report.compare_markdown import render
    from comparisons.record.rundir import load_run
    comparison = compare_runs(load_run(args.baseline, "baseline"), load_run(args.current, "current"),
                              force=args.force)
    print(render(comparison), end="")
    return 1 if comparison.regressed else 0


def report_after_run(out: str, status: int, quiet: bool) -> int:
    """``lockstep run --report``: write the report of the run just made; keep the run's exit code
    unless it passed and the report could not be written (then 2)."""
    from comparisons.errors import InputError
    from comparisons.report.write import write_report
    try:
        report = write_report(out)
    except InputError as e:
        print(f"lockstep: error: report not written: {e}", file=sys.stderr)
        return status or 2
    if not quiet:
        print(f"report: {report.html}  {report.markdown}")
    return status

"""The thin parent of ``lockstep run``, ``audit`` and ``layers``: the work runs in a worker process, and
this process, which never imports torch or the user's code, decides the exit code.

Why: the user's code runs inside the run. In one process, a ``sys.exit(0)`` in it would make a
failed run exit 0, and an ``os._exit``, a segfault or a hang could not be caught at all. Here the
worker (comparisons.cli.child) does everything (the arrays never leave it: the comparison reads
them where they are) and the parent only:

- opens and locks the output directory before the worker starts (comparisons.record.outdir),
  and passes it the lock;
- watches the worker's heartbeat (comparisons.heartbeat): the step, the phase and the call in
  progress; ``--timeout`` ends a worker whose step or phase has not moved for that long;
- forwards SIGINT, SIGTERM and SIGHUP to the worker, and kills it if it has not ended
  GRACE_SECONDS later (or at a second signal);
- judges the outcome. Exit 0 only if the worker exited 0 of its own accord and OUT holds a
  summary.json that says passed and agrees with steps.csv (comparisons.record.rundir). A worker
  that died (any exit without its heartbeat's mark, a signal, a kill) has its record repaired
  from the progress it saved: steps.csv cut back to the last flush, a summary with status failed
  (interrupted for a signal) whose first failure names where it was:
  ``step 4 > backward(): the process ended (SIGSEGV)``. Exit 1 (129, 130, 143 for signals; 2 if it
  died before its first step: nothing written).

Cost, measured (benchmarks/containment.py, docs/robustness.md): the parent's start-up before the
worker starts (argparse, NumPy, the config: 0.18 s of imports, 0.86 s wall at load 5) and judging
the record after it (28 ms for a small run: pandas loads while the worker works); a 6-step run took
19.6 s contained against 20.2 s in one process (load 5: within the noise). A step is not slowed
beyond the heartbeat's few microseconds (comparisons.heartbeat).
"""
import importlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass

from comparisons import heartbeat, interrupts
from comparisons.cli.child import BOOT
from comparisons.errors import InputError, RecordWriteError
from comparisons.record.outdir import OutDir, ended, write_summary
from comparisons.record.recorder import STEPS, SUMMARY

GRACE_SECONDS = 10.0   # after a forwarded signal: time for the worker to write its record before it is killed
POLL_SECONDS = 0.1     # how often the parent looks at the worker: its whole cost is waking up this often


@dataclass(frozen=True)
class Ending:
    """How the worker ended."""
    code: int                  # its exit status (negative: killed by that signal)
    beat: heartbeat.Beat       # its last heartbeat
    signum: int | None         # the first signal the parent was sent, if any
    timed_out: float | None    # the --timeout that expired, if one did

    @property
    def clean(self) -> bool:
        """The worker chose its exit code (marked its heartbeat with it just before exiting)."""
        return self.code >= 0 and self.beat.exit_code == self.code

    def cause(self) -> str:
        """Why it ended, for a worker that did not end cleanly: one line naming where it was."""
        where = self.beat.where()
        if self.timed_out is not None:
            return f"{where}: timed out after {self.timed_out:g} s"
        if self.signum is not None:
            return f"interrupted by {interrupts.name(self.signum)} during {where}"
        how = signal.Signals(-self.code).name if self.code < 0 else f"exit code {self.code}"
        return f"{where}: the process ended ({how})"


def contain(argv: list[str], args) -> int:
    """Run ``lockstep run|audit ARGV`` in a worker and judge it; the exit code of the command.

    From the worker's start to the end, SIGINT/SIGTERM/SIGHUP go to ``_Watch`` (forwarded to the
    worker while it runs, recorded after): the judging, the repair and the move of a staged record
    into OUT are never cut short, and the exit code follows the record they leave."""
    out = OutDir.open(args.out, args.overwrite) if args.command == "run" else None
    # The worker starts with the signals blocked (a mask is inherited) and unblocks them once its own
    # handlers are in place: a signal during its interpreter's start-up waits for them (one line, not
    # a traceback). Here they are blocked until the worker's pid is known, so each can be forwarded.
    signal.pthread_sigmask(signal.SIG_BLOCK, interrupts.SIGNALS)
    watch = _Watch()
    saved = {s: signal.signal(s, watch.on_signal) for s in interrupts.SIGNALS}
    try:
        try:
            ending = _supervise(argv, out, args.timeout, watch)
            if out is None:
                return _judge_audit(ending)
            code = _judge_run(ending, out)
        finally:
            if out is not None:
                out.release()
        if args.report and _whole(out.path) is not None:
            from comparisons.cli import report as cli_report
            return cli_report.report_after_run(str(out.path), code, args.quiet)
        return code
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, interrupts.SIGNALS)
        for s, handler in saved.items():
            signal.signal(s, handler)


def _supervise(argv: list[str], out: OutDir | None, timeout: float, watch: "_Watch") -> Ending:
    """Start the worker (signals blocked: see contain), watch it until it exits, say how it ended."""
    try:
        fd, buffer = heartbeat.create()
    except OSError as e:
        raise InputError(f"cannot create the heartbeat file in {tempfile.gettempdir()}: {e.strerror}") from None
    cmd = [sys.executable, "-c", BOOT, json.dumps(sys.path), "--heartbeat-fd", str(fd)]
    fds = [fd]
    if out is not None:
        cmd += ["--out", str(out.path), "--write-to", str(out.write_to), "--lock-fd", str(out.lock_fd)]
        fds.append(out.lock_fd)
    try:
        watch.proc = subprocess.Popen([*cmd, "--", *argv], pass_fds=fds)
    finally:
        os.close(fd)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, interrupts.SIGNALS)
    if out is not None:        # pandas, for reading the record back, loads while the worker works
        threading.Thread(target=importlib.import_module, args=("comparisons.record.rundir",), daemon=True).start()
    progress, since = heartbeat.read(buffer).progress, time.monotonic()
    timed_out = None
    while True:
        try:
            code = watch.proc.wait(POLL_SECONDS)
            break
        except subprocess.TimeoutExpired:
            pass
        now, beat = time.monotonic(), heartbeat.read(buffer)
        if beat.progress != progress:
            progress, since = beat.progress, now
        elif now - since > timeout and timed_out is None:
            timed_out = timeout
            watch.kill()
        if watch.kill_at is not None and now > watch.kill_at:
            watch.kill()
    return Ending(code, heartbeat.read(buffer), watch.signals[0] if watch.signals else None, timed_out)


class _Watch:
    """The parent's signal handler while the worker runs: forward the first signal, kill at the second."""

    def __init__(self):
        self.proc: subprocess.Popen | None = None
        self.signals: list[int] = []
        self.kill_at: float | None = None

    def on_signal(self, signum, frame) -> None:
        self.signals.append(signum)
        if self.proc is None or self.proc.returncode is not None:    # not started yet, or judged already
            return
        if len(self.signals) == 1:
            self.forward(signum)
        else:
            self.kill()

    def forward(self, signum: int) -> None:
        self.kill_at = time.monotonic() + GRACE_SECONDS
        try:
            self.proc.send_signal(signum)
        except OSError:
            pass

    def kill(self) -> None:
        try:
            self.proc.kill()
        except OSError:
            pass


def _whole(path):
    """The run directory at ``path`` read back (comparisons.record.rundir), or None if it is not whole."""
    from comparisons.record.rundir import load_run
    try:
        return load_run(path)
    except InputError:
        return None


def _exit_code(status: str, ending: Ending) -> int:
    if status == "passed":
        return 0
    if status == "failed":
        return 1
    if ending.code in interrupts.EXIT_CODES.values():
        return ending.code
    return interrupts.EXIT_CODES[ending.signum if ending.signum is not None else signal.SIGINT]


def _judge_run(ending: Ending, out: OutDir) -> int:
    """The exit code of ``lockstep run``, after making OUT's record whole (or leaving OUT as it was)."""
    run = _whole(out.write_to)
    if ending.clean:
        if run is not None and _exit_code(run.summary["status"], ending) == ending.code:
            out.commit()
            return ending.code
        if run is None:
            if ending.code == 2 or not (out.write_to / STEPS).exists():
                out.discard()                # refused before the first step (the worker said why): nothing written
                return ending.code
            if out.staged:
                out.discard()
                print(f"lockstep: the new run's record is not whole; {out.path} keeps the previous run",
                      file=sys.stderr)
            return ending.code or 1          # the worker said why (e.g. summary.json could not be written)
    # The worker died, was killed, or ended in a way that does not match its record.
    cause = ending.cause()
    status = "interrupted" if ending.signum is not None and ending.timed_out is None else "failed"
    try:
        if run is not None and run.summary["status"] != "passed":
            summary = run.summary             # a whole record of a failed or interrupted run: it stands
            status = summary["status"]
        elif run is not None:                 # it said passed, but the worker did not end as it should
            summary = ended(run.summary, status, cause, ending.beat)
            write_summary(out.write_to / SUMMARY, summary)
        else:
            progress = out.load_progress()
            if progress is None or not progress["rows"]:    # it died before the record began
                out.discard()
                if status == "interrupted":
                    print(f"lockstep: {cause}; nothing written", file=sys.stderr)
                    return _exit_code(status, ending)
                print(f"lockstep: error: {cause}, before the first step; nothing written", file=sys.stderr)
                return 2
            summary = out.repair(progress, status, cause, ending.beat)
    except RecordWriteError as e:
        if out.staged:
            out.discard()
        print(f"lockstep: error: {cause}; the record could not be repaired: {e}", file=sys.stderr)
        return _exit_code("failed" if status == "passed" else status, ending)
    out.commit()
    print(f"lockstep: {cause}; the record holds {summary['steps']} steps: {out.path}", file=sys.stderr)
    return _exit_code(status, ending)


def _judge_audit(ending: Ending) -> int:
    if ending.clean:
        return ending.code
    if ending.signum is not None and ending.timed_out is None:
        print(f"lockstep: {ending.cause()}", file=sys.stderr)
        return _exit_code("interrupted", ending)
    print(f"lockstep: error: {ending.cause()}", file=sys.stderr)
    return 2

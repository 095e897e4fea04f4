"""Where a run is: its step, its phase and the call in progress, readable by the process watching it.

``current`` is updated by the run as it goes (``at`` at every step and phase, ``calling`` around
each call into a side, e.g. ``backward()``). In a library call it lives in memory and names the
place of a failure (``step 4 > backward()``). In the CLI's worker process (comparisons.cli.child)
it also writes each update into a small file the parent maps (``attach``): the parent reads it to
say where the worker was when it died or hung, and to enforce ``--timeout`` (``read``).

Cost (benchmarks/containment.py, docs/robustness.md): one update is one ``struct.pack_into`` into
the shared page, 1.1 us (``calling``) and 1.4 us (``at``), medians on the 2-core machine under load;
a lockstep step makes 4 updates (11 with a bring-your-own class, one per call), 4.5-12 us against
the ~4 ms of the cheapest step of docs/benchmarks.md: under 0.3%, below what a step-time
comparison can resolve (shared / in-memory heartbeat measured 0.93 and 1.02: noise).
"""
import mmap
import os
import struct
import tempfile
from typing import NamedTuple

from comparisons import interrupts

# progress (bumped by at(): --timeout measures the time between two), step, epoch, exit code
# (-1 while running; set by done()), phase, call: UTF-8, NUL-padded.
_LAYOUT = struct.Struct("<QqqqB31s96s")
SIZE = mmap.PAGESIZE
RUNNING = -1
PHASES = ("step", "train", "valid", "test")   # the phases of summary.json; others: startup, diagnosis, ...


class Beat(NamedTuple):
    progress: int
    step: int
    epoch: int
    exit_code: int       # RUNNING until the worker is about to exit with it
    phase: str
    call: str

    def place(self) -> str:
        """``step 4``, ``epoch 1 > valid``, ``startup``."""
        if self.phase == "step":
            return f"step {self.step}"
        if self.phase in PHASES:
            return f"epoch {self.epoch} > {self.phase}"
        return self.phase

    def where(self) -> str:
        """``step 4 > backward()``: the place and the call in progress."""
        return self.place() + (f" > {self.call}" if self.call else "")


class Heartbeat:
    def __init__(self, buffer: mmap.mmap | None = None):
        self._buffer = buffer
        self.progress, self.step, self.epoch, self.exit_code = 0, 0, 0, RUNNING
        self.phase, self.call = "startup", ""

    @property
    def beat(self) -> Beat:
        return Beat(self.progress, self.step, self.epoch, self.exit_code, self.phase, self.call)

    def at(self, phase: str, step: int = 0, epoch: int = 0) -> None:
        """A new step or phase: progress, for --timeout. A signal that user code swallowed
        (its ``except BaseException`` caught the interruption) is raised again here."""
        self.progress += 1
        self.phase, self.step, self.epoch, self.call = phase, step, epoch, ""
        self._publish()
        if interrupts.received and interrupts.pending() is not None:
            raise interrupts.Interrupted(interrupts.pending())

    def calling(self, call: str) -> None:
        """The call now in progress within the current step or phase."""
        self.call = call
        if self._buffer is not None:
            self._publish()

    def done(self, exit_code: int) -> None:
        """The worker is about to exit with ``exit_code`` of its own accord."""
        self.exit_code = exit_code
        self._publish()

    def place(self) -> str:
        return self.beat.place()

    def where(self) -> str:
        return self.beat.where()

    def _publish(self) -> None:
        if self._buffer is not None:
            _LAYOUT.pack_into(self._buffer, 0, self.progress, self.step, self.epoch, self.exit_code, 0,
                              self.phase.encode()[:31], self.call.encode()[:96])


current = Heartbeat()


def create() -> tuple[int, mmap.mmap]:
    """The parent's side: an unlinked temporary file (a file descriptor the worker inherits) and its map."""
    with tempfile.TemporaryFile(prefix="lockstep-heartbeat-") as f:
        fd = os.dup(f.fileno())
    try:
        os.write(fd, bytes(SIZE))     # allocated now: a full TMPDIR fails here, not as a SIGBUS in the worker
    except OSError:
        os.close(fd)
        raise
    buffer = mmap.mmap(fd, SIZE)
    Heartbeat(buffer)._publish()
    return fd, buffer


def attach(fd: int) -> Heartbeat:
    """The worker's side: map the parent's file and make it ``current``."""
    global current
    current = Heartbeat(mmap.mmap(fd, SIZE))
    os.close(fd)
    current._publish()
    return current


def read(buffer: mmap.mmap) -> Beat:
    """The worker's last beat. Read until two reads agree: a read racing a write could mix them."""
    raw = buffer[:_LAYOUT.size]
    while (again := buffer[:_LAYOUT.size]) != raw:
        raw = again
    progress, step, epoch, code, _, phase, call = _LAYOUT.unpack(raw)
    return Beat(progress, step, epoch, code, phase.rstrip(b"\0").decode(errors="replace"),
                call.rstrip(b"\0").decode(errors="replace"))

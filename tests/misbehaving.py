"""Bring-your-own classes whose code misbehaves, for the containment tests.

Loaded as ``--manual tests/misbehaving.py:Misbehaves``. The student's adapter of examples/, with
``backward()`` doing what ``LOCKSTEP_MISBEHAVE="WHAT@STEP"`` says at that step (step 0: the probe
before the run): exit0, exit3 (sys.exit), raise (RuntimeError: boom), memory (MemoryError),
os_exit (os._exit(0)), segfault (SIGSEGV), or hang (it first creates the file
``LOCKSTEP_MISBEHAVE_MARK`` names, if set, so a test knows the worker is hanging there).
``LOCKSTEP_MISBEHAVE_IMPORT=exit0`` calls sys.exit(0) while the module is imported.
"""
import itertools
import os
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
from student_adapter import Adapter  # noqa: E402

if os.environ.get("LOCKSTEP_MISBEHAVE_IMPORT") == "exit0":
    sys.exit(0)


class Misbehaves(Adapter):
    def __init__(self, sizes, config):
        super().__init__(sizes, config)
        what, _, step = os.environ.get("LOCKSTEP_MISBEHAVE", "none@0").partition("@")
        self.what, self.at = what, int(step)
        type(self).calls = itertools.count()    # on the class: the probe runs on a deep copy of the object

    def backward(self):
        step = next(type(self).calls)           # the first call is the probe's: step 0
        if step == self.at:
            misbehave(self.what)
        return super().backward()


def misbehave(what: str) -> None:
    if what == "exit0":
        sys.exit(0)
    if what == "exit3":
        sys.exit(3)
    if what == "raise":
        raise RuntimeError("boom")
    if what == "memory":
        raise MemoryError()
    if what == "os_exit":
        os._exit(0)
    if what == "segfault":
        os.kill(os.getpid(), signal.SIGSEGV)
    if what == "hang":
        if os.environ.get("LOCKSTEP_MISBEHAVE_MARK"):
            Path(os.environ["LOCKSTEP_MISBEHAVE_MARK"]).touch()
        time.sleep(3600)


class StepRaises(Adapter):
    """Its own step() raises: refused before the run (the probe calls step too)."""

    def step(self, grads):
        raise RuntimeError("step boom")


class HiddenVelocity(Adapter):
    """Its own step() with momentum it does not expose: it passes only if the probe's step left no
    trace (a velocity changed by the probe would make step 1 differ from torch)."""
    velocity = None


class CannotCopy(HiddenVelocity):
    """Cannot be deep-copied (it holds a module): the probe steps the object itself and restores its
    parameters. Its velocity is exposed, so that is restored too."""

    def __init__(self, sizes, config):
        super().__init__(sizes, config)
        self.module = os

    def velocity(self):
        return self.net.v

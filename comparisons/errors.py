"""The ways a run ends early, and the exit code each maps to (README, "Exit codes"); how a message names a
setting: as the command line's flag inside ``cli_words()`` (the ``lockstep`` command and its worker), as
the Python API's argument elsewhere."""
import contextlib

_CLI = False      # messages name --flags (set by comparisons.cli.main and .child while they run)


@contextlib.contextmanager
def cli_words():
    """Inside: ``setting`` names command-line flags; outside, the Python API's arguments."""
    global _CLI
    before, _CLI = _CLI, True
    try:
        yield
    finally:
        _CLI = before


def setting(name: str, value=None, quoted: bool = False) -> str:
    """A setting as the user gave it: ``--manual x.py:C`` on the command line, ``manual='x.py:C'`` from
    Python (``quoted``: the flag's value in quotes too); without a value, the name alone."""
    if _CLI:
        flag = "--" + name.replace("_", "-")
        return flag if value is None else f"{flag} {value!r}" if quoted else f"{flag} {value}"
    return name if value is None else f"{name}={value!r}"


def spoken(cli: str, python: str) -> str:
    """What to tell the user to do: the command line's words inside ``cli_words()``, the Python API's outside
    (a report rendered from a notebook names ``comparisons.audit(...)``, not ``lockstep audit``)."""
    return cli if _CLI else python


class InputError(Exception):
    """Bad input or usage: wrong shapes, NaN in data, unknown options, unwritable paths.

    The CLI prints its message as one line and exits 2.
    """


class UserCodeError(InputError):
    """A bring-your-own class's code raised (or called ``sys.exit``) inside one of its methods.

    Before the first step this is bad input (an InputError: exit 2, nothing written). Once the
    run has started, ``run()`` catches it and ends the run as failed (exit 1), its first failure
    naming the step and the call: ``step 4 > backward(): RuntimeError: boom``.
    """

    def __init__(self, cls_name: str, method: str, error: BaseException):
        self.call = f"{method}(): {describe(error)}"       # the run's message: the step is put before it
        super().__init__(f"{cls_name}.{method}() failed: {describe(error)}")


class RecordWriteError(InputError):
    """steps.csv, summary.json or diagnosis.txt could not be written (disk full, permission lost).

    Before a run starts this is bad input (exit 2, nothing written). During a run the record is
    cut back to its last whole step, the summary written if it can be, and the run exits 1.
    """


class NonFiniteError(Exception):
    """A loss or tensor turned NaN/Inf during the run. The CLI exits 1. ``where``: (step, epoch, phase)
    of the row that held it."""

    def __init__(self, message: str, where: tuple | None = None):
        super().__init__(message)
        self.where = where


def describe(error: BaseException) -> str:
    """One line for an exception raised by user code: ``RuntimeError: boom``, ``called sys.exit(3)``."""
    if isinstance(error, SystemExit):
        return f"called sys.exit({error.code!r})"
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__

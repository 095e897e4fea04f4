"""SIGINT, SIGTERM and SIGHUP end a run as an interruption: a whole record, one line, exit 128 + signal.

The CLI's worker process (comparisons.cli.child) calls ``install()`` first thing, so a signal
during the imports, the training, the diagnosis or the writing of the summary is an interruption
too. The first signal raises ``Interrupted`` (a KeyboardInterrupt, which ``except Exception`` in
user code does not swallow) where the process is; signals after it are only recorded, so the
cleanup they would interrupt finishes. ``defer()`` does the same for any signal while the
record is being written, also inside a library call of ``comparisons.run`` (where a SIGINT
makes the result "interrupted", as Ctrl-C during training does, and any other signal is
re-raised to the caller's own handler once the record is whole).
"""
import signal
import threading

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGHUP: 129}   # 128 + signal number, as shells do


class Interrupted(KeyboardInterrupt):
    """Raised by ``install()``'s handler: the run was asked to stop by ``signum``."""

    def __init__(self, signum: int):
        super().__init__(name(signum))
        self.signum = signum


received: list[int] = []     # every signal this process was sent since install() (or inside deferred())
_state = {"deferring": False}


def name(signum: int) -> str:
    return signal.Signals(signum).name


def signal_of(error: BaseException) -> int:
    """The signal behind a KeyboardInterrupt (a plain one is Ctrl-C: SIGINT)."""
    return getattr(error, "signum", signal.SIGINT)


def exit_code() -> int:
    """130, 143 or 129 for the first signal received (130 when none was: a plain KeyboardInterrupt)."""
    return EXIT_CODES[received[0]] if received else EXIT_CODES[signal.SIGINT]


def raise_interrupted(signum, frame):
    """A handler that ends what runs as an interruption (the CLI's parent, before and after its worker)."""
    raise Interrupted(signum)


def one_line(error: BaseException) -> int:
    """Say an interruption in one line on stderr; its exit code (130, 143, 129)."""
    import sys
    print(f"lockstep: interrupted by {name(signal_of(error))}", file=sys.stderr)
    return EXIT_CODES[signal_of(error)]


def _handler(signum, frame):
    received.append(signum)
    if len(received) == 1 and not _state["deferring"]:
        raise Interrupted(signum)


def install() -> None:
    """Route SIGINT, SIGTERM and SIGHUP to ``_handler`` (the worker process does this first)."""
    for s in SIGNALS:
        signal.signal(s, _handler)


def pending() -> int | None:
    """A signal received but swallowed (user code caught the KeyboardInterrupt), or None."""
    return received[0] if received and not _state["deferring"] else None


class Deferral:
    """Signals held back while the record is written: ``defer()`` starts it, ``resume()`` ends it."""

    def __init__(self):
        self.mark, self.saved = len(received), {}

    def late(self) -> bool:
        """Did a signal arrive since ``defer()``?"""
        return len(received) > self.mark


def defer() -> Deferral:
    """From now on SIGINT/SIGTERM/SIGHUP are recorded instead of raised: the record being written is
    finished first. Handlers can only be set in the main thread; elsewhere signals keep theirs.

    Call it as the last statement of the ``try`` whose ``except KeyboardInterrupt`` handles an
    interruption (and again in that handler): a signal that arrives before it takes effect is then
    caught there, so there is no moment at which a signal escapes the cleanup."""
    d = Deferral()
    if threading.current_thread() is threading.main_thread():
        for s in SIGNALS:
            if signal.getsignal(s) is not _handler:
                d.saved[s] = signal.getsignal(s)
                signal.signal(s, _handler)
    _state["deferring"] = True
    return d


def resume(d: Deferral) -> None:
    """End a deferral. In a library call (handlers were not ours) the caller's handlers come back,
    and a signal that arrived meanwhile is passed on to them, except SIGINT to Python's default
    handler: its effect, a KeyboardInterrupt, is what the run has already recorded."""
    _state["deferring"] = False
    if not d.saved:
        return
    for s, handler in d.saved.items():
        signal.signal(s, handler)
    late = received[d.mark:]
    del received[d.mark:]
    for s in dict.fromkeys(late):
        if s in d.saved and d.saved[s] is not signal.default_int_handler:
            signal.raise_signal(s)

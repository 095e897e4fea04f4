"""The command line: ``lockstep run | audit | layers | report | compare`` (comparisons.cli.main).

This file imports nothing: the worker process (comparisons.cli.child) installs its signal
handlers before anything heavy loads, and ``entry`` (the console script) does the same, so a
Ctrl-C or a SIGTERM during the imports is one line and an interruption's exit code too.
"""


def entry(argv=None) -> int:
    """The ``lockstep`` console script (pyproject names it ``comparisons.cli:main``)."""
    import signal

    from comparisons import interrupts

    saved = {s: signal.signal(s, interrupts.raise_interrupted) for s in interrupts.SIGNALS}
    try:
        from comparisons.cli.main import main
        return main(argv)
    except KeyboardInterrupt as e:
        return interrupts.one_line(e)
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)


def __getattr__(name):
    if name == "main":       # the console script's ``from comparisons.cli import main``
        return entry
    raise AttributeError(f"module 'comparisons.cli' has no attribute {name!r}")

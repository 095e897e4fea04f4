"""The two ways a run ends early, and the exit code each maps to."""


class InputError(Exception):
    """Bad input or usage: wrong shapes, NaN in data, unknown options, unwritable paths.

    The CLI prints its message as one line and exits 2.
    """


class NonFiniteError(Exception):
    """A loss or tensor turned NaN/Inf during the run. The CLI exits 1."""

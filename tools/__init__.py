"""Developer tools run from the checkout (``python -m tools.NAME``); not part of the package."""

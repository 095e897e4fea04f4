"""The command line: ``lockstep run | audit | report | compare`` (comparisons.cli.main)."""
from comparisons.cli.main import main

__all__ = ["main"]

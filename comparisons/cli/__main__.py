import sys

from comparisons.cli import entry

sys.exit(entry())

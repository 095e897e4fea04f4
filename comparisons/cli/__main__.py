import sys

from comparisons.cli.main import main

sys.exit(main())

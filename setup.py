"""The one compiled part: comparisons/_walk.c, the comparison's one-pass walk.

optional=True: where it cannot be built (no C compiler), the install goes on
and comparisons/metrics.py uses its NumPy walk (same results, ~2x slower).
Everything else about the package is in pyproject.toml.
"""
from setuptools import Extension, setup

FLAGS = [   # vectorise the block loop (reassociated sums, max without NaN rules); same d in both loops
    "-O3", "-fno-math-errno", "-fno-trapping-math", "-fassociative-math", "-fno-signed-zeros",
    "-ffinite-math-only", "-ffp-contract=off",
]

setup(ext_modules=[Extension("comparisons._walk", ["comparisons/_walk.c"], extra_compile_args=FLAGS,
                             optional=True)])

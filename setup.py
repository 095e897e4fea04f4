"""The one compiled part: comparisons/check/_walk.c, the comparison's one-pass walk.

optional=True: where it cannot be built (no C compiler), the install goes on
and comparisons/check/metrics.py uses its NumPy walk (same results to rounding,
~1.5x the comparison's cost). Everything else about the package is in
pyproject.toml.
"""
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

GCC_FLAGS = [   # vectorise the block sums (reassociated); compute d the same way in both loops
    "-O3", "-fno-math-errno", "-fno-trapping-math", "-fassociative-math", "-fno-signed-zeros",
    "-ffp-contract=off",
]
MSVC_FLAGS = ["/O2", "/fp:precise"]     # precise: no contraction of m - s * r into an FMA


class BuildExt(build_ext):
    """The flags of the compiler at hand (GCC and clang take the same ones)."""

    def build_extensions(self):
        flags = MSVC_FLAGS if self.compiler.compiler_type == "msvc" else GCC_FLAGS
        for ext in self.extensions:
            ext.extra_compile_args = flags
        super().build_extensions()


setup(ext_modules=[Extension("comparisons.check._walk", ["comparisons/check/_walk.c"], optional=True)],
      cmdclass={"build_ext": BuildExt})

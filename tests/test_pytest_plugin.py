"""The pytest plugin in a fresh project: the fixture comes from the pytest11 entry point, and
assert_lockstep fails like assert_close, naming the run directory, its CSV and its report."""
import subprocess
import sys

import pytest

pytest_plugins = ["pytester"]

USER_TESTS = '''
import manual
from comparisons.data.builtin import synthetic
from comparisons.pytest_plugin import assert_lockstep

DATA = synthetic(seed=0, sizes=(300, 100, 100))
SMALL = dict(hidden=(16,), epochs=1, batch_size=100, lr=0.05)


class ForgetsOneOverN(manual.CrossEntropy):
    def backward(self):
        return super().backward() * len(self.y)


def test_my_backprop_matches_torch(lockstep_run):
    assert_lockstep(lockstep_run(data=DATA, dtype="float64", mode="synced", **SMALL))


def test_a_run_directory_can_be_gated_too(lockstep_run):
    first, second = lockstep_run(data=DATA, **SMALL), lockstep_run(data=DATA, **SMALL)
    assert (first.out.name, second.out.name) == ("lockstep-1", "lockstep-2")
    assert_lockstep(str(second.out))


def test_my_broken_backprop(lockstep_run):
    assert_lockstep(lockstep_run(data=DATA, manual_loss=ForgetsOneOverN(), **SMALL))
'''


def test_plugin_gates_a_fresh_project(pytester):
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines([
        "*AssertionError: Lockstep sides are not close!",
        "*step 1 > dx > loss: rel_l2 9.9e+01 from the float64 referee (allowed *), * elements differ, greatest abs diff *",
        "*Diagnosis:",
        "*backward > loss > dL/dscores: a constant factor: manual = 100 × reference (= N = 100, the batch size)*",
        "*Run directory: */test_my_broken_backprop0/lockstep-1",
        "*  record: */lockstep-1/steps.csv",
        "*  report: */lockstep-1/report.html",
    ])
    assert "def assert_lockstep" not in result.stdout.str()       # the helper's own frame is hidden
    [report] = pytester.path.parent.glob("**/test_my_broken_backprop0/lockstep-1/report.html")
    assert "FAILED: step 1 &gt; dx &gt; loss" in report.read_text()


def test_the_fixture_comes_from_the_entry_point(pytester):
    pytester.makepyfile(test_user="def test_uses_it(lockstep_run):\n    pass\n")
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
    disabled = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:lockstep")
    disabled.assert_outcomes(errors=1)
    disabled.stdout.fnmatch_lines(["*fixture 'lockstep_run' not found*"])


def test_loading_the_plugin_imports_nothing_heavy():
    code = ("import sys, comparisons.pytest_plugin; "
            "print(sorted(m for m in ('torch', 'pandas', 'matplotlib', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_course_repo_runs_its_lockstep_tests_from_its_root(pytester):
    """A course keeps the adapter beside its test, in a subfolder, and runs pytest from the repository's
    root: manual="adapter.py:Adapter" is found beside the test file, and hidden=16 reads as the CLI's."""
    from pathlib import Path
    examples = Path(__file__).resolve().parents[1] / "examples"
    tests = pytester.mkdir("course").joinpath("tests")
    tests.mkdir()
    tests.joinpath("student_mlp.py").write_text((examples / "student_mlp.py").read_text())
    tests.joinpath("adapter.py").write_text((examples / "student_adapter.py").read_text())
    tests.joinpath("test_backprop.py").write_text(
        "from comparisons.data.builtin import synthetic\n"
        "from comparisons.pytest_plugin import assert_lockstep\n\n\n"
        "def test_backprop(lockstep_run):\n"
        "    result = lockstep_run(data=synthetic(seed=0, sizes=(200, 50, 50)), manual='adapter.py:Adapter',\n"
        "                          hidden=16, epochs=1, lr=0.05, dtype='float64', mode='synced')\n"
        "    assert_lockstep(result)\n\n\n"
        "def test_a_misspelt_field_names_the_fields(lockstep_run):\n"
        "    import pytest\n"
        "    with pytest.raises(TypeError, match=\"unknown field 'hiden'; the fields are\"):\n"
        "        lockstep_run(hiden=16)\n")
    result = pytester.runpytest("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=2)

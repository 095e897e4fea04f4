"""README transcripts that cannot rot: each printed output in README.md is marked

    <!-- transcript: NAME -->
    ```
    ...what the program prints...
    ```

and NAME is one entry of TRANSCRIPTS below: how to make that output again. This checks each block
against a fresh run, ignoring only timing figures (``12.5 s``), or rewrites it:

    python -m tools.readme_transcripts                  # check every block (exit 1 on a difference)
    python -m tools.readme_transcripts --fast           # the short ones only (what the normal suite checks)
    python -m tools.readme_transcripts --write NAME     # rewrite block NAME (repeatable; ALL: every block)

tests/test_readme.py checks them: make-run under @pytest.mark.slow (~1 min), the others in the suite.
Outputs are made in a scratch folder; a run directory's temporary path is shown as the README's.
"""
import argparse
import difflib
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
MARKER = re.compile(r"^<!-- transcript: ([a-z0-9-]+) -->$")
TIMING = re.compile(r"\b\d+(?:\.\d+)? s\b")       # "12.5 s", "600 s"; not "600 steps"
# where assert_lockstep's run directory is shown (pytest's tmp_path on a user's machine)
SHOWN_RUN_PARENT = "/tmp/pytest-of-me/pytest-3/test_my_backprop0"


@dataclass(frozen=True)
class Transcript:
    name: str
    make: Callable[[Path], str]     # the block's text, made with a scratch folder
    slow: bool = False


# The libraries' default thread counts, whatever the caller's environment says: torch's float32 reductions
# round differently on one thread than on two (`lockstep layers`' worst layernorm rel_l2 read 1.9e-07 with
# OMP_NUM_THREADS=1, 2.3e-07 by default on this 2-core machine).
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def _lockstep(*args: str, cwd: Path) -> str:
    """What ``lockstep ARGS`` prints on stdout (the progress bar goes to stderr, and is off without a tty)."""
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}
    done = subprocess.run([sys.executable, "-m", "comparisons.cli", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=1800, env=env)
    if done.returncode not in (0, 1):
        raise RuntimeError(f"lockstep {' '.join(args)} exited {done.returncode}: {done.stderr.strip()}")
    return done.stdout


def _make_run(work: Path) -> str:
    """`make run`: the Makefile's own command, in a scratch folder (the record line names runs/demo)."""
    return _lockstep("run", "--out", "runs/demo", "--overwrite", cwd=work)


def _layers(work: Path) -> str:
    command = ("layers", "examples/cs231n_layers/layers_slips.py")
    return f"$ lockstep {' '.join(command)}\n" + _lockstep(*command, cwd=ROOT)


def _slip_run(work: Path):
    """The default config with a loss gradient that forgot the 1/N of the mean (tests/tiny_runs.py), stopped
    at its first failure; the run directory is work/lockstep-1 (as the pytest fixture names its first)."""
    out = work / "lockstep-1"
    if (out / "summary.json").is_file():
        from comparisons.record.rundir import load_run
        return load_run(out).summary, out
    if str(ROOT / "tests") not in sys.path:
        sys.path.insert(0, str(ROOT / "tests"))
    from tiny_runs import ForgetsOneOverN

    from comparisons import Config, run
    result = run(Config(fail_fast=True), out=out, manual_loss=ForgetsOneOverN())
    return result.summary, out


def _first_failure(work: Path) -> str:
    return _slip_run(work)[0]["first_failure"]["message"]


def _assert_lockstep(work: Path) -> str:
    """assert_lockstep's message for the slip, the run directory shown as under pytest's tmp_path."""
    from comparisons.pytest_plugin import assert_lockstep
    _, out = _slip_run(work)
    try:
        assert_lockstep(out)
    except AssertionError as e:
        return f"AssertionError: {e}".replace(str(out.parent), SHOWN_RUN_PARENT)
    raise RuntimeError("assert_lockstep passed a run with a slip")


TRANSCRIPTS = {t.name: t for t in (
    Transcript("make-run", _make_run, slow=True),
    Transcript("first-failure", _first_failure),
    Transcript("assert-lockstep", _assert_lockstep),
    Transcript("layers", _layers),
)}


def blocks(text: str) -> dict[str, tuple[int, int]]:
    """NAME -> (first, end) line indices of the marked block's content (between its fences)."""
    lines, found = text.split("\n"), {}
    for i, line in enumerate(lines):
        match = MARKER.match(line.strip())
        if not match:
            continue
        name = match.group(1)
        if name in found:
            raise ValueError(f"README.md line {i + 1}: transcript {name} is marked twice")
        if i + 1 >= len(lines) or not lines[i + 1].startswith("```"):
            raise ValueError(f"README.md line {i + 1}: transcript {name}: no ``` block on the next line")
        end = next((j for j in range(i + 2, len(lines)) if lines[j].startswith("```")), None)
        if end is None:
            raise ValueError(f"README.md line {i + 1}: transcript {name}: its ``` block is not closed")
        found[name] = (i + 2, end)
    return found


def normalised(text: str) -> str:
    """The text as compared: timing figures as ``N s``, no trailing spaces, no blank lines around it."""
    return "\n".join(TIMING.sub("N s", line).rstrip() for line in text.strip("\n").split("\n"))


def shown(name: str, text: str | None = None) -> str:
    """Block NAME's content as the README has it."""
    text = README.read_text() if text is None else text
    first, end = blocks(text)[name]
    return "\n".join(text.split("\n")[first:end])


def difference(name: str, work: Path) -> str:
    """"" when block NAME matches a fresh run made in ``work``; else a unified diff (README -> program)."""
    made, have = normalised(TRANSCRIPTS[name].make(work)), normalised(shown(name))
    if made == have:
        return ""
    return "\n".join(difflib.unified_diff(have.split("\n"), made.split("\n"), f"README.md ({name})",
                                          "the program now", lineterm=""))


def write(name: str, work: Path) -> None:
    """Replace block NAME's content with a fresh run's output (timings as measured)."""
    text = README.read_text()
    first, end = blocks(text)[name]
    lines = text.split("\n")
    lines[first:end] = [line.rstrip() for line in TRANSCRIPTS[name].make(work).strip("\n").split("\n")]
    README.write_text("\n".join(lines))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.readme_transcripts", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="append", metavar="NAME", choices=[*TRANSCRIPTS, "ALL"],
                        help="rewrite this block from a fresh run (ALL: every block)")
    parser.add_argument("--fast", action="store_true", help="check the short transcripts only")
    args = parser.parse_args(argv)
    marked = set(blocks(README.read_text()))
    unknown, unmarked = marked - set(TRANSCRIPTS), set(TRANSCRIPTS) - marked
    if unknown or unmarked:
        print(f"README.md: transcripts marked but unknown: {sorted(unknown)}; known but unmarked: "
              f"{sorted(unmarked)}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as work:
        if args.write:
            for name in TRANSCRIPTS if "ALL" in args.write else args.write:
                write(name, Path(work))
                print(f"README.md: transcript {name} rewritten")
            return 0
        failed = 0
        for name, transcript in TRANSCRIPTS.items():
            if args.fast and transcript.slow:
                continue
            diff = difference(name, Path(work))
            print(f"{name}: {'differs' if diff else 'matches'}")
            if diff:
                print(diff)
                failed = 1
        return failed


if __name__ == "__main__":
    sys.exit(main())

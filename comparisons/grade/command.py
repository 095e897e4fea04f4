"""``lockstep grade``: the command line (flags, validation of the class's input, the run, the summary).

Exit 0 when every submission has a result, whatever it is; 2 on bad input for the class (one line:
a submissions folder that is missing or empty, an adapter that does not load, a checks TOML that is
wrong, a scheduler that does not answer, an output folder holding something else or in use);
130/143/129 when interrupted (every submission finished before that keeps its result).
"""
import argparse
import ast
import hashlib
import subprocess
import sys
import time
from pathlib import Path

from comparisons.errors import InputError

DEFAULT_TIMEOUT = 600.0   # seconds per submission (all its checks): the default; the sample class's
                          # slowest honest submission took 22 s at load 4 on 2 cores (docs/grade.md)
DEFAULT_MEMORY = 2048     # MB a submission may map beyond the warm worker's ~0.75 GB (torch, the data): the
                          # sample class's runs need < 100 MB; 2 GB keeps N=2 workers' children within a
                          # laptop's memory while a hog is stopped in seconds
ADAPTER_SECONDS = 120.0   # importing the adapter once, up front (torch and lockstep: ~3 s on a quiet core)
EXAMPLES = """examples:
  python examples/grade_class/make_class.py runs/class               a sample class of 24 submissions
  lockstep grade runs/class --adapter examples/grade_class/course_adapter.py:Adapter \\
      --checks examples/grade_class/checks.toml --out runs/graded     on a local Dask cluster of 2 workers
  lockstep grade runs/class --adapter ... --out runs/graded --scheduler tcp://10.0.0.5:8786   a running cluster
  lockstep grade gradescope_export/ --adapter course_adapter.py:Adapter --out graded --workers 8 --timeout 120

exit codes: 0 every submission has a result (DIR/class.csv, DIR/class.html, DIR/submissions/<submission>/result.json,
results.json for Gradescope); 2 bad input for the class (one line; a bad submission is a result, not bad
input); 130/143/129 interrupted (finished submissions keep their results; run again to go on)."""


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if not 1 <= value <= 4096:
        raise argparse.ArgumentTypeError(f"must be between 1 and 4096, got {text!r}")
    return value


def _megabytes(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of MB, got {text!r}") from None
    if not 16 <= value <= 2**30:
        raise argparse.ArgumentTypeError(f"must be between 16 MB and 1 PB, got {text!r}")
    return value


def add_parser(sub, seconds) -> None:
    g = sub.add_parser("grade", help="grade a class of submissions (each isolated) on Dask, with a class report",
                       description="Check every submission in SUBMISSIONS (one folder or .py file each, or "
                                   "Gradescope's <name>/submission/ folders) through the course's one ADAPTER, on "
                                   "the checks of --checks (default: the audit, a one-epoch float64 synced run and "
                                   "a float32 free run of the assignment preset). Each submission runs in its own "
                                   "process, forked from a warm Dask worker, in a temporary copy of its folder "
                                   "(first on sys.path), with a scrubbed environment and time and memory limits. "
                                   "Not a security sandbox: see docs/grade.md.",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    g.add_argument("submissions", metavar="SUBMISSIONS", help="the folder of submissions")
    g.add_argument("--adapter", required=True, metavar="FILE.py:Class",
                   help="the course's adapter (comparisons/sides/byo.py's protocol); it imports the student's "
                        "module by its plain name (from starter import Network)")
    g.add_argument("--out", required=True, metavar="DIR",
                   help="DIR/submissions/<submission>/ per submission, DIR/class.csv, class.md, class.html; run again to "
                        "resume (what is done and unchanged is skipped)")
    g.add_argument("--checks", metavar="CHECKS.toml", help="the checks (docs/grade.md); default: the three above")
    g.add_argument("--workers", type=_positive_int, default=2,
                   help="worker processes of the local Dask cluster (default 2; ignored with --scheduler)")
    g.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                   help="use a running Dask scheduler (its workers need lockstep and the same paths)")
    g.add_argument("--timeout", type=seconds, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                   help=f"wall time one submission may take, all its checks (default {DEFAULT_TIMEOUT:g})")
    g.add_argument("--memory", type=_megabytes, default=DEFAULT_MEMORY, metavar="MB",
                   help=f"memory one submission may allocate beyond the warm worker's (default {DEFAULT_MEMORY})")
    g.add_argument("--quiet", action="store_true", help="no progress bar, no Dask log lines; only the closing line")


def adapter_digest(spec: str) -> str:
    """InputError unless ``spec`` is FILE.py:Class with Class defined in FILE (without importing it: it imports
    a submission's module); the hash of the file."""
    path, sep, name = spec.rpartition(":")
    if not sep or not path.endswith(".py") or not name.isidentifier():
        raise InputError(f"--adapter {spec!r}: expected FILE.py:Class")
    try:
        source = Path(path).read_bytes()
    except OSError as e:
        raise InputError(f"--adapter {spec}: cannot read {path}: {e.strerror}") from None
    try:
        tree = ast.parse(source, filename=path)
    except (SyntaxError, ValueError) as e:
        raise InputError(f"--adapter {spec}: {path} does not parse: {e}") from None
    if not any(isinstance(n, ast.ClassDef) and n.name == name for n in tree.body):
        raise InputError(f"--adapter {spec}: {path} defines no class {name}")
    return hashlib.sha256(source).hexdigest()


_IMPORT = """import importlib.util, sys
path = sys.argv[1]
sys.path.insert(0, sys.argv[2])
spec = importlib.util.spec_from_file_location("lockstep_course_adapter", path)
try:
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
    print("LOCKSTEP-ADAPTER ok")
except ModuleNotFoundError as e:
    print("LOCKSTEP-ADAPTER missing", e.name or "", "|", str(e).splitlines()[0][:300] if str(e) else "")
except BaseException as e:
    print("LOCKSTEP-ADAPTER error", f"{type(e).__name__}: {e}".splitlines()[0][:300])
"""


def adapter_imports(spec: str, provided: set[str]) -> None:
    """InputError, one line, unless the adapter's file imports in a fresh interpreter, but for the modules the
    submissions provide (``provided``: their top-level module names; the adapter imports the student's by
    its plain name, which no submission is there to provide)."""
    path = Path(spec.rpartition(":")[0]).resolve()
    try:
        done = subprocess.run([sys.executable, "-c", _IMPORT, str(path), str(path.parent)], capture_output=True,
                              text=True, timeout=ADAPTER_SECONDS, cwd=path.parent, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise InputError(f"--adapter {spec}: importing {path.name} takes longer than {ADAPTER_SECONDS:g} s") from None
    said = next((line.split(" ", 1)[1] for line in reversed(done.stdout.splitlines())
                 if line.startswith("LOCKSTEP-ADAPTER ")), None)
    if said == "ok":
        return
    if said is not None and said.startswith("missing "):
        name, _, message = said[len("missing "):].partition(" | ")
        if name.split(".")[0] in provided:
            return                                  # the student's module: each submission brings its own
        raise InputError(f"--adapter {spec}: importing {path.name} fails: {message or 'ModuleNotFoundError'}")
    if said is not None:
        raise InputError(f"--adapter {spec}: importing {path.name} fails: {said[len('error '):]}")
    last = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1][:300]
    raise InputError(f"--adapter {spec}: importing {path.name} ends the interpreter: {last}")


def provided_modules(subs, module: str) -> set[str]:
    """The top-level module names the submissions bring (their .py files and folders), and the checks' module."""
    names = {module} if module else set()
    for s in subs:
        if s.file is not None:
            names.add(Path(s.file).stem)
            continue
        try:
            names |= {e.stem if e.suffix == ".py" else e.name for e in Path(s.path).iterdir()
                      if e.suffix == ".py" or e.is_dir()}
        except OSError:
            pass
    return names


def grade_command(args) -> int:
    from comparisons.grade import checks as grade_checks, discover, engine, results
    from comparisons.record.outdir import _lock, _release

    layout, subs = discover.discover(args.submissions)
    adapter_hash = adapter_digest(args.adapter)
    adapter = f"{Path(args.adapter.rpartition(':')[0]).resolve()}:{args.adapter.rpartition(':')[2]}"
    checks = grade_checks.load_checks(args.checks, adapter)
    if args.scheduler:
        engine.probe(args.scheduler)
        engine.hello(args.scheduler)      # before --out is claimed
    out = Path(args.out)
    if not str(args.out).strip():
        raise InputError("--out is empty: name the folder for the class's results")
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is not a folder")
    if out.resolve().is_relative_to(Path(args.submissions).resolve()):
        raise InputError(f"--out {out} is inside SUBMISSIONS: the next grade would take it for a submission")
    adapter_imports(adapter, provided_modules(subs, checks.module))
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"--out {out}: {e.strerror}") from None
    lock = _lock(out)
    try:
        results.claim(out, Path(args.submissions), adapter)
        return _grade(args, out, layout, subs, checks, adapter, adapter_hash)
    finally:
        _release(out, lock, created=False)


def plan(out: Path, layout: str, subs, checks, adapter: str, adapter_hash: str, timeout: float,
         memory_mb: float) -> tuple[dict, list[dict]]:
    """({name: result} of the submissions done and unchanged, [job] for the others): what ``grade`` will do.
    A kept result whose checks' points or visibility changed is rescored and written again."""
    from comparisons.grade import results
    check_jobs = [{"name": c.name, "kind": c.kind, "seed": c.seed, "points": c.points, "visibility": c.visibility,
                   "config": c.config(adapter, checks.preset).__dict__ if c.kind == "run" else {}}
                  for c in checks.checks]
    data_specs = checks.data_specs(adapter)
    checks_hash = checks.digest()
    done, jobs = {}, []
    for s in subs:
        k = results.key(s.digest(), checks_hash, adapter_hash)
        old = results.load(results.folder(out, s.name))
        if old is not None and old.get("key") == k and not results.redo(old, timeout, memory_mb):
            done[s.name] = results.rescore(old, check_jobs)
            if done[s.name] != old:                 # the checks' points or visibility changed
                try:
                    results.write(results.folder(out, s.name), done[s.name])
                except (OSError, InputError):
                    pass                            # the report has the new scores; the next grade writes them
            continue
        jobs.append({"name": s.name, "who": s.who, "layout": layout, "path": s.path, "file": s.file,
                     "module": checks.module, "adapter": adapter, "checks": check_jobs, "key": k,
                     "out": str(results.folder(out, s.name).resolve()), "timeout": timeout, "memory_mb": memory_mb,
                     "data_specs": data_specs})
    return done, jobs


def _grade(args, out, layout, subs, checks, adapter, adapter_hash) -> int:
    from comparisons.grade import engine, report, results
    start = time.monotonic()
    done, jobs = plan(out, layout, subs, checks, adapter, adapter_hash, args.timeout, args.memory)
    skipped = len(done)

    def on_done(job, outcome):
        done[job["name"]] = results.record(results.folder(out, job["name"]), job, outcome, adapter)

    if jobs:
        with engine.client(args.workers, args.scheduler, quiet=args.quiet) as c:
            engine.run_all(c, jobs, checks.data_specs(adapter), on_done, progress=not args.quiet)
    ordered = [done[s.name] for s in subs]
    paths = report.write(out, ordered)
    print(f"graded {len(jobs)} submissions ({skipped} unchanged, kept) in {time.monotonic() - start:.0f} s: "
          f"{report.headline(ordered)}; report: {paths[2]}", file=sys.stderr if args.quiet else sys.stdout)
    return 0

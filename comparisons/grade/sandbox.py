"""One submission, checked in a child process forked from a warm worker.

A Dask worker imports torch and lockstep and loads the checks' data once (``prepare``); for each
submission it forks a child (``grade``), so a submission costs a fork, not a fresh interpreter
importing torch (seconds). The child:

- starts its own process group (the wall-time kill takes whatever it started too);
- works in a temporary copy of the submission, which is first on ``sys.path`` (the course
  adapter's ``from starter import Network`` imports this student's file);
- has a scrubbed environment (PATH, HOME and TMPDIR in the copy, the thread settings; nothing
  else of the worker's: no tokens, no cluster addresses);
- may write only under its copy, its checks' folder (DIR/submissions/<submission>/checks/) and /dev,
  where the kernel has Landlock (Linux >= 5.13); reading stays allowed everywhere;
- runs under RLIMIT_AS (``--memory`` MB beyond what the warm worker has mapped: an allocation past
  it fails as MemoryError), RLIMIT_CPU (``--timeout``), RLIMIT_FSIZE (FILE_MB per file), no core files;
- writes each check's outcome as a line of JSON when it ends (``events.jsonl``), its own and the
  student's output into ``output.log``, and leaves with ``os._exit``.

The worker kills the group when ``--timeout`` (wall time) passes and judges how the child ended.
This contains mistakes (a crash, a hang, a memory hog, ``sys.exit``, an import error), not an
attacker: the child runs as the worker's user, can read what that user can and, without Landlock,
write there too; and the submission's code runs in the same process as the checks that judge it, so
it can forge its own result (e.g. write "passed" lines into the open events file). For hostile code
see docs/grade.md.
"""
import json
import os
import resource
import shutil
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path

VERDICTS = ("passed", "failed", "error", "out of memory", "crashed", "timed out", "not run")
POLL_SECONDS = 0.02     # how often the worker looks at its child: a submission's overhead includes half of it
KEEP_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OPENBLAS_THREAD_TIMEOUT",
            "GOMP_SPINCOUNT", "LANG", "LC_ALL")
EVENTS, OUTPUT = "events.jsonl", "output.log"
CHECKS = "checks"       # DIR/submissions/<submission>/checks/<check>/: each check's record, the only part of the
                        # submission's folder the child may write (with Landlock): lockstep's files beside it are safe
FILE_MB = 32            # the largest file a child may write (RLIMIT_FSIZE, one limit for every file of the process,
                        # output.log included): a print loop fails with "File too large" at 32 MB instead of filling
                        # the disk (a class of 300 print loops: < 10 GB). The sample class's largest record file is
                        # 0.55 MB (steps.csv of 120 steps, 4.6 kB a step), the default config's 600 steps ~3 MB:
                        # 32 MB leaves a check ~7000 steps (longer checks need a larger FILE_MB)
OOM_TEXT = ("MemoryError", "can't allocate memory", "Cannot allocate memory", "not enough memory")

_data: dict = {}        # data spec -> Dataset, loaded once per worker
_swept: list = []       # whether this worker has removed the temporary copies of workers that are gone
TMP_PREFIX = "lockstep-grade-"   # + "<pid>@<host>-": a copy whose worker (on this host) has ended is stale


def sweep() -> int:
    """Remove the temporary copies left by workers of this host that have ended (killed before their
    ``finally``); how many. Another host's (a /tmp shared between containers) are left alone."""
    removed = 0
    for path in Path(tempfile.gettempdir()).glob(f"{TMP_PREFIX}*@*-*"):
        pid, _, rest = path.name[len(TMP_PREFIX):].partition("@")
        if pid.isdigit() and rest.startswith(f"{_host()}-") and not _alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)
            removed += 1
    return removed


def _host() -> str:
    import socket
    return socket.gethostname().replace("/", "_")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):
        return True            # another user's, or not ours to judge
    return True


def prepare(data_specs: list[str]) -> dict:
    """Load what every child needs, once per worker: torch, lockstep's run and audit, the data."""
    import comparisons   # noqa: F401 - first: it sets the thread settings before torch loads
    import torch
    torch.set_num_threads(1)
    import threading

    from tqdm.auto import tqdm
    tqdm.set_lock(threading.RLock())   # not its default multiprocessing lock: a semaphore made in a child (which
                                       # leaves by os._exit) or a worker killed by Ctrl-C would be reported as
                                       # leaked by multiprocessing's resource tracker at the end of the grade
    from comparisons.data import load_data
    from comparisons.explain import audit  # noqa: F401
    from comparisons import lockstep       # noqa: F401
    for spec in data_specs:
        if spec not in _data:
            _data[spec] = load_data(spec)
    if not _swept:
        _swept.append(sweep())
    return {"pid": os.getpid(), "rss_mb": _rss_mb()}


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _mapped_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def grade(job: dict) -> dict:
    """Check one submission in a forked child; its outcome: {checks: [...], seconds, output}.

    ``job``: name, path, file (one-file submission or None), module, adapter, checks (list of dicts:
    name, kind, seed, config), out (this submission's directory), timeout, memory_mb, data_specs."""
    prepare(job["data_specs"])
    out = Path(job["out"])
    for path in (out / CHECKS, out / EVENTS, out / OUTPUT):    # an older grade's, or what a submission put there
        clear(path)
    (out / CHECKS).mkdir(parents=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{os.getpid()}@{_host()}-"))
    start = time.monotonic()
    try:
        work = tmp / "submission"
        copy(job, work)
        status, timed_out = _watch(job, work, tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    seconds = time.monotonic() - start
    return {"checks": _judge(job, out, status, timed_out), "seconds": seconds, "output": _tail(out / OUTPUT)}


def copy(job: dict, work: Path) -> None:
    """The submission's files into ``work``: links as links (not followed), FIFOs, sockets and devices left out
    (opening one could block), no __pycache__."""
    from comparisons.grade.discover import regular_or_link
    if job["file"] is not None:
        work.mkdir()
        name = f"{job['module']}.py" if job["module"] else Path(job["file"]).name
        shutil.copyfile(job["file"], work / name)
        return

    def ignore(folder: str, names: list[str]) -> set[str]:
        return {n for n in names if n == "__pycache__" or n.endswith(".pyc")
                or not regular_or_link(os.path.join(folder, n))}
    shutil.copytree(job["path"], work, symlinks=True, ignore=ignore)


def _watch(job: dict, work: Path, tmp: Path, out: Path) -> tuple[int, bool]:
    """Fork the child, wait for it (killing its group after the timeout): its wait status, and if it timed out."""
    sys.stdout.flush(), sys.stderr.flush()
    pid = os.fork()
    if pid == 0:                                   # the child: never returns
        code = 70
        try:
            code = _child(job, work, tmp, out)
        finally:
            kill_tree(os.getpid())                 # what the submission started, even in a session of its own
            os._exit(code)
    try:
        os.setpgid(pid, pid)
    except OSError:
        pass                                        # the child did it first (or has ended)
    deadline = time.monotonic() + job["timeout"]
    timed_out = False
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline and not timed_out:
            timed_out = True
            kill_tree(pid)                          # first: once the child is gone, its tree is init's
            _kill_group(pid)
        time.sleep(POLL_SECONDS)
    _kill_group(pid)                                # whatever the submission left running
    return status, timed_out


def descendants(pid: int) -> list[int]:
    """The processes under ``pid``, whatever their group or session (Linux's /proc; [] elsewhere)."""
    children: dict[int, list[int]] = {}
    try:
        entries = [e for e in os.listdir("/proc") if e.isdigit()]
    except OSError:
        return []
    for e in entries:
        try:
            with open(f"/proc/{e}/stat", "rb") as f:
                ppid = int(f.read().rsplit(b")", 1)[1].split()[1])      # after "(comm)": state, ppid
        except (OSError, ValueError, IndexError):
            continue                                # ended meanwhile
        children.setdefault(ppid, []).append(int(e))
    found, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), ()):
            found.append(c)
            todo.append(c)
    return found


def kill_tree(pid: int, rounds: int = 3) -> None:
    """SIGKILL every process under ``pid`` (not ``pid`` itself); a few rounds, for those forked meanwhile."""
    for _ in range(rounds):
        found = descendants(pid)
        if not found:
            return
        for d in found:
            try:
                os.kill(d, signal.SIGKILL)
            except OSError:
                pass


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass


def _child(job: dict, work: Path, tmp: Path, out: Path) -> int:
    os.setpgid(0, 0)
    _die_with_parent()
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGXCPU):
        signal.signal(s, signal.SIG_DFL)
    log = os.open(out / OUTPUT, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(log, 1), os.dup2(log, 2)
    sys.stdout = open(1, "w", buffering=1, closefd=False)
    sys.stderr = open(2, "w", buffering=1, closefd=False)
    events = open(out / EVENTS, "a", buffering=1)
    keep = {k: os.environ[k] for k in KEEP_ENV if k in os.environ}
    os.environ.clear()
    os.environ.update(keep, PATH="/usr/local/bin:/usr/bin:/bin", HOME=str(tmp), TMPDIR=str(tmp),
                      OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    tempfile.tempdir = str(tmp)
    os.chdir(work)
    adapter_dir = str(Path(job["adapter"].rpartition(":")[0]).resolve().parent)
    sys.path[:] = [str(work), *(p for p in sys.path if p not in ("", ".", adapter_dir)), adapter_dir]
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    size = int(job.get("file_mb", FILE_MB) * 2**20)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))    # Python ignores SIGXFSZ: the write raises EFBIG
    cpu = int(job["timeout"]) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
    if job["memory_mb"]:
        limit = _mapped_bytes() + int(job["memory_mb"] * 2**20)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    confine_writes([str(tmp), str(out / CHECKS), "/dev"])
    for check in job["checks"]:
        events.write(json.dumps({"event": "begin", "check": check["name"], "t": time.monotonic()}) + "\n")
        result = _one(check, job, out)
        events.write(json.dumps({"event": "end", "check": check["name"], "t": time.monotonic(), **result},
                                default=str) + "\n")
    events.close()
    sys.stdout.flush(), sys.stderr.flush()
    return 0


# Landlock (Linux >= 5.13; comparisons/grade/sandbox.py's only use of it): the child may write only under its copy
# (its HOME and TMPDIR), its checks' folder (DIR/submissions/<submission>/checks/) and /dev (null, shm). Reading stays
# allowed everywhere.
_LANDLOCK_SYSCALLS = (444, 445, 446)     # create_ruleset, add_rule, restrict_self: the same on x86_64 and arm64
_WRITE_ACCESS = sum(1 << b for b in (1, 4, 5, 6, 7, 8, 9, 10, 11, 12))   # write, remove, make (file, dir, ...)
_REFER, _TRUNCATE = 1 << 13, 1 << 14     # ABI 2: moves between folders (a run's staged record); ABI 3: truncate


def confine_writes(writable: list[str]) -> bool:
    """Forbid this process (and what it starts) writes outside ``writable``, where the kernel has Landlock;
    False where it has not (nothing changes)."""
    import ctypes
    import platform
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "aarch64"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    create, add, restrict = _LANDLOCK_SYSCALLS
    abi = libc.syscall(create, None, ctypes.c_size_t(0), ctypes.c_uint32(1))    # LANDLOCK_CREATE_RULESET_VERSION
    if abi < 1:
        return False
    handled = _WRITE_ACCESS | (_REFER if abi >= 2 else 0) | (_TRUNCATE if abi >= 3 else 0)
    attr = ctypes.c_uint64(handled)
    ruleset = libc.syscall(create, ctypes.byref(attr), ctypes.c_size_t(8), ctypes.c_uint32(0))
    if ruleset < 0:
        return False
    try:
        class PathBeneath(ctypes.Structure):
            _pack_ = 1
            _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]
        for path in writable:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                rule = PathBeneath(handled, fd)
                if libc.syscall(add, ctypes.c_int(ruleset), ctypes.c_int(1), ctypes.byref(rule), ctypes.c_uint32(0)):
                    return False
            finally:
                os.close(fd)
        if libc.prctl(38, 1, 0, 0, 0):           # PR_SET_NO_NEW_PRIVS, which restrict_self requires
            return False
        return libc.syscall(restrict, ctypes.c_int(ruleset), ctypes.c_uint32(0)) == 0
    finally:
        os.close(ruleset)


def _die_with_parent() -> None:
    """Linux: SIGKILL this child when the worker thread that forked it ends (a worker killed, a cluster
    closed by Ctrl-C): its own process group keeps it from the terminal's signals. Elsewhere RLIMIT_CPU
    still ends a spinning orphan."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)     # PR_SET_PDEATHSIG
        libc.prctl(36, 1)                 # PR_SET_CHILD_SUBREAPER: what the submission starts and leaves (a
                                          # daemon, setsid) stays under this child, where kill_tree finds it
    except (OSError, AttributeError):
        pass


def _one(check: dict, job: dict, out: Path) -> dict:
    """Run one check in the child: {verdict, message, diagnosis, ...}; whatever the submission does."""
    from comparisons.errors import InputError, cli_words, describe
    try:
        with cli_words():       # its reports and messages are read beside `lockstep grade`: they name --flags
            if check["kind"] == "audit":
                return _audit(check, job, out)
            return _run(check, job, out)
    except MemoryError as e:
        return {"verdict": "out of memory", "message": f"out of memory (--memory {job['memory_mb']:g} MB): "
                                                       f"{describe(e)}"}
    except InputError as e:                         # the submission failed before the first step
        return {"verdict": _error_kind(str(e)), "message": str(e)}
    except SystemExit as e:
        return {"verdict": "error", "message": f"the submission {describe(e)}"}
    except Exception as e:                          # noqa: BLE001 - the submission's code, or a bug of lockstep's
        where = traceback.extract_tb(e.__traceback__)[-1]
        return {"verdict": _error_kind(describe(e)),
                "message": f"{describe(e)} (at {Path(where.filename).name}:{where.lineno})"}
    except BaseException as e:                      # noqa: BLE001 - KeyboardInterrupt, GeneratorExit raised by it
        where = traceback.extract_tb(e.__traceback__)[-1]
        return {"verdict": "error", "message": f"the submission raised {type(e).__name__}"
                                               f"{': ' + str(e) if str(e) else ''} (at {Path(where.filename).name}:"
                                               f"{where.lineno})"}


def _error_kind(message: str) -> str:
    return "out of memory" if any(t in message for t in OOM_TEXT) else "error"


def _audit(check: dict, job: dict, out: Path) -> dict:
    from comparisons.explain.audit import audit, format_table
    result = audit(job["adapter"], check["seed"])
    where = out / CHECKS / check["name"]
    where.mkdir(exist_ok=True)
    (where / "audit.txt").write_text(format_table(result.rows) + "\n" + "".join(f"- {n}\n" for n in result.notes))
    first = next((r for r in result.rows if r.verdict == "FAIL"), None)
    return {"verdict": "passed" if result.passed else "failed",
            "message": f"{first.derivation} ({first.formula}): {first.finding}" if first else "",
            "diagnosis": first.finding if first else "",
            "derivations": {r.derivation: r.verdict for r in result.rows}}


def _run(check: dict, job: dict, out: Path) -> dict:
    from comparisons.config import Config
    from comparisons.lockstep import run
    config = Config(**{k: tuple(v) if isinstance(v, list) else v for k, v in check["config"].items()})
    data = _data.get(config.data)
    result = run(config, data=data, out=out / CHECKS / check["name"], overwrite=True, progress=False)
    first = result.first_failure or {}
    diagnosis = result.summary.get("diagnosis") or {}
    findings = diagnosis.get("findings") or []
    message = first.get("message") or result.summary.get("stopped") or ""
    verdict = result.status
    if first.get("quantity") == "user_code":
        verdict = _error_kind(message)
    return {"verdict": verdict, "message": message,
            "diagnosis": findings[0] if findings else diagnosis.get("first_divergence", ""),
            "quantity": first.get("quantity", ""), "name": first.get("name", ""),
            "first_divergence": diagnosis.get("first_divergence", ""), "steps": result.summary.get("steps")}


def _judge(job: dict, out: Path, status: int, timed_out: bool) -> list[dict]:
    """Each check's outcome, from the child's events and how it ended."""
    ended, begun = {}, {}
    try:
        for line in (out / EVENTS).read_text().splitlines():
            try:
                e = json.loads(line)
            except ValueError:
                continue                               # a line cut short by the kill
            (ended if e["event"] == "end" else begun)[e["check"]] = e
    except OSError:
        pass
    how = _ending(job, status, timed_out)
    if how is None and any(c["name"] not in ended for c in job["checks"]):
        how = "crashed", "the process ended (exit code 0: os._exit(0)?) before its checks did"
    results, stopped = [], False
    for c in job["checks"]:
        name = c["name"]
        if name in ended:
            e = ended[name]
            seconds = e["t"] - begun[name]["t"] if name in begun else None
            results.append({k: v for k, v in e.items() if k not in ("event", "check", "t")} | {"seconds": seconds})
        elif not stopped and how is not None:
            stopped = True
            verdict, message = how
            results.append({"verdict": verdict, "message": message if name in begun else f"{message} (at start-up)"})
        else:
            results.append({"verdict": "not run", "message": "an earlier check ended the submission's process"
                            if stopped else "the child ended before it"})
    return results


def _ending(job: dict, status: int, timed_out: bool) -> tuple[str, str] | None:
    """(verdict, message) for a child that did not finish its checks; None if it ended cleanly."""
    if timed_out:
        return "timed out", f"timed out after {job['timeout']:g} s (wall time)"
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig == signal.SIGXCPU:
            return "timed out", f"used more than {int(job['timeout']) + 1} s of CPU time (SIGXCPU)"
        name = signal.Signals(sig).name
        if sig == signal.SIGKILL:
            return "crashed", "the process was killed (SIGKILL, from outside: the kernel's out-of-memory killer?)"
        return "crashed", f"the process ended ({name})"
    code = os.WEXITSTATUS(status)
    if code != 0:
        return "crashed", f"the process ended (exit code {code}: os._exit or a fatal error)"
    return None


def clear(path: Path) -> None:
    """Remove ``path`` whatever it is (a file, a link, a folder); nothing if it is not there."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            path.unlink()
        except FileNotFoundError:
            pass


def _tail(path: Path, limit: int = 4000) -> str:
    """The end of the child's output (the student's prints, lockstep's warnings): its last ``limit`` bytes,
    read from there (the file may be FILE_MB long)."""
    try:
        with open(path, "rb") as f:
            f.seek(max(f.seek(0, os.SEEK_END) - limit, 0))
            return f.read(limit).decode("utf-8", "replace")
    except OSError:
        return ""

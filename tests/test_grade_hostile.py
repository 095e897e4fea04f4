"""``lockstep grade`` against submissions that misbehave on purpose (a hostile review's reproductions): each is
graded by ``sandbox.grade`` forked from this process (no cluster), on one audit check (~1 s)."""
import json
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "grade_class"
ADAPTER = f"{EXAMPLE / 'course_adapter.py'}:Adapter"
sys.path.insert(0, str(EXAMPLE))
import make_class  # noqa: E402


def _checks(tmp_path: Path, runs: bool = False) -> Path:
    """One audit check (and, with ``runs``, a short float64 run after it: a 784-16-10 net, 6 steps)."""
    path = tmp_path / "checks.toml"
    text = (f'preset = "{EXAMPLE / "course.toml"}"\nmodule = "starter"\n'
            '[[check]]\nname = "derivations"\nkind = "audit"\npoints = 2\n')
    if runs:
        text += ('[[check]]\nname = "float64 synced"\nkind = "run"\ndtype = "float64"\nmode = "synced"\n'
                 'hidden = [16]\nepochs = 1\nbatch_size = 1000\n')
    path.write_text(text)
    return path


def _job(tmp_path: Path, top: str = "", runs: bool = False, name: str = "ok_02", **limits) -> dict:
    """The plan's job for ok_02 with ``top`` inserted after its ``import numpy``."""
    from comparisons.grade import checks as grade_checks, command, discover
    folder = tmp_path / "class"
    make_class.write(folder, "plain", ["ok_02"])
    if name != "ok_02":
        (folder / "ok_02").rename(folder / name)
    starter = folder / name / "starter.py"
    starter.write_text(starter.read_text().replace("import numpy as np\n", "import numpy as np\n" + top, 1))
    layout, subs = discover.discover(folder)
    _, jobs = command.plan(tmp_path / "out", layout, subs, grade_checks.load_checks(str(_checks(tmp_path, runs)),
                                                                                    ADAPTER),
                           ADAPTER, command.adapter_digest(ADAPTER), limits.get("timeout", 120.0),
                           limits.get("memory", 2048))
    return jobs[0]


def _graded(tmp_path: Path, top: str = "", runs: bool = False, **limits) -> dict:
    from comparisons.grade import results, sandbox
    job = _job(tmp_path, top, runs, **limits)
    return results.build(job, sandbox.grade(job), ADAPTER)


def test_an_exit_0_at_import_is_a_crash_not_a_pass(tmp_path):
    """os._exit(0) before any check ended: every check and the submission are crashed, the score 0."""
    r = _graded(tmp_path, "import os\nos._exit(0)\n", runs=True)
    assert [c["verdict"] for c in r["checks"]] == ["crashed", "not run"], r["checks"]
    assert "exit code 0" in r["checks"][0]["message"]
    assert r["verdict"] == "crashed" and r["score"] == 0


def test_the_overall_verdict_is_the_most_severe():
    from comparisons.grade.results import overall
    assert overall(["failed", "timed out"]) == "timed out"
    assert overall(["error", "crashed", "not run"]) == "crashed"
    assert overall(["passed", "failed"]) == "failed"
    assert overall(["passed", "not run"]) != "passed"
    assert overall(["passed", "passed"]) == "passed"


MAKE_WAY = '''import os
d = os.path.dirname(os.readlink("/proc/self/fd/1"))
for n in ("results.json", "result.json", "output.txt"):
    try:
        os.makedirs(os.path.join(d, n, "x"))
    except OSError:
        pass
'''


def test_a_submission_cannot_block_its_own_results(tmp_path):
    """Folders made by the submission where lockstep writes its files (or refused by Landlock) do not stop
    its results from being written."""
    from comparisons.grade import results, sandbox
    job = _job(tmp_path, MAKE_WAY)
    outcome = sandbox.grade(job)
    for n in ("results.json", "result.json", "output.txt"):     # without Landlock the folders exist: the worst case
        os.makedirs(Path(job["out"]) / n / "x", exist_ok=True)
    r = results.record(Path(job["out"]), job, outcome, ADAPTER)
    assert r["verdict"] == "passed", r["checks"]
    assert results.load(Path(job["out"]))["key"] == job["key"]
    assert json.loads((Path(job["out"]) / "results.json").read_text())["score"] == 2


def test_results_that_cannot_be_written_are_the_submissions_error(tmp_path, monkeypatch):
    from comparisons.errors import RecordWriteError
    from comparisons.grade import results
    job = _job(tmp_path)
    outcome = {"checks": [{"verdict": "passed", "message": ""}], "seconds": 1.0, "output": ""}
    calls = []

    def refuse(path, data):
        calls.append(path)
        raise RecordWriteError(f"cannot write {path}: No space left on device")
    monkeypatch.setattr(results, "write_atomic", refuse)
    r = results.record(Path(job["out"]), job, outcome, ADAPTER)
    assert r["verdict"] == "error" and r["score"] == 0 and "No space left" in r["checks"][0]["message"]
    assert len(calls) == 2                          # tried, then tried to record the error


@pytest.mark.parametrize("name", ["result.json", "results.json", "output.txt", "output.log", "events.jsonl"])
def test_a_check_named_like_a_submission_file_has_its_own_folder(tmp_path, name):
    """Check records live under DIR/<submission>/checks/: a check may be named like lockstep's files."""
    from comparisons.grade import results, sandbox
    job = _job(tmp_path)
    job["checks"][0]["name"] = name
    r = results.record(Path(job["out"]), job, sandbox.grade(job), ADAPTER)
    assert r["verdict"] == "passed", r["checks"]
    assert (Path(job["out"]) / "checks" / name / "audit.txt").is_file()
    assert results.load(Path(job["out"]))["checks"][0]["name"] == name


def test_submissions_named_like_the_class_files_stay_apart(tmp_path):
    """Submissions named grade.json, class.md, class.html (folders) and class.csv (a file class.csv.py) are
    graded into DIR/submissions/: the class's files stay whole and the folder is still this class's."""
    from comparisons.grade import checks as grade_checks, command, discover, report, results
    folder, out = tmp_path / "class", tmp_path / "out"
    names = ["grade.json", "class.md", "class.html"]
    for n in names:
        (folder / n).mkdir(parents=True)
        (folder / n / "starter.py").write_text("x = 1\n")
    (folder / "class.csv.py").write_text("x = 1\n")
    out.mkdir()
    results.claim(out, folder, ADAPTER)
    layout, subs = discover.discover(folder)
    _, jobs = command.plan(out, layout, subs, grade_checks.load_checks(str(_checks(tmp_path)), ADAPTER), ADAPTER,
                           command.adapter_digest(ADAPTER), 120.0, 2048)
    assert sorted(j["name"] for j in jobs) == sorted([*names, "class.csv"])
    done = [results.record(Path(j["out"]), j, {"checks": [{"verdict": "passed", "message": ""}], "seconds": 1.0},
                           ADAPTER) for j in jobs]
    report.write(out, done)
    results.claim(out, folder, ADAPTER)                  # grade.json is still this class's
    assert all((out / n).is_file() for n in ("grade.json", "class.csv", "class.md", "class.html"))


def _in_time(fn, seconds: float = 30.0):
    """``fn()``'s value; fails (instead of hanging the suite) if it takes longer than ``seconds``."""
    import threading
    box = []
    t = threading.Thread(target=lambda: box.append(fn()), daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"{fn} did not return within {seconds} s"
    return box[0]


def test_a_file_name_in_any_encoding_is_hashed(tmp_path):
    from comparisons.grade.discover import discover
    folder = tmp_path / "class"
    (folder / "ok").mkdir(parents=True)
    (folder / "ok" / "starter.py").write_text("x = 1\n")
    with open(os.path.join(os.fsencode(folder / "ok"), b"r\xe9ponse.txt"), "wb") as f:
        f.write(b"oui")
    (sub,) = discover(folder)[1]
    before = sub.digest()
    with open(os.path.join(os.fsencode(folder / "ok"), b"r\xe9ponse.txt"), "wb") as f:
        f.write(b"non")
    assert sub.digest() != before


def test_links_and_fifos_are_neither_read_nor_followed(tmp_path):
    """A link to /dev/zero and a FIFO in a submission: hashing and copying it end (a link by its target's path,
    the FIFO left out) instead of reading forever."""
    from comparisons.grade import discover, sandbox
    folder = tmp_path / "class"
    sub_dir = folder / "ok"
    sub_dir.mkdir(parents=True)
    (sub_dir / "starter.py").write_text("x = 1\n")
    (sub_dir / "zero").symlink_to("/dev/zero")
    (sub_dir / "up").symlink_to(tmp_path)                 # a link to a folder: not walked into
    os.mkfifo(sub_dir / "pipe")
    (sub,) = discover.discover(folder)[1]
    first = _in_time(sub.digest)
    (sub_dir / "zero").unlink()
    (sub_dir / "zero").symlink_to("/dev/null")
    assert _in_time(sub.digest) != first
    work = tmp_path / "work"
    _in_time(lambda: sandbox.copy({"file": None, "path": str(sub_dir), "module": ""}, work))
    assert sorted(p.name for p in work.iterdir()) == ["starter.py", "up", "zero"]
    assert os.readlink(work / "zero") == "/dev/null" and (work / "up").is_symlink()


def _plan(tmp_path: Path, checks: Path, timeout: float = 120.0, memory: float = 2048):
    from comparisons.grade import checks as grade_checks, command, discover
    layout, subs = discover.discover(tmp_path / "class")
    return command.plan(tmp_path / "out", layout, subs, grade_checks.load_checks(str(checks), ADAPTER), ADAPTER,
                        command.adapter_digest(ADAPTER), timeout, memory)


@pytest.mark.parametrize("verdict, lost", [("passed", False), ("timed out", False), ("out of memory", False),
                                           ("crashed", True)])
def test_what_a_second_grade_keeps(tmp_path, verdict, lost):
    """Resume: a passed result is kept under other limits; one that timed out or ran out of memory is redone
    under other limits (kept under the same); a lost worker's is always redone; changed points rescore a kept
    result without running it."""
    from comparisons.grade import results
    job = _job(tmp_path)
    outcome = {"lost": "KilledWorker: gone"} if lost else {"checks": [{"verdict": verdict, "message": ""}],
                                                           "seconds": 1.0}
    results.record(Path(job["out"]), job, outcome, ADAPTER)
    checks = _checks(tmp_path)
    done, jobs = _plan(tmp_path, checks)
    assert (len(jobs), len(done)) == ((1, 0) if lost else (0, 1))
    done, jobs = _plan(tmp_path, checks, timeout=60.0, memory=512)
    assert len(jobs) == (0 if verdict == "passed" else 1)
    if verdict == "passed":
        checks.write_text(checks.read_text().replace("points = 2", "points = 5\nvisibility = \"hidden\""))
        done, jobs = _plan(tmp_path, checks)
        assert not jobs and done["ok_02"]["score"] == 5 and done["ok_02"]["checks"][0]["visibility"] == "hidden"
        assert json.loads((Path(job["out"]) / "results.json").read_text())["score"] == 5


def test_a_keyboard_interrupt_at_import_is_an_error_naming_it(tmp_path):
    r = _graded(tmp_path, "raise KeyboardInterrupt\n")
    first = r["checks"][0]
    assert (first["verdict"], r["verdict"]) == ("error", "error"), first
    assert "KeyboardInterrupt" in first["message"] and "starter.py" in first["message"], first["message"]


def test_the_output_tail_reads_only_the_end(tmp_path):
    """A 4 GiB output.log (sparse) ending in a line: its tail is read from the end, under a 1 GiB address
    space (reading the whole file would fail)."""
    import subprocess
    log = tmp_path / "output.log"
    with open(log, "wb") as f:
        f.truncate(4 * 2**30)
        f.seek(0, os.SEEK_END)
        f.write(b"the last line\n")
    code = ("import resource; resource.setrlimit(resource.RLIMIT_AS, (2**30, 2**30)); from pathlib import Path; "
            f"from comparisons.grade.sandbox import _tail; t = _tail(Path({str(log)!r})); "
            "assert len(t) == 4000 and t.endswith('the last line\\n'), repr(t[-30:])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


GRANDCHILD = '''import os, time
if os.fork() == 0:
    os.setsid()
    print("GRANDCHILD", os.getpid(), flush=True)
    time.sleep(900)
    os._exit(0)
time.sleep(0.5)
'''


def _gone(pid: int, seconds: float = 10.0) -> bool:
    import time
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
        except OSError:
            return True
        if state in (b"Z", b"X"):
            return True
        time.sleep(0.1)
    return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="walks Linux's /proc")
@pytest.mark.parametrize("hang", [False, True])
def test_a_grandchild_in_its_own_session_is_killed(tmp_path, hang):
    """A submission forks a grandchild that calls setsid (out of the child's process group) and sleeps: it is
    killed when the child ends, and when the child is killed at the time-out."""
    from comparisons.grade import sandbox
    job = _job(tmp_path, GRANDCHILD + ("while True:\n    pass\n" if hang else ""), timeout=3.0)
    outcome = sandbox.grade(job)
    assert outcome["checks"][0]["verdict"] == ("timed out" if hang else "passed"), outcome
    pid = int(outcome["output"].split("GRANDCHILD ")[1].split()[0])
    try:
        assert _gone(pid), f"grandchild {pid} survived"
    finally:
        try:
            os.kill(pid, 9)
        except OSError:
            pass


def test_stale_temporary_copies_are_swept(tmp_path, monkeypatch):
    import subprocess
    import tempfile
    from comparisons.grade import sandbox
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f"{sandbox.TMP_PREFIX}{ended.stdout.strip()}@{sandbox._host()}-abc"
    mine = tmp_path / f"{sandbox.TMP_PREFIX}{os.getpid()}@{sandbox._host()}-def"
    elsewhere = tmp_path / f"{sandbox.TMP_PREFIX}{ended.stdout.strip()}@another-host-ghi"
    (stale / "submission").mkdir(parents=True)
    mine.mkdir()
    elsewhere.mkdir()
    assert sandbox.sweep() == 1
    assert not stale.exists() and mine.exists() and elsewhere.exists()


def test_the_class_report_rates_forward_backward_and_update():
    """The pass rate per derivation has a row per stage of the runs, besides the audit's gradients."""
    from comparisons.grade.report import STAGES, class_tables

    def run(verdict, where=""):
        return {"name": "r", "kind": "run", "verdict": verdict, "first_divergence": where, "quantity": "",
                "layer": "", "message": "", "diagnosis": "", "seconds": 1.0, "score": 0, "max_score": 1,
                "derivations": {}}
    results = [{"name": n, "who": n, "verdict": c["verdict"], "score": 0, "max_score": 1, "seconds": 1.0,
                "checks": [c]} for n, c in (("a", run("passed")), ("b", run("failed", "update > fc1.weight > change")),
                                            ("c", run("failed", "forward > loss > value")), ("d", run("error")))]
    (table,) = [t for t in class_tables(results) if t.title.startswith("Pass rate per derivation")]
    rows = {r[0]: r[1:] for r in table.rows}
    assert rows[STAGES["forward"]] == ("2/3 (67%)", "1", "0")
    assert rows[STAGES["backward"]] == ("2/2 (100%)", "0", "1")
    assert rows[STAGES["update"]] == ("1/2 (50%)", "1", "1")

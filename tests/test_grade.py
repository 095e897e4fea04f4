"""``lockstep grade`` on real Dask clusters: a LocalCluster of two workers on loopback, and a scheduler
and a worker started as processes (``dask scheduler``, ``dask worker``) as a cluster would run them.

Each failure kind is recorded with its message and the class goes on; a second grade skips what is
done and redoes what changed. The whole sample class (24 submissions) is behind ``slow``; a few
submissions through each engine are in the quick suite.
"""
import csv
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from comparisons.cli.main import main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "grade_class"
ADAPTER = f"{EXAMPLE / 'course_adapter.py'}:Adapter"
sys.path.insert(0, str(EXAMPLE))
import make_class  # noqa: E402

# The sample class's expected verdicts: the first check's (the audit), then the submission's.
EXPECTED = {"bad_segfault": ("crashed", "SIGSEGV"), "bad_infinite_loop": ("timed out", "timed out after"),
            "bad_memory_hog": ("out of memory", "MemoryError"), "bad_sys_exit": ("error", "called sys.exit(1)"),
            "bad_os_exit": ("crashed", "exit code 3"), "bad_syntax_error": ("error", "SyntaxError"),
            "bad_missing_import": ("error", "No module named 'tensorflow'"),
            "bad_missing_data": ("error", "data/mean_image.npy"), "bad_constructor": ("error", "W1 must be 2-D")}


def _checks(tmp_path: Path) -> Path:
    """The example's checks, made small: a 784-16-10 net, 6 steps of 1000 (each run ~1 s on a quiet core)."""
    path = tmp_path / "checks.toml"
    path.write_text(f'preset = "{EXAMPLE / "course.toml"}"\nmodule = "starter"\n'
                    '[[check]]\nname = "derivations"\nkind = "audit"\npoints = 2\n'
                    '[[check]]\nname = "float64 synced"\nkind = "run"\ndtype = "float64"\nmode = "synced"\n'
                    'hidden = [16]\nepochs = 1\nbatch_size = 1000\n'
                    '[[check]]\nname = "float32 free"\nkind = "run"\nvisibility = "hidden"\nhidden = [16]\n'
                    'epochs = 1\nbatch_size = 1000\n')
    return path


def _grade(capsys, folder, out, checks, *extra) -> tuple[int, str]:
    code = main(["grade", str(folder), "--adapter", ADAPTER, "--checks", str(checks), "--out", str(out), "--quiet",
                 *extra])
    return code, capsys.readouterr().err


def _results(out: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in out.glob("submissions/*/result.json")}


def _assert_verdicts(results: dict[str, dict]) -> None:
    for name, r in results.items():
        first = r["checks"][0]
        if name.startswith("ok_"):
            assert r["verdict"] == "passed" and r["score"] == r["max_score"], (name, r["checks"])
        elif name.startswith("slip_"):
            assert r["verdict"] == "failed", (name, r["checks"])
            assert any(c["verdict"] == "failed" and c["message"] for c in r["checks"]), name
        else:
            verdict, text = EXPECTED[name]
            assert (first["verdict"], r["verdict"]) == (verdict, verdict), (name, r["checks"])
            assert text in first["message"], (name, first["message"])
            assert r["score"] == 0


def _assert_files(out: Path, results: dict[str, dict]) -> None:
    rows = list(csv.DictReader((out / "class.csv").open()))
    assert len(rows) == 3 * len(results)
    assert {r["submission"] for r in rows} == set(results)
    for name in results:
        gs = json.loads((out / "submissions" / name / "results.json").read_text())
        assert [t["name"] for t in gs["tests"]] == ["derivations", "float64 synced", "float32 free"]
        assert [t["visibility"] for t in gs["tests"]] == ["visible", "visible", "hidden"]
        assert gs["score"] == sum(t["score"] for t in gs["tests"])
    assert "Pass rate per derivation" in (out / "class.md").read_text()
    assert (out / "class.html").read_text().startswith("<!DOCTYPE html>")


QUICK = ["ok_01", "slip_missing_1_over_n", "bad_segfault", "bad_sys_exit"]


def test_local_cluster_grades_and_resumes(tmp_path, capsys):
    """Two LocalCluster workers: a correct one-file submission, a slip, a segfault and sys.exit each get their
    verdict; a second run skips all four; a changed submission alone is graded again."""
    folder, out, checks = tmp_path / "class", tmp_path / "out", _checks(tmp_path)
    make_class.write(folder, "plain", QUICK)
    code, err = _grade(capsys, folder, out, checks, "--timeout", "120")
    assert code == 0, err
    results = _results(out)
    assert set(results) == set(QUICK)
    _assert_verdicts(results)
    _assert_files(out, results)
    assert "graded 4 submissions (0 unchanged" in err
    slip = results["slip_missing_1_over_n"]
    assert "= N = 8, the batch size" in slip["checks"][0]["diagnosis"]     # the audit names the slip

    code, err = _grade(capsys, folder, out, checks)           # nothing changed: nothing graded
    assert code == 0 and "graded 0 submissions (4 unchanged" in err, err
    assert _results(out) == results

    starter = folder / "bad_sys_exit" / "starter.py"       # the student fixes it
    starter.write_text(starter.read_text().replace("        sys.exit(1)\n", ""))
    code, err = _grade(capsys, folder, out, checks, "--timeout", "120")
    assert code == 0 and "graded 1 submissions (3 unchanged" in err, err
    again = _results(out)
    assert again["bad_sys_exit"]["verdict"] == "passed"
    assert {k: v for k, v in again.items() if k != "bad_sys_exit"} == \
        {k: v for k, v in results.items() if k != "bad_sys_exit"}


@pytest.fixture
def scheduler(tmp_path, free_port):
    """``dask scheduler`` and one ``dask worker`` (two processes, one thread each) on 127.0.0.1; stopped after."""
    dask = str(Path(sys.executable).parent / "dask")
    port = free_port
    address = f"tcp://127.0.0.1:{port}"
    log = (tmp_path / "dask.log").open("w")
    procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                              stdout=log, stderr=log)]
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline and procs[0].poll() is None, "the scheduler did not start"
                time.sleep(0.2)
        procs.append(subprocess.Popen([dask, "worker", address, "--nworkers", "2", "--nthreads", "1",
                                       "--host", "127.0.0.1", "--no-dashboard", "--memory-limit", "0"],
                                      stdout=log, stderr=log, cwd=tmp_path))
        yield address
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in reversed(procs):
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def test_scheduler_and_workers_as_processes(tmp_path, capsys, scheduler):
    """Through a running cluster: a Gradescope layout, a memory hog (stopped by --memory) and os._exit."""
    folder, out, checks = tmp_path / "class", tmp_path / "out", _checks(tmp_path)
    make_class.write(folder, "gradescope", ["ok_02", "bad_memory_hog", "bad_os_exit"])
    code, err = _grade(capsys, folder, out, checks, "--scheduler", scheduler, "--memory", "256", "--timeout", "120")
    assert code == 0, err
    results = _results(out)
    assert set(results) == {"ok_02", "bad_memory_hog", "bad_os_exit"}
    _assert_verdicts(results)
    assert results["ok_02"]["who"] == "ok_02@example.edu"
    assert results["bad_os_exit"]["checks"][1]["verdict"] == "not run"


@pytest.mark.slow
def test_the_whole_sample_class_on_a_local_cluster(tmp_path, capsys):
    folder, out, checks = tmp_path / "class", tmp_path / "out", _checks(tmp_path)
    make_class.write(folder, "plain")
    code, err = _grade(capsys, folder, out, checks, "--timeout", "45", "--memory", "512")
    assert code == 0, err
    results = _results(out)
    assert len(results) == 24
    _assert_verdicts(results)
    _assert_files(out, results)


@pytest.mark.slow
def test_the_whole_sample_class_through_a_scheduler(tmp_path, capsys, scheduler):
    folder, out, checks = tmp_path / "class", tmp_path / "out", _checks(tmp_path)
    make_class.write(folder, "gradescope")
    code, err = _grade(capsys, folder, out, checks, "--scheduler", scheduler, "--timeout", "45", "--memory", "512")
    assert code == 0, err
    results = _results(out)
    assert len(results) == 24
    _assert_verdicts(results)
    assert os.path.exists(out / "submissions" / "bad_infinite_loop" / "results.json")


def test_an_interrupted_grade_keeps_what_finished(tmp_path):
    """SIGINT while a hanging submission is being graded: exit 130, one line; the finished submissions'
    results stand and a new grade would keep them."""
    import signal

    from comparisons.grade import checks as grade_checks, command, discover
    folder, out, checks = tmp_path / "class", tmp_path / "out", _checks(tmp_path)
    make_class.write(folder, "plain", ["ok_03", "ok_05", "bad_infinite_loop"])
    lockstep = str(Path(sys.executable).parent / "lockstep")
    proc = subprocess.Popen([lockstep, "grade", str(folder), "--adapter", ADAPTER, "--checks", str(checks),
                             "--out", str(out), "--quiet", "--timeout", "600", "--workers", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        while len(list(out.glob("submissions/ok_*/result.json"))) < 2:
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1].startswith("lockstep: interrupted"), err
    layout, subs = discover.discover(folder)
    adapter_hash = command.adapter_digest(ADAPTER)
    done, jobs = command.plan(out, layout, subs, grade_checks.load_checks(str(checks), ADAPTER), ADAPTER,
                              adapter_hash, 600.0, 2048)
    assert set(done) == {"ok_03", "ok_05"} and [j["name"] for j in jobs] == ["bad_infinite_loop"]
    assert all(r["verdict"] == "passed" for r in done.values())


def test_a_print_loop_is_stopped_by_the_file_limit(tmp_path):
    """A submission printing forever: its output file reaches the child's RLIMIT_FSIZE, the print raises,
    and the check is an error naming it (the disk is not filled). Forked from this process, no cluster."""
    from comparisons.grade import checks as grade_checks, command, discover, sandbox
    folder, checks = tmp_path / "class", _checks(tmp_path)
    make_class.write(folder, "plain", ["ok_02"])
    starter = folder / "ok_02" / "starter.py"
    starter.write_text(starter.read_text().replace("        self.X = X\n",
                                                   "        while True:\n            print('x' * 1000)\n"))
    layout, subs = discover.discover(folder)
    _, (job,) = command.plan(tmp_path / "out", layout, subs, grade_checks.load_checks(str(checks), ADAPTER),
                             ADAPTER, command.adapter_digest(ADAPTER), 120.0, 2048)
    outcome = sandbox.grade(job | {"file_mb": 1})
    first = outcome["checks"][0]
    assert first["verdict"] == "error" and "File too large" in first["message"], first
    assert (Path(job["out"]) / "output.log").stat().st_size <= 2**20


def test_a_submission_cannot_write_outside_its_folders(tmp_path):
    """Where the kernel has Landlock, a submission writing beside the class (outside its copy and its result
    folder) gets a permission error, recorded as an error; the file is not made."""
    from comparisons.grade import checks as grade_checks, command, discover, sandbox
    probe = subprocess.run([sys.executable, "-c", "import sys; from comparisons.grade.sandbox import confine_writes; "
                            f"sys.exit(0 if confine_writes([{str(tmp_path)!r}]) else 3)"])
    if probe.returncode == 3:
        pytest.skip("no Landlock in this kernel: writes are not confined (docs/grade.md)")
    folder, checks, escaped = tmp_path / "class", _checks(tmp_path), tmp_path / "escaped.txt"
    make_class.write(folder, "plain", ["ok_02"])
    starter = folder / "ok_02" / "starter.py"
    starter.write_text(f"open({str(escaped)!r}, 'w').write('out')\n" + starter.read_text())
    layout, subs = discover.discover(folder)
    _, (job,) = command.plan(tmp_path / "out", layout, subs, grade_checks.load_checks(str(checks), ADAPTER),
                             ADAPTER, command.adapter_digest(ADAPTER), 120.0, 2048)
    outcome = sandbox.grade(job)
    first = outcome["checks"][0]
    assert first["verdict"] == "error" and "PermissionError" in first["message"], first
    assert not escaped.exists()

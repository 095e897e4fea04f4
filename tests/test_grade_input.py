"""``lockstep grade``: bad input for the class is one line and exit 2, before any cluster starts."""
import json
import socket

import pytest

from comparisons.cli.main import main

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]
ADAPTER = str(ROOT / "examples" / "grade_class" / "course_adapter.py") + ":Adapter"
CHECKS = str(ROOT / "examples" / "grade_class" / "checks.toml")


def _class(tmp_path):
    folder = tmp_path / "class"
    (folder / "alice").mkdir(parents=True)
    (folder / "alice" / "starter.py").write_text("class Network: pass\n")
    return folder


def _grade(capsys, *argv):
    code = main(["grade", *map(str, argv)])
    err = capsys.readouterr().err.strip()
    return code, err


@pytest.mark.parametrize("case, expected", [
    ("missing", "no submissions folder"),
    ("blank", "SUBMISSIONS is empty"),
    ("empty", "holds no submissions"),
    ("adapter-missing", "cannot read"),
    ("adapter-noclass", "defines no class Nope"),
    ("adapter-syntax", "does not parse"),
    ("adapter-form", "expected FILE.py:Class"),
    ("adapter-import", "No module named 'definitely_not_a_package'"),
    ("checks-unknown", "unknown field 'colour'"),
    ("checks-kind", "kind must be one of audit, run"),
    ("checks-config", "unknown field 'hiden'"),
    ("checks-empty", "no checks"),
    ("scheduler-dead", "cannot connect"),
    ("scheduler-form", "expected tcp://HOST:PORT"),
    ("out-other-class", "holds the results of another class"),
    ("out-not-empty", "is not empty and holds no grade.json"),
    ("workers", "must be between 1 and 4096"),
    ("out-inside", "is inside SUBMISSIONS"),
])
def test_bad_input_is_one_line_exit_2(tmp_path, capsys, free_port, case, expected):
    folder = _class(tmp_path)
    out = tmp_path / "out"
    adapter, checks, extra = ADAPTER, CHECKS, []
    if case == "missing":
        folder = tmp_path / "nowhere"
    elif case == "blank":
        folder = ""
    elif case == "empty":
        folder = tmp_path / "empty"
        folder.mkdir()
    elif case == "adapter-missing":
        adapter = str(tmp_path / "none.py") + ":Adapter"
    elif case == "adapter-noclass":
        adapter = ADAPTER.replace(":Adapter", ":Nope")
    elif case == "adapter-syntax":
        (tmp_path / "bad.py").write_text("class Adapter(:\n")
        adapter = str(tmp_path / "bad.py") + ":Adapter"
    elif case == "adapter-import":      # a package the course forgot to install; the student's module is fine
        (tmp_path / "imports.py").write_text("import definitely_not_a_package\nfrom starter import Network\n"
                                             "class Adapter:\n    pass\n")
        adapter = str(tmp_path / "imports.py") + ":Adapter"
    elif case == "adapter-form":
        adapter = "course_adapter.Adapter"
    elif case.startswith("checks"):
        body = {"checks-unknown": 'colour = "red"\n[[check]]\nname = "a"\nkind = "audit"\n',
                "checks-kind": '[[check]]\nname = "a"\nkind = "lint"\n',
                "checks-config": '[[check]]\nname = "a"\nkind = "run"\nhiden = [10]\n',
                "checks-empty": 'preset = "assignment"\n'}[case]
        checks = tmp_path / "checks.toml"
        checks.write_text(body)
    elif case == "scheduler-dead":
        extra = ["--scheduler", f"tcp://127.0.0.1:{free_port}"]
    elif case == "scheduler-form":
        extra = ["--scheduler", "http://127.0.0.1"]
    elif case == "out-other-class":
        out.mkdir()
        (out / "grade.json").write_text(json.dumps({"kind": "lockstep grade", "submissions": "/elsewhere"}))
    elif case == "out-not-empty":
        out.mkdir()
        (out / "notes.txt").write_text("mine")
    elif case == "workers":
        extra = ["--workers", "0"]
    elif case == "out-inside":
        out = folder / "graded"
    code, err = _grade(capsys, folder, "--adapter", adapter, "--checks", checks, "--out", out, *extra)
    assert code == 2, err
    assert len(err.splitlines()) == 1 and expected in err, err
    if case == "out-not-empty":
        assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]      # nothing of the grade's left in it


def test_a_folder_in_use_is_refused(tmp_path, capsys):
    import fcntl
    import os
    out = tmp_path / "out"
    out.mkdir()
    fd = os.open(out / ".lockstep.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        code, err = _grade(capsys, _class(tmp_path), "--adapter", ADAPTER, "--checks", CHECKS, "--out", out)
    finally:
        os.close(fd)
    assert code == 2 and "in use by another lockstep run" in err and len(err.splitlines()) == 1


def test_the_scheduler_probe_gives_up_in_time(monkeypatch):
    """A scheduler that never answers (a black-holed address) is one line after the probe's time-out, not a hang."""
    from comparisons.errors import InputError
    from comparisons.grade import engine

    def never(address, timeout):
        raise socket.timeout("timed out")
    monkeypatch.setattr(engine.socket, "create_connection", never)
    with pytest.raises(InputError, match="no answer within 10 s"):
        engine.probe("tcp://10.255.255.1:8786")


def test_the_default_checks():
    """Without --checks: the audit, a one-epoch float64 synced run and a float32 free run of the assignment
    preset, each run stopping at its first failure, the adapter as the manual side."""
    from comparisons.grade.checks import load_checks
    checks = load_checks(None, ADAPTER)
    assert [(c.name, c.kind) for c in checks.checks] == [("audit", "audit"), ("float64 synced", "run"),
                                                         ("float32 free", "run")]
    synced, free = (c.config(ADAPTER, checks.preset) for c in checks.checks[1:])
    assert (synced.dtype, synced.mode, synced.epochs, synced.fail_fast) == ("float64", "synced", 1, True)
    assert (free.dtype, free.mode, free.epochs, free.fail_fast) == ("float32", "free", 200, True)
    assert synced.hidden == free.hidden == (1000,) and synced.manual == ADAPTER


def test_a_check_of_the_toml_is_read_as_written(tmp_path):
    from comparisons.grade.checks import load_checks
    checks = load_checks(CHECKS, ADAPTER)
    assert [c.name for c in checks.checks] == ["derivations", "float64 synced", "float32 free"]
    assert [c.points for c in checks.checks] == [2.0, 2.0, 1.0]
    assert checks.checks[2].visibility == "after_published" and checks.module == "starter"
    free = checks.checks[2].config(ADAPTER, checks.preset)
    assert (free.hidden, free.epochs, free.dtype, free.fail_fast) == ((64,), 2, "float32", True)   # course.toml


def test_a_port_that_accepts_and_stays_silent_is_one_line_in_time():
    """A real listening socket on 127.0.0.1 that never reads nor writes: refused within the deadline, not a hang."""
    import time

    from comparisons.errors import InputError
    from comparisons.grade import engine
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)                 # the kernel completes the TCP handshake; nothing ever answers
    try:
        address = f"tcp://127.0.0.1:{silent.getsockname()[1]}"
        engine.probe(address)        # the port accepts
        start = time.monotonic()
        with pytest.raises(InputError, match="no Dask scheduler answered within 1 s"):
            engine.hello(address, seconds=1.0)
        assert time.monotonic() - start < 10      # the deadline (1 s) plus room for a loaded machine
    finally:
        silent.close()


def test_quiet_silences_dask_logs():
    """--quiet: Dask's in-process loggers (the scheduler's "marked as failed because 4 workers died") say
    nothing; without it their errors show."""
    import logging

    from comparisons.grade import engine
    try:
        engine.quiet_logs(True)
        assert not any(logging.getLogger(n).isEnabledFor(logging.ERROR) for n in engine.LOGGERS)
        engine.quiet_logs(False)
        assert all(logging.getLogger(n).isEnabledFor(logging.ERROR) for n in engine.LOGGERS)
    finally:
        engine.quiet_logs(False)

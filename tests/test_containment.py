"""Issue 11: the record stays whole and the exit code honest whatever the user's code, the disk or
a second run does (root causes 2, 3, 5, 6, 7, 14, 15). In-process or refused before a worker
starts: fast. The worker-process cases are in test_signals.py."""
import errno
import json
import os
import signal
from pathlib import Path

import pytest

from comparisons import Config, InputError, run
from comparisons.cli.main import main
from tiny_runs import BreaksAtCall, tiny_data, write_idx
from tiny_runs import read_whole as whole

HERE = Path(__file__).resolve().parent
MISBEHAVES = f"{HERE / 'misbehaving.py'}:Misbehaves"
SMALL = dict(hidden=(8,), epochs=1, batch_size=50, lr=0.05)          # 6 steps on 300 training samples
CLI = ["--hidden", "8", "--epochs", "1", "--batch-size", "1000", "--quiet"]


# --- root cause 2: user code raising mid-run --------------------------------------------------

@pytest.mark.parametrize("what,message", [
    ("raise", "step 4 > backward(): RuntimeError: boom"),
    ("memory", "step 4 > backward(): MemoryError"),
    ("exit0", "step 4 > backward(): called sys.exit(0)"),
    ("exit3", "step 4 > backward(): called sys.exit(3)"),
])
def test_user_code_failing_mid_run_fails_the_run_with_a_whole_record(monkeypatch, tmp_path, what, message):
    monkeypatch.setenv("LOCKSTEP_MISBEHAVE", f"{what}@4")
    result = run(Config(**SMALL, manual=MISBEHAVES), tiny_data(), out=tmp_path / "o")
    assert result.status == "failed"
    assert result.first_failure["message"] == message and result.summary["stopped"] == message
    loaded = whole(tmp_path / "o")
    assert loaded.summary["steps"] == 3 and loaded.summary["status"] == "failed"


def test_user_code_failing_before_the_first_step_is_bad_input_and_writes_nothing(monkeypatch, tmp_path):
    monkeypatch.setenv("LOCKSTEP_MISBEHAVE", "raise@0")
    with pytest.raises(InputError, match=r"Misbehaves.backward\(\) failed: RuntimeError: boom"):
        run(Config(**SMALL, manual=MISBEHAVES), tiny_data(), out=tmp_path / "o")
    assert not (tmp_path / "o").exists()


def test_step_is_probed_before_the_run(tmp_path):
    with pytest.raises(InputError, match=r"StepRaises.step\(\) failed: RuntimeError: step boom"):
        run(Config(**SMALL, manual=f"{HERE / 'misbehaving.py'}:StepRaises"), tiny_data(), out=tmp_path / "o")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("manual", [f"{HERE / 'misbehaving.py'}:CannotCopy", "examples/student_adapter.py:Adapter"],
                         ids=["restored", "deep-copied"])
def test_probing_step_leaves_the_class_as_it_was(manual):
    """A velocity changed by the probe's step would make step 1 differ from torch (float64, synced)."""
    result = run(Config(**SMALL, init_velocity=1e-3, dtype="float64", mode="synced", manual=manual), tiny_data())
    assert result.passed, result.first_failure


def test_a_step_with_hidden_momentum_is_refused():
    """Fail closed: optimizer state that cannot be compared would let a wrong velocity pass."""
    with pytest.raises(InputError, match="has its own step\\(\\) but no velocity\\(\\)"):
        run(Config(**SMALL, manual=f"{HERE / 'misbehaving.py'}:HiddenVelocity"), tiny_data())


def test_overwrite_with_a_run_whose_code_raises_leaves_a_readable_record(monkeypatch, tmp_path):
    out = tmp_path / "o"
    run(Config(**SMALL), tiny_data(), out=out)
    monkeypatch.setenv("LOCKSTEP_MISBEHAVE", "raise@2")
    run(Config(**SMALL, manual=MISBEHAVES), tiny_data(), out=out, overwrite=True)
    loaded = whole(out)
    assert loaded.summary["status"] == "failed" and loaded.summary["config"]["manual"] == MISBEHAVES
    assert sorted(p.name for p in out.iterdir()) == ["steps.csv", "summary.json"]   # no lock, no staging left


# --- root cause 3: interrupted mid-step -------------------------------------------------------

def test_a_run_interrupted_mid_step_is_readable_and_reported(tmp_path):
    out = tmp_path / "o"
    result = run(Config(**SMALL), tiny_data(), out=out, manual_loss=BreaksAtCall(3, "interrupt"))   # in step 3
    assert result.status == "interrupted"
    loaded = whole(out)
    assert loaded.summary["steps"] == 2 and loaded.summary["status"] == "interrupted"
    assert loaded.summary["stopped"].startswith("interrupted by SIGINT during step 3 > ")
    from comparisons.report.write import write_report
    markdown = write_report(out).markdown.read_text()
    assert "INTERRUPTED after step 2" in markdown and "interrupted by SIGINT during step 3" in markdown
    from comparisons.pytest_plugin import assert_lockstep
    with pytest.raises(AssertionError, match="Lockstep run interrupted after step 2"):
        assert_lockstep(out, report=False)


# --- root cause 5: a signal while summary.json is being written -------------------------------

def test_sigint_while_the_summary_is_written_ends_interrupted_with_a_whole_record(monkeypatch, tmp_path):
    real_replace, sent = os.replace, []

    def replace_after_ctrl_c(src, dst):
        if str(dst).endswith("summary.json") and not sent:
            sent.append(1)
            signal.raise_signal(signal.SIGINT)      # Ctrl-C, with Python's own handler in place
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace_after_ctrl_c)
    result = run(Config(**SMALL), tiny_data(), out=tmp_path / "o")
    assert sent and result.status == "interrupted"
    assert whole(tmp_path / "o").summary["status"] == "interrupted"


# --- root cause 6: disk full, permission lost -------------------------------------------------

class _DiskFills:
    """os, except that os.write fails with ENOSPC once ``room`` bytes are written, after writing part."""

    def __init__(self, room: int):
        self.room = room

    def write(self, fd, data):
        if len(data) > self.room:
            written = os.write(fd, bytes(data[:self.room]))     # the start of a row lands, as on a real disk
            self.room = 0
            if written:
                return written
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= len(data)
        return os.write(fd, data)

    def __getattr__(self, name):
        return getattr(os, name)


def test_a_full_disk_cuts_steps_csv_back_to_its_last_whole_step(monkeypatch, tmp_path):
    from comparisons.record import recorder
    monkeypatch.setattr(recorder, "FLUSH_SECONDS", 0.0)        # flush every step
    monkeypatch.setattr(recorder, "os", _DiskFills(8_000))
    result = run(Config(**SMALL), tiny_data(), out=tmp_path / "o")
    assert result.status == "failed"
    assert result.summary["stopped"] == f"cannot write {tmp_path / 'o' / 'steps.csv'}: No space left on device"
    loaded = whole(tmp_path / "o")
    assert 0 < loaded.summary["steps"] < 6 and not loaded.frame["passed"].isna().any()


@pytest.mark.slow         # a worker process (~8 s); the fake full disk above runs the same code in-process
@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_a_full_tmpfs_through_the_command_line(tmp_path, capfd):
    import subprocess
    mount = tmp_path / "tiny"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=100k", "tmpfs", str(mount)]).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        idx = write_idx(tmp_path)                 # 93 steps on 310 samples: ~200 kB of steps.csv
        assert main(["run", "--out", str(mount / "r"), *CLI, "--data", idx, "--batch-size", "10", "--epochs", "3"]) == 1
        err = capfd.readouterr().err
        assert err == f"cannot write {mount / 'r' / 'steps.csv'}: No space left on device\n"
        whole(mount / "r")
    finally:
        subprocess.run(["umount", str(mount)])


def test_a_summary_that_cannot_be_written_keeps_the_old_run_and_a_whole_steps_csv(monkeypatch, tmp_path):
    from comparisons.errors import RecordWriteError
    from comparisons.record import atomic
    out = tmp_path / "o"
    run(Config(**SMALL), tiny_data(), out=out)
    before = (out / "steps.csv").read_bytes(), (out / "summary.json").read_bytes()
    real = atomic.write_atomic

    def no_permission(path, data):
        if Path(path).name == "summary.json":
            raise RecordWriteError(f"cannot write {path}: Permission denied")
        return real(path, data)

    monkeypatch.setattr(atomic, "write_atomic", no_permission)
    monkeypatch.setattr("comparisons.record.outdir.write_atomic", no_permission)
    monkeypatch.setattr("comparisons.record.recorder.write_atomic", no_permission)
    with pytest.raises(RecordWriteError, match="summary.json: Permission denied"):
        run(Config(**SMALL, seed=1), tiny_data(), out=out, overwrite=True)
    assert ((out / "steps.csv").read_bytes(), (out / "summary.json").read_bytes()) == before
    assert sorted(p.name for p in out.iterdir()) == ["steps.csv", "summary.json"]
    with pytest.raises(RecordWriteError):                 # a new directory: steps.csv stays, whole
        run(Config(**SMALL), tiny_data(), out=tmp_path / "new")
    assert (tmp_path / "new" / "steps.csv").read_bytes().endswith(b"\n")


# --- root cause 7: one run per output directory -------------------------------------------------

def test_a_second_run_into_a_locked_directory_is_refused(tmp_path, capfd):
    from comparisons.record.outdir import OutDir
    held = OutDir.open(tmp_path / "o", overwrite=False)
    try:
        assert main(["run", "--out", str(tmp_path / "o"), *CLI]) == 2
        err = capfd.readouterr().err
        assert err == (f"lockstep: error: {tmp_path / 'o'} is in use by another lockstep run (it holds "
                       f"{tmp_path / 'o' / '.lockstep.lock'}); wait for it to end or choose another --out\n")
        with pytest.raises(InputError, match="in use by another lockstep run"):
            run(Config(**SMALL), tiny_data(), out=tmp_path / "o", overwrite=True)
    finally:
        held.release()
    assert not (tmp_path / "o").exists()          # the lock file goes with the run that made the directory


# --- root causes 14, 15: --out "", record files that are not regular files ----------------------

def test_an_empty_out_is_bad_input(tmp_path, monkeypatch, capfd):
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--out", "", *CLI]) == 2
    assert capfd.readouterr().err == "lockstep: error: --out is empty: name the directory for steps.csv and summary.json\n"
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(InputError, match="^out is empty"):           # from Python: the API's argument
        run(Config(**SMALL), tiny_data(), out="")


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]], ids=["", "overwrite"])
@pytest.mark.parametrize("kind", ["directory", "dangling symlink", "symlink"])
def test_a_record_file_that_is_not_a_regular_file_is_refused(tmp_path, capfd, kind, overwrite):
    out, outside = tmp_path / "o", tmp_path / "outside.csv"
    out.mkdir()
    if kind == "directory":
        (out / "steps.csv").mkdir()
    else:
        if kind == "symlink":
            outside.write_text("mine\n")
        (out / "steps.csv").symlink_to(outside)
    assert main(["run", "--out", str(out), *CLI, *overwrite]) == 2
    what = "a directory" if kind == "directory" else "a symbolic link"
    assert capfd.readouterr().err == (f"lockstep: error: {out / 'steps.csv'} is {what}; lockstep writes only regular "
                                      "files into --out: remove it or choose another --out\n")
    assert (outside.read_text() == "mine\n") if kind == "symlink" else not outside.exists()
    assert sorted(p.name for p in out.iterdir()) == ["steps.csv"]


# --- the exit code contract, judged by the parent ---------------------------------------------

def _ending(code, exit_mark, step=4, call="backward()", **kw):
    from comparisons.cli.parent import Ending
    from comparisons.heartbeat import Beat
    return Ending(code, Beat(9, step, 1, exit_mark, "step", call), kw.get("signum"), kw.get("timed_out"))


def _locked_copy(src: Path, dst: Path):
    """``dst``: a locked output directory holding ``src``'s record, as the worker would leave it."""
    from comparisons.record.outdir import OutDir
    out = OutDir.open(dst, overwrite=False)
    for name in ("steps.csv", "summary.json"):
        if (src / name).exists():
            (dst / name).write_bytes((src / name).read_bytes())
    return out


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    root = tmp_path_factory.mktemp("records")
    run(Config(**SMALL), tiny_data(), out=root / "passed")
    run(Config(**SMALL, tol=(("update", 0.0),)), tiny_data(), out=root / "failed")
    return root


def test_exit_0_needs_a_clean_exit_0_and_a_whole_passed_record(records, tmp_path, capfd):
    from comparisons.cli.parent import _judge_run
    cases = [("passed", _ending(0, 0), 0),            # the one way to exit 0
             ("failed", _ending(0, 0), 1),            # exit 0 (sys.exit(0) at exit, say) on a failed record
             ("passed", _ending(-9, -1), 1),          # killed after writing a passed summary
             ("passed", _ending(1, 1), 1)]            # exited 1 of its own accord although it had passed
    for i, (record, ending, code) in enumerate(cases):
        out = _locked_copy(records / record, tmp_path / str(i))
        try:
            assert _judge_run(ending, out) == code, (record, ending)
        finally:
            out.release()
        assert whole(tmp_path / str(i)).summary["passed"] == (code == 0)
    summary = json.loads((tmp_path / "2" / "summary.json").read_text())
    assert summary["stopped"] == "step 4 > backward(): the process ended (SIGKILL)"


def test_a_worker_that_died_mid_run_has_its_record_repaired(records, tmp_path, capfd):
    """The progress saved at the last flush: steps.csv cut back to it (a half row dropped)."""
    from comparisons.cli.parent import _judge_run
    out = _locked_copy(records / "passed", tmp_path / "o")
    full = (records / "passed" / "steps.csv").read_bytes()
    cut = full.index(b"\n4,") + 1                               # the rows up to step 3, as flushed
    (tmp_path / "o" / "steps.csv").write_bytes(full + b"6,1,step,gr")   # and half a row after them
    (tmp_path / "o" / "summary.json").unlink()
    progress = {**json.loads((records / "passed" / "summary.json").read_text()), "steps": 3}
    out.save_progress(progress, cut, full[:cut].count(b"\n") - 1)
    try:
        assert _judge_run(_ending(-11, -1, step=5), out) == 1
    finally:
        out.release()
    assert (tmp_path / "o" / "steps.csv").read_bytes() == full[:cut]
    loaded = whole(tmp_path / "o")
    assert loaded.summary["first_failure"]["message"] == "step 5 > backward(): the process ended (SIGSEGV)"
    assert capfd.readouterr().err == (f"lockstep: step 5 > backward(): the process ended (SIGSEGV); "
                                      f"the record holds 3 steps: {tmp_path / 'o'}\n")


def test_help_points_to_the_exit_codes(capfd):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = " ".join(capfd.readouterr().out.split())
    for code in ("0 passed", "1 a check failed", "2 bad input", "130/143/129 interrupted", "README"):
        assert code in text


def test_an_unexpected_error_in_the_worker_is_one_line_not_a_traceback(monkeypatch, capfd):
    """An error no handler expects (MemoryError, a bug of lockstep's) before the first step: exit 2 and
    one line, never a traceback."""
    from comparisons.cli import child
    import comparisons.cli.main as cli

    def boom(args, out):
        raise MemoryError("simulated")
    monkeypatch.setattr(cli, "run_command", boom)
    monkeypatch.setattr(child.interrupts, "defer", lambda: None)   # keep this test process's signal handling
    assert child.work(["run", "--out", "x"], None) == 2
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and "MemoryError: simulated" in err and "Traceback" not in err, err

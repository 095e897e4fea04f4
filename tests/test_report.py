"""lockstep report: the HTML page with its figures and tables, the Markdown twin, run --report."""
import struct

import numpy as np
import pytest

from comparisons.report import sections as report_tables
from comparisons.cli.main import main
from comparisons.report.figures import DPI, FIGSIZE
from comparisons.report.write import write_report
from comparisons import Config, run
from tiny_runs import SMALL, ForgetsOneOverN, make_run, tiny_data

FIGURES = ("loss", "accuracy", "layers", "out", "dx", "grad", "update", "state", "param-drift", "disagreements")
TABLES = ("Summary", "Worst difference per quantity", "Final evaluation", "Setup")
FAST = ["--hidden", "16", "--epochs", "1", "--batch-size", "1000", "--quiet"]


@pytest.fixture(scope="module")
def passed(tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "passed"
    make_run(out)
    return out, write_report(out)


@pytest.fixture(scope="module")
def failed(tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "failed"
    make_run(out, manual_loss=ForgetsOneOverN())
    return out, write_report(out)


def _png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])     # the IHDR chunk: width, height


def test_html_is_self_contained_with_every_figure_and_table(passed):
    out, report = passed
    page = report.html.read_text()
    assert report.html == out / "report.html"
    assert page.count('<img src="data:image/png;base64,') == len(FIGURES)
    for name in FIGURES:
        assert f'id="fig-{name}"' in page
    for title in TABLES:
        assert f"<h2>{title}</h2>" in page
    assert "PASSED: every check within tolerance" in page
    assert "<td>grad</td>" in page and "<td>rel_l2</td>" in page       # a row of the worst-differences table
    assert "http" not in page.replace("http://www.w3.org", "")          # nothing to fetch: opens offline


def test_a_figure_is_a_png_of_the_set_size(passed):
    out, report = passed
    grad = out / "report-grad.png"
    assert grad in report.figures
    assert _png_size(grad) == (FIGSIZE[0] * DPI, FIGSIZE[1] * DPI)
    assert 5_000 < grad.stat().st_size < 500_000


def test_markdown_twin_has_the_tables_and_links_the_figures(passed):
    out, report = passed
    text = report.markdown.read_text()
    assert text.startswith(f"# lockstep report: {out}\n") and "**PASSED: every check within tolerance**" in text
    for title in TABLES:
        assert f"## {title}\n" in text
    assert "| quantity | worst | allowed | of allowance | metric | where |" in text
    for name in FIGURES:
        assert f"(report-{name}.png)" in text and (out / f"report-{name}.png").is_file()
    assert "data:image" not in text                                      # small enough for a CI job summary


def test_files_are_written_whole(passed):
    out, _ = passed
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")], "no temporary files left"


def test_failed_run_report_names_the_failure_and_its_diagnosis(failed):
    out, report = failed
    page, text = report.html.read_text(), report.markdown.read_text()
    for doc in (page, text):
        assert "FAILED: step 1 &gt; dx &gt; loss: rel_l2 9.9e+01" in doc or \
               "FAILED: step 1 > dx > loss: rel_l2 9.9e+01" in doc
        assert "(= N = 100, the batch size)" in doc                     # the diagnosis' finding
    assert "| first failure | step 1 > dx > loss |" in text
    assert 'id="fig-first-failure"' in page and "(report-first-failure.png)" in text


def test_failed_run_keeps_the_first_failures_arrays_for_its_heat_map(failed):
    from comparisons.record.failure_array import load
    out, _ = failed
    arrays = load(out)
    assert (arrays.step, arrays.quantity, arrays.name, arrays.against) == (1, "dx", "loss", "float64 referee")
    assert arrays.manual.shape == arrays.reference.shape == (100, 10)     # dL/dscores of a batch of 100
    np.testing.assert_allclose(arrays.manual, 100 * arrays.reference, rtol=1e-4, atol=1e-6)   # the slip: x N


def test_first_failure_arrays_are_refused_unless_plain_arrays(tmp_path):
    from comparisons.errors import InputError
    from comparisons.record.failure_array import FILE, load
    assert load(tmp_path) is None                                           # a passed run has none
    np.savez(tmp_path / FILE, manual=np.array([object()]), reference=np.zeros(1), step=1, quantity="grad",
             name="fc1.weight", against="torch")
    with pytest.raises(InputError, match=r"first_failure.npz: unreadable \(Object arrays cannot be loaded"):
        load(tmp_path)                                                      # allow_pickle=False: no code runs
    np.savez(tmp_path / FILE, manual=np.zeros(3), reference=np.zeros(4), step=1, quantity="grad",
             name="fc1.weight", against="torch")
    with pytest.raises(InputError, match="not two float arrays of one shape"):
        load(tmp_path)
    for bad in ({"step": np.arange(2)}, {"step": "abc"}, {"name": np.array(["a", "b"])}):     # review: tracebacks
        np.savez(tmp_path / FILE, **{"manual": np.zeros(3), "reference": np.zeros(3), "step": 1, "quantity": "grad",
                                     "name": "fc1.weight", "against": "torch"} | bad)
        with pytest.raises(InputError, match="step is not one integer"):
            load(tmp_path)
    (tmp_path / FILE).write_bytes(b"not a zip")
    with pytest.raises(InputError, match="unreadable"):
        load(tmp_path)


def test_overwrite_removes_the_replaced_runs_first_failure_arrays(tmp_path):
    out = tmp_path / "run"
    make_run(out, manual_loss=ForgetsOneOverN())
    assert (out / "first_failure.npz").is_file()
    run(Config(**SMALL), tiny_data(), out=out, overwrite=True)
    assert not (out / "first_failure.npz").exists()


@pytest.fixture
def drawn(monkeypatch):
    """The matplotlib Figures the report draws, by chart name (figures._png is wrapped)."""
    from comparisons.report import figures
    seen = []
    original = figures._png

    def keep(fig):
        seen.append(fig)
        return original(fig)
    monkeypatch.setattr(figures, "_png", keep)

    def render(run_dir):
        from comparisons.record.rundir import load_run
        seen.clear()
        charts = figures.render(load_run(run_dir))
        return {c.name: fig for c, fig in zip(charts, seen)}
    return render


def _legend_texts(fig) -> list[str]:
    return [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]


def test_figures_mark_the_failure_in_black_and_keep_legends_off_the_data(failed, drawn):
    from matplotlib.colors import to_rgba
    out, _ = failed
    figs = drawn(out)
    assert {"layers", "first-failure"} <= set(figs)
    for name, fig in figs.items():
        for ax in fig.axes:
            legend = ax.get_legend()
            if legend is not None:       # right of every axes of its figure: never over a data line
                fig.canvas.draw()
                right = max(a.get_position().x1 for a in fig.axes)
                assert legend.get_window_extent().x0 >= right * fig.bbox.width, name
    grad = figs["grad"].axes[0]
    marker = [line for line in grad.get_lines() if line.get_linestyle() == "-."]
    assert len(marker) == 1 and to_rgba(marker[0].get_color()) == to_rgba("k")
    data = [line for line in grad.get_lines() if str(line.get_label()).startswith("fc")]
    assert data and all(to_rgba(line.get_color()) != to_rgba("k") for line in data)
    assert any(t.startswith("first failure: step 1 > dx > loss") for t in _legend_texts(figs["grad"]))
    assert {"fc1", "relu1", "fc2", "loss"} <= set(_legend_texts(figs["layers"]))


def test_a_tolerance_is_drawn_only_where_the_quantity_is_gated(passed, drawn):
    out, _ = passed
    figs = drawn(out)
    drift = figs["param-drift"].axes[0]            # free mode's drift: recorded, never gated
    assert "tolerance: not gated" in _legend_texts(figs["param-drift"])
    assert not drift.collections and all(len(line.get_xdata()) == 0 for line in drift.get_lines()
                                         if line.get_linestyle() == ":")
    grad = figs["grad"].axes[0]
    assert "tolerance" in _legend_texts(figs["grad"]) and grad.collections       # gated: the line is there


@pytest.mark.parametrize("summary,lines", [
    pytest.param({}, [], id="absent"),
    pytest.param({"diagnosis": None}, [], id="null"),
    pytest.param({"diagnosis": "dL/dlogits lacks 1/N"}, ["dL/dlogits lacks 1/N"], id="string"),
    pytest.param({"diagnosis": ["a", "b"]}, ["a", "b"], id="list"),
    pytest.param({"first_failure": {"diagnosis": ["under first_failure"]}}, ["under first_failure"],
                 id="in-first-failure"),
    pytest.param({"diagnosis": {"where": "step 1", "first_divergence": "backward > grad > output.bias",
                                "findings": ["bias averaged"], "kink_flips": 2, "extra": 1}},
                 ["step 1: first divergence at backward > grad > output.bias", "bias averaged",
                  "branch points where the referee followed the manual side (within rounding): 2", "extra: 1"], id="dict"),
])
def test_diagnosis_reads_in_every_form(summary, lines):
    assert report_tables.diagnosis(summary) == lines


def test_report_makes_its_directory_and_refuses_a_file(passed, capsys):
    out, _ = passed
    assert main(["report", str(out), "--out", str(out / "new" / "dir")]) == 0
    assert (out / "new" / "dir" / "report.html").is_file()
    capsys.readouterr()
    (out / "afile").write_text("x")
    assert main(["report", str(out), "--out", str(out / "afile")]) == 2
    assert capsys.readouterr().err == f"lockstep: error: report directory {out / 'afile'}: not a directory\n"


def test_run_with_report_writes_it_and_overwrite_removes_a_stale_one(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", "--out", str(out), *FAST[:-1], "--report"]) == 0
    assert f"report: {out / 'report.html'}  {out / 'report.md'}" in capsys.readouterr().out
    assert (out / "report.html").is_file() and (out / "report-grad.png").is_file()
    assert main(["run", "--out", str(out), *FAST, "--overwrite"]) == 0       # no --report this time
    assert not list(out.glob("report*")), "a report of the replaced run must not survive beside the new one"


@pytest.mark.parametrize("run_code,code", [(0, 2), (1, 1), (130, 130)], ids=["passed", "failed", "interrupted"])
def test_a_report_that_cannot_be_written_keeps_a_failing_runs_code(monkeypatch, capsys, run_code, code):
    from comparisons.cli import report as cli_report
    from comparisons.report import write as report
    from comparisons.errors import InputError

    def refuse(out):
        raise InputError(f"cannot write {out}/report.html: Read-only file system")
    monkeypatch.setattr(report, "write_report", refuse)
    assert cli_report.report_after_run("runs/x", run_code, quiet=False) == code
    assert capsys.readouterr().err == \
        "lockstep: error: report not written: cannot write runs/x/report.html: Read-only file system\n"


def test_atomic_write_replaces_whole_and_names_what_it_cannot_write(tmp_path):
    import stat

    from comparisons.record.atomic import FILE_MODE, write_atomic
    from comparisons.errors import InputError
    target = write_atomic(tmp_path / "a.md", "old")
    write_atomic(target, "new")
    assert target.read_text() == "new" and stat.S_IMODE(target.stat().st_mode) == FILE_MODE
    assert [p.name for p in tmp_path.iterdir()] == ["a.md"]
    with pytest.raises(InputError, match=r"^cannot write .*/missing/b\.png: No such file or directory$"):
        write_atomic(tmp_path / "missing" / "b.png", b"")


@pytest.mark.parametrize("used,text", [(0.4, "40%"), (12.3, "12x"), (9.9e13, "> 1e6x"), (float("inf"), "over")])
def test_share_of_allowance_reads_as_a_size_not_a_digit_string(used, text):
    from comparisons.report.sections import percent_of_allowance
    assert percent_of_allowance(used) == text


FAILED_BYO = {"status": "failed", "config": {"manual": "/c/net.py:Net", "model": "linear:16, relu, linear",
                                             "dtype": "float32", "mode": "free"}}


def test_next_step_names_the_cli_command_on_the_command_line_and_the_python_call_from_python():
    from comparisons.errors import cli_words
    python = report_tables.next_steps(FAILED_BYO)
    assert "`comparisons.audit(manual='/c/net.py:Net')`" in python
    assert "run it again with `dtype='float64', mode='synced'`" in python
    assert "lockstep audit" not in python and "--" not in python
    with cli_words():
        cli = report_tables.next_steps(FAILED_BYO)
    assert "`lockstep audit --manual /c/net.py:Net`" in cli and "re-run with `--dtype float64 --mode synced`" in cli
    assert "comparisons." not in cli and "=" not in cli
    passed = {"status": "passed", "config": {}}
    assert report_tables.next_steps(passed).endswith("`lockstep compare BASELINE_DIR NEW_DIR` (in a terminal).")
    with cli_words():
        assert report_tables.next_steps(passed).endswith("`lockstep compare BASELINE_DIR NEW_DIR`.")

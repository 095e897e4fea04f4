"""A graded class read back from Python (comparisons.grade.class_result): no cluster, the class's folder
written by grade's own writers (results.claim, results.build, results.write) for three submissions."""
import html

import pytest

from comparisons.errors import InputError
from comparisons.grade import class_result, results

CHECKS = [{"name": "audit", "kind": "audit", "points": 1.0, "visibility": "visible"},
          {"name": "run", "kind": "run", "points": 2.0, "visibility": "visible"}]
SLIP = "backward > fc2 (linear) > grad fc2.weight: a constant factor: manual = 100 x reference (= N)"


def _graded(tmp_path):
    out = tmp_path / "graded"
    out.mkdir()
    results.claim(out, tmp_path / "class", "/c/adapter.py:Adapter")
    outcomes = {
        "carol": [{"verdict": "passed", "derivations": {"fc1.weight": "ok"}}, {"verdict": "passed"}],
        "alice": [{"verdict": "failed", "message": "fc1.weight: off", "diagnosis": SLIP,
                   "derivations": {"fc1.weight": "FAIL"}},
                  {"verdict": "failed", "message": "step 1 > grad > fc2.weight", "diagnosis": SLIP,
                   "first_divergence": "backward > fc2 (linear) > grad"}],
        "bob": [{"verdict": "failed", "message": "fc1.weight: off", "diagnosis": SLIP,
                 "derivations": {"fc1.weight": "FAIL"}},
                {"verdict": "error", "message": "ImportError: no module starter"}],
    }
    for name, checks in outcomes.items():
        job = {"name": name, "who": name.title(), "layout": "plain", "key": name, "checks": CHECKS,
               "timeout": 600.0, "memory_mb": 2048.0}
        result = results.build(job, {"checks": checks, "seconds": 1.5}, "/c/adapter.py:Adapter")
        results.write(results.folder(out, name), result)
    return out


def test_a_graded_class_shows_itself_in_one_line_and_in_a_notebook(tmp_path):
    out = _graded(tmp_path)
    graded = class_result.load(out)
    assert [r["name"] for r in graded.results] == ["alice", "bob", "carol"]
    assert graded.passed == 1 and graded.pass_rate() == "1/3 (33%)"
    text = repr(graded)
    assert text == f"ClassResult(3 submissions, passed 1/3 (33%): passed 1, failed 1, error 1, out={str(out)!r})"
    page = graded._repr_html_()
    assert "passed every check: 1/3 (33%)" in page
    for title in ("Verdicts per check", "Most common diagnoses", "Most common errors", "Submissions"):
        assert f"<h4>{title}</h4>" in page or f"<h4>{title} (" in page, title
    assert f"<td>{html.escape(SLIP)}</td><td>2</td><td>alice, bob</td>" in page     # shared by two submissions
    assert "<td>bob</td><td>Bob</td><td>error</td><td>0/3</td><td>failed</td><td>error</td>" in page  # the worst check


def test_a_folder_that_is_not_a_graded_class_is_refused_in_one_line(tmp_path):
    with pytest.raises(InputError, match="not a grade's output folder"):
        class_result.load(tmp_path)
    (tmp_path / "empty").mkdir()
    results.claim(tmp_path / "empty", tmp_path / "class", "/c/adapter.py:Adapter")
    with pytest.raises(InputError, match="no submission has been graded"):
        class_result.load(tmp_path / "empty")

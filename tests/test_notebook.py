"""examples/notebook.ipynb runs top to bottom (nbclient, on a kernel of this interpreter: tools/notebooks.py),
and a student sees the verdict and the cause of a missing-1/N slip in it without opening a file, then
the audit's finding on each derivation."""
from pathlib import Path

import pytest

pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

from tools import notebooks  # noqa: E402

NOTEBOOK = Path(__file__).resolve().parent.parent / "examples" / "notebook.ipynb"


def test_notebook_runs_and_shows_the_verdict_and_the_cause(tmp_path):
    nb = notebooks.execute(NOTEBOOK, tmp_path, timeout=300)     # CellExecutionError names a failing cell
    texts = notebooks.outputs(nb)
    shown = "\n".join(texts)
    assert "Traceback" not in shown
    assert "IProgress not found" not in shown         # tqdm.auto's warning is not shown to the student
    first_run = next(t for t in texts if "RunResult(" in t)
    assert "PASSED: every check within tolerance" in first_run
    assert "Worst difference per quantity" in first_run
    slip = next(t for t in texts if "Forgot1N" in t and "RunResult(" in t)
    assert "FAILED: step 1 &gt; grad &gt; fc2.weight" in slip          # the verdict, in the rendered result
    assert ("Cause: backward &gt; fc2 (linear) &gt; grad fc2.weight: a constant factor: manual = 100 × reference "
            "(= N = 100, the batch size)") in slip
    # what the notebook wrote landed in its working folder, not in the repository
    assert (tmp_path / "my_mlp.py").is_file() and not (NOTEBOOK.parent / "my_mlp.py").exists()
    figures = sorted((tmp_path / "runs" / "my_mlp_slip").glob("report-*.png"))
    assert figures and (tmp_path / "runs" / "my_mlp_slip" / "report.html").is_file()
    assert slip.count('<img src="data:image/png;base64,') == len(figures)   # every figure shown inline
    assert 'id="fig-first-failure"' in slip and slip.index("Cause:") < slip.index("<img")
    assert "run `comparisons.audit(manual=&#x27;" in slip and "lockstep audit" not in slip   # the API's words
    audited = next(t for t in texts if "AuditResult(" in t)
    assert "AuditResult('FAILED: fc1.weight, fc1.bias, fc2.weight, fc2.bias', derivations=4)" in audited
    assert "a constant factor: manual = 8 × reference (= N = 8, the batch size)" in audited
    assert "Next: fix the derivations marked FAIL" in audited


def test_kernel_spec_runs_this_interpreter(tmp_path):
    import json
    import sys
    folder = notebooks.write_kernel_spec(tmp_path)
    spec = json.loads((folder / "kernels" / notebooks.KERNEL / "kernel.json").read_text())
    assert spec["argv"][0] == sys.executable and "{connection_file}" in spec["argv"]

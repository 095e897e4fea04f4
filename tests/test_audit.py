"""lockstep audit reaches autograd on code as students write it (issue 10, item 7).

The fixtures in tests/students/ are student files in three styles, each with
its adapter in a module of its own. A slip is one line of the student's file
changed (``slipped``), as a student would have written it.
"""
import html
import math
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest
import torch

from comparisons.cli.main import main
from comparisons.config import Config
from comparisons.explain import torch_numpy
from comparisons.explain.audit import SIZES, Unavailable, _autograd, _case, _layers, audit, network_sizes
from comparisons.explain.torch_numpy import NP, constant
from comparisons.sides.byo import ByoSide, load_class

STUDENTS = Path(__file__).parent / "students"
STUDENT_FILE = {"cs231n": "cs231n_net", "nnfs": "nnfs_layers", "idioms": "idioms_net"}


def spec(name: str, cls: str = "Adapter") -> str:
    return f"{STUDENTS / name}_adapter.py:{cls}"


def slipped(tmp_path: Path, name: str, *edits: tuple[str, str]) -> str:
    """A copy of a student file with each ``(old, new)`` edit made once, and a copy of its adapter
    importing it (a new module name, so the unedited file already imported is not reused)."""
    student = STUDENT_FILE[name]
    text = (STUDENTS / f"{student}.py").read_text()
    for old, new in edits:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    module = f"{student}_slip{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text(text)
    adapter = (STUDENTS / f"{name}_adapter.py").read_text()
    (tmp_path / f"{name}_adapter.py").write_text(adapter.replace(f"from {student} import", f"from {module} import"))
    return f"{tmp_path / name}_adapter.py:Adapter"


def by_name(rows):
    return {r.derivation: r for r in rows}


# --- autograd is reached ------------------------------------------------------------

@pytest.mark.parametrize("manual", ["examples/student_adapter.py:Adapter", spec("cs231n"), spec("nnfs"), spec("idioms")])
def test_autograd_reaches_correct_student_code(manual):
    """The adapter builds a new dict (student_adapter, nnfs, idioms) or returns a live one (cs231n);
    the student's code lives in another module than the adapter; every row is checked by autograd."""
    rows, notes = audit(manual)
    assert [r.derivation for r in rows] == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    for r in rows:
        assert r.verdict == "ok", r
        assert r.autograd_err <= 1e-12, r       # measured <= 1.4e-14 (idioms), ~4e-16 (the others)
        assert r.fd_err <= 1e-6, r
    assert notes == []


def test_autograd_reaches_parameters_that_are_views_of_one_buffer():
    """parameters() and forward() both slice one flat vector; softmax comes from a helper module."""
    rows, notes = audit(f"{STUDENTS}/flat_net.py:Flat")
    assert all(r.verdict == "ok" and r.autograd_err <= 1e-12 for r in rows) and notes == []


def test_autograd_reaches_the_seed(capfd):
    rows, notes = audit("seed")
    rows = by_name(rows)
    assert not any("autograd unavailable" in n for n in notes)
    for name in ("dlogits", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "dp/dO"):
        assert not math.isnan(rows[name].autograd_err) and rows[name].verdict == "FAIL"
    assert "approximately a factor 80.0094 (≈ N·K = 80)" in rows["dlogits"].finding


# --- slips are found ----------------------------------------------------------------

SLIPS = [
    # (student, (old, new), rows that fail, what the finding of the first failing row says)
    ("cs231n", ("        dscores /= N\n", ""), {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"},
     ("fc2.bias", "a constant factor: manual = 8 × reference (= N = 8, the batch size)")),
    ("cs231n", ("dhidden[hidden <= 0] = 0", "dhidden[hidden < 0] = 0"), {"fc1.weight", "fc1.bias"},
     ("fc1.bias", "differs throughout")),         # hidden >= 0: the ReLU mask never applies
    ("nnfs", ("self.dbiases = np.sum(dvalues, axis=0, keepdims=True)",
              "self.dbiases = np.mean(dvalues, axis=0, keepdims=True)"), {"fc1.bias", "fc2.bias"},
     ("fc1.bias", "a constant factor: manual = 0.125 × reference (= 1/N = 1/8)")),
    ("idioms", ("dW1 = self.X.T @ dz + 2 * self.decay * self.W1", "dW1 = self.X.T @ dz + self.decay * self.W1"),
     {"fc1.weight"}, ("fc1.weight", "beyond a constant factor, off in 'random'")),
]


@pytest.mark.parametrize("name,edit,failing,finding", SLIPS, ids=lambda v: v if isinstance(v, str) else None)
def test_a_slip_is_found_by_autograd(tmp_path, name, edit, failing, finding):
    rows = by_name(audit(slipped(tmp_path, name, edit))[0])
    assert {n for n, r in rows.items() if r.verdict == "FAIL"} == failing
    assert all(r.autograd_err > 1e-3 for n, r in rows.items() if n in failing)      # autograd, not FD only, found it
    assert all(r.verdict == "ok" for n, r in rows.items() if n not in failing)
    row, text = finding
    assert text in rows[row].finding, rows[row].finding


# --- exact kinks ----------------------------------------------------------------------

def test_relu_derivative_one_at_zero_is_reported_as_a_convention(tmp_path, capfd):
    manual = slipped(tmp_path, "nnfs", ("self.dinputs[self.inputs <= 0] = 0", "self.dinputs[self.inputs < 0] = 0"))
    rows = by_name(audit(manual)[0])
    assert rows["fc1.bias"].verdict == "convention"
    assert rows["fc1.bias"].finding == ("at z == 0 exactly your backward uses derivative 1 (the slope for z > 0); "
                                           "torch uses 0: a convention, not a slip (case 'zero pre-activations')")
    assert all(rows[n].verdict == "ok" for n in ("fc1.weight", "fc2.weight", "fc2.bias"))
    assert main(["audit", "--manual", manual]) == 0           # not a failure of the derivation ...
    assert "at z == 0 exactly your backward uses derivative 1" in capfd.readouterr().out    # ... and not hidden


def test_the_kink_convention_is_reported_without_autograd_too(tmp_path):
    """np.random in the forward: central differences only; one-sided differences see the kink."""
    manual = slipped(tmp_path, "idioms", ("dz = (d @ self.W2.T) * (self.z > 0)", "dz = (d @ self.W2.T) * (self.z >= 0)"),
                     ("h = np.maximum(h, 0)  ", "h = np.maximum(h, 0) * (np.random.rand(*h.shape) < 2)  "))
    rows, notes = audit(manual)
    row = by_name(rows)["fc1.bias"]
    assert math.isnan(row.autograd_err) and row.verdict == "convention"
    assert "your backward uses the derivative from z > 0 (1 for a ReLU; judged by one-sided differences" in row.finding


# --- when autograd cannot run: one line saying why --------------------------------------

def test_an_unsupported_call_is_named_with_its_line(tmp_path):
    manual = slipped(tmp_path, "idioms", ("h = np.maximum(h, 0)  ", "h = np.maximum(h, 0) * (np.random.rand(*h.shape) < 2)  "))
    rows, notes = audit(manual)
    assert all(r.verdict == "ok" and math.isnan(r.autograd_err) for r in rows)
    (line,) = [n for n in notes if "autograd unavailable" in n]
    assert line.startswith("autograd unavailable: np.random.rand is not in the torch stand-in at idioms_net_slip")
    assert ".py:31 `h = np.maximum(h, 0) * (np.random.rand(*h.shape) < 2)" in line


# --- sizes the class fixes --------------------------------------------------------------

def test_sizes_come_from_a_class_that_fixes_them():
    for cls, sizes in (("Adapter", SIZES), ("FixedInOut", (784, 16, 10)), ("Fixed784", (784, 50, 10))):
        assert network_sizes(load_class(spec("cs231n", cls)), spec("cs231n", cls)) == sizes
    rows, notes = audit(spec("cs231n", "Fixed784"))
    assert all(r.verdict == "ok" and r.autograd_err <= 1e-12 for r in rows)
    assert notes == ["the class fixes its own widths: audited as 784-50-10"]


# --- everything is put back -------------------------------------------------------------

def _state(side):
    objs = [side.net, side.net.dense1, side.net.relu, side.net.dense2, side.net.head]
    return [(id(o), {k: id(v) for k, v in vars(o).items()}) for o in objs]


@pytest.mark.parametrize("edit", [None, ("self.output = np.maximum(0, inputs)",
                                          "self.output = np.maximum(0, inputs) * np.random.rand()")])
def test_autograd_leaves_the_network_and_its_modules_as_they_were(tmp_path, edit):
    """Attributes, dicts, array values, ``np`` in the student's module and torch's default dtype are
    as before, also when the forward fails half-way (the second layer's forward raises)."""
    manual = spec("nnfs") if edit is None else slipped(tmp_path, "nnfs", edit)
    params, x, y = _case("random", np.random.default_rng(0), SIZES)
    side = ByoSide(load_class(manual), _layers(SIZES), Config(hidden=SIZES[1:-1], dtype="float64", manual=manual), init=params)
    side._forward(x, y)
    layers_module = sys.modules[type(side.net.dense1).__module__]
    before, dtype = _state(side), torch.get_default_dtype()
    values = {k: v.copy() for k, v in side.params.items()}
    if edit is None:
        _autograd(side, x, y, "fc1")
    else:
        with pytest.raises(Unavailable, match="np.random.rand is not in the torch stand-in at nnfs_layers_slip"):
            _autograd(side, x, y, "fc1")
    assert _state(side) == before
    assert layers_module.np is np and torch.get_default_dtype() == dtype
    assert all(np.array_equal(side.params[k], v) for k, v in values.items())


# --- the stand-in against NumPy ---------------------------------------------------------

IDIOMS = {
    "sum axis keepdims": lambda np, a, y: np.sum(a, axis=1, keepdims=True),
    "sum all keepdims": lambda np, a, y: a.sum(keepdims=True),
    "method max": lambda np, a, y: a.max(axis=1, keepdims=True),
    "max over a tuple of axes": lambda np, a, y: np.max(a[None], axis=(0, 2)),
    "mean": lambda np, a, y: a.mean(axis=0),
    "size ndim shape": lambda np, a, y: a * (a.size + a.ndim + a.shape[1]),
    ".T on 3-D": lambda np, a, y: a.reshape(2, 3, 4).T,
    "transpose axes": lambda np, a, y: a.reshape(2, 3, 4).transpose(1, 0, 2),
    "dot": lambda np, a, y: a.dot(a.T),
    "einsum": lambda np, a, y: np.einsum("ij,kj->ik", a, a),
    "arange indexing": lambda np, a, y: a[np.arange(len(y)), y],
    "eye indexing": lambda np, a, y: np.eye(4)[y] * a,
    "boolean mask": lambda np, a, y: a[a > 0.5],
    "masked assignment": lambda np, a, y: (lambda c: (c.__setitem__(c < 0.3, 0.0), c)[1])(a.copy()),
    "where": lambda np, a, y: np.where(a > 0.5, a, 0),
    "clip out=": lambda np, a, y: (lambda c: (np.clip(c, 0.2, 0.7, out=c), c)[1])(a.copy()),
    "in place": lambda np, a, y: (lambda c: (c.__iadd__(1.0), c.__itruediv__(c.sum(axis=1, keepdims=True)), c)[2])(a * 1),
    "maximum": lambda np, a, y: np.maximum(0, a - 0.5) + np.minimum(a, 0.5),
    "elementwise": lambda np, a, y: np.tanh(a) + np.sqrt(a) + np.log1p(a) + np.square(a) + np.abs(-a) + np.exp(a),
    "astype float32": lambda np, a, y: a.astype(np.float32),
    "argmax": lambda np, a, y: a.argmax(axis=1),
    "zeros float64": lambda np, a, y: np.zeros((2, 3)) + np.ones_like(a[:2, :3]),
}


@pytest.mark.parametrize("idiom", IDIOMS)
def test_the_stand_in_computes_what_numpy_does(idiom):
    rng = np.random.default_rng(0)
    a, y = rng.random((6, 4)), rng.integers(0, 4, 6)
    want = IDIOMS[idiom](np, a.copy(), y)
    with torch_numpy.numpy_as_torch([]):
        got = IDIOMS[idiom](NP, constant(a), constant(y))
    assert got.shape == want.shape
    assert str(got.dtype).split(".")[-1] == str(want.dtype)
    np.testing.assert_allclose(got.detach().numpy(), want, rtol=1e-14, atol=0)   # measured: equal, or 1 ulp


# --- the result, from Python ----------------------------------------------------------------------------

def test_the_result_unpacks_and_shows_itself_in_one_line_and_in_a_notebook():
    from comparisons import audit as api_audit
    result = api_audit(manual="seed")
    rows, notes = result                                       # callers that unpack (rows, notes) keep working
    assert rows is result.rows and notes is result.notes and not result.passed
    text = repr(result)
    assert text.startswith("AuditResult('FAILED: dlogits, ") and "\n" not in text and len(text) < 300
    page = result._repr_html_()
    assert "<strong>FAILED: dlogits, " in page and "<th>vs autograd</th>" in page
    assert html.escape(by_name(rows)["dlogits"].finding) in page        # each derivation's finding
    assert "Next: fix the derivations marked FAIL" in page


def test_a_passing_audit_names_the_lockstep_run_as_its_next_step_in_the_callers_words():
    from comparisons.errors import cli_words
    manual = spec("cs231n")
    result = audit(manual)
    assert result.passed and repr(result) == "AuditResult('PASSED: every derivation holds', derivations=4)"
    assert html.escape(f"comparisons.run(Config(manual={manual!r}, dtype='float64', mode='synced'))") in result._repr_html_()
    with cli_words():
        assert f"`lockstep run --manual {manual} --dtype float64 --mode synced`" in result.next_step()
    import copy
    import pickle
    for again in (copy.copy(result), copy.deepcopy(result), pickle.loads(pickle.dumps(result))):   # review
        assert again == result and again.manual == manual and again.rows == result.rows and again.passed

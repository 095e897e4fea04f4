"""``lockstep layers FILE.py`` (issue 14): function-style layer files against torch.

examples/cs231n_layers/layers.py is correct and passes; layers_slips.py has one slip per marked line,
each found at its layer and output. Variants of the correct file (one edit, ``edited``) check the
rest: bad input, the naming map, code that raises, exits, crashes or hangs.
"""
import csv
import time
import uuid
from pathlib import Path

import pytest

from comparisons.cli.main import main
from comparisons.errors import InputError
from comparisons.explain.layer_refs import KNOWN
from comparisons.explain.layers_file import check_file, exit_code

EXAMPLES = Path(__file__).parent.parent / "examples" / "cs231n_layers"
CORRECT = EXAMPLES / "layers.py"
SLIPS = EXAMPLES / "layers_slips.py"


def edited(tmp_path: Path, *edits: tuple[str, str], append: str = "") -> str:
    """A copy of the correct file with each ``(old, new)`` edit made once (a new file name: a new module)."""
    text = CORRECT.read_text()
    for old, new in edits:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    path = tmp_path / f"layers_{uuid.uuid4().hex[:8]}.py"
    path.write_text(text + append)
    return str(path)


def by_name(layers) -> dict:
    return {layer.name: layer for layer in layers}


@pytest.fixture(scope="module")
def correct():
    start = time.perf_counter()
    layers = check_file(str(CORRECT))
    return layers, time.perf_counter() - start


@pytest.fixture(scope="module")
def slips():
    return by_name(check_file(str(SLIPS)))


def test_the_correct_file_passes_every_known_layer(correct):
    layers, seconds = correct
    assert [layer.name for layer in layers] == list(KNOWN)          # every known layer is in the example
    assert all(layer.verdict == "pass" for layer in layers), [l.line() for l in layers if l.verdict != "pass"]
    assert exit_code(layers) == 0
    checks = [c for layer in layers for c in layer.checks]
    assert {c.dtype for c in checks} == {"float64", "float32"}
    assert not any(c.verdict == "convention" for c in checks)
    # float64 values within a few ulps of torch (measured <= 1.4e-14: batchnorm with a constant feature)
    assert max(c.rel_l2 for c in checks if c.dtype == "float64" and c.rule != "check") < 1e-13
    assert seconds < 30


@pytest.mark.parametrize("layer, output, finding", [
    ("batchnorm", "dgamma", "not summed over axis 0"),
    ("spatial_batchnorm", "dgamma", "not summed over axis 0"),
    ("dropout", "dx", "a constant factor: manual = 0.7 × reference (= p, the keep probability)"),
    ("conv", "dw", "not summed over axis 0: the manual value has shape (2, 4, 3, 3, 3)"),
    ("max_pool", "dx", "differs exactly where a window has tied maxima"),
    ("lstm_step", "next_h", "read as i, f, g, o"),
    ("lstm", "h", "read as i, f, g, o"),
    ("temporal_softmax_loss", "dx", "differs exactly where the time step is masked"),
])
def test_each_slip_is_found_at_its_layer_and_output(slips, layer, output, finding):
    found = slips[layer]
    assert found.verdict == "FAIL"
    assert found.text.startswith(output + ":") or found.text.startswith(f"batchnorm_backward_alt > {output}:"), \
        found.text
    assert finding in found.text, found.text


def test_the_slips_leave_the_other_layers_alone(slips):
    failed = {name for name, layer in slips.items() if layer.verdict == "FAIL"}
    assert failed == {"batchnorm", "spatial_batchnorm", "dropout", "conv", "max_pool", "lstm_step", "lstm",
                      "temporal_softmax_loss"}
    # batchnorm's graph backward is right: only the _alt one is named
    assert {c.backward for c in slips["batchnorm"].checks if c.verdict == "FAIL"} == {"batchnorm_backward_alt"}


def test_relu_at_zero_is_a_convention_not_a_failure(slips):
    relu = slips["relu"]
    assert relu.verdict == "pass"
    assert "the derivative at x = 0 is 1" in relu.text
    (conv,) = [c for c in relu.checks if c.verdict == "convention"]
    assert conv.case == "exact zeros at the kink" and conv.output == "dx"


def test_a_sample_alone_and_a_float32_computation_are_named(tmp_path):
    path = edited(tmp_path,
                  ("    dw = x.reshape(x.shape[0], -1).T @ dout\n",
                   "    dw = x.reshape(x.shape[0], -1)[-1:].T @ dout[-1:]\n"),
                  ("    return dout * cache * (1 - cache)",
                   "    return (dout * cache * (1 - cache)).astype(np.float32).astype(dout.dtype)"))
    layers = by_name(check_file(path))
    assert "dw: the manual value is sample 3's gradient alone (of N = 4)" in layers["affine"].text
    assert "part of the manual computation runs in float32" in layers["sigmoid"].text


def test_dropout_with_p_as_the_drop_probability_is_caught(tmp_path):
    path = edited(tmp_path, ("mask = (np.random.rand(*x.shape) < p) / p",
                             "mask = (np.random.rand(*x.shape) >= p) / p"))
    dropout = by_name(check_file(path))["dropout"]
    assert dropout.verdict == "FAIL"
    assert "mask: the mask keeps 28% of the units" in dropout.text and "p = 0.7 is the keep probability" in dropout.text


def test_an_unknown_pair_is_listed_as_not_checked(tmp_path):
    path = edited(tmp_path, append="\n\ndef affine_relu_forward(x, w, b):\n    return x, None\n\n\n"
                                   "def affine_relu_backward(dout, cache):\n    return dout\n\n\n"
                                   "def swish_backward(dout, cache):\n    return dout\n")
    layers = check_file(path)
    unchecked = {l.name: l for l in layers if l.verdict == "not checked"}
    assert set(unchecked) == {"affine_relu", "swish"}
    assert unchecked["affine_relu"].line() == ("affine_relu (affine_relu_forward/affine_relu_backward): not checked "
                                               "(not a known layer; if it is one, name it in LOCKSTEP_LAYERS)")
    assert exit_code(layers) == 0


def test_the_naming_map(tmp_path):
    path = edited(tmp_path, ("def affine_forward(", "def dense_fwd("), ("def affine_backward(", "def dense_bwd("),
                  ("def softmax_loss(", "def xent("),
                  append='\n\nLOCKSTEP_LAYERS = {"affine": ("dense_fwd", "dense_bwd"), "softmax_loss": "xent", '
                         '"conv": None}\n')
    layers = by_name(check_file(path))
    assert layers["affine"].verdict == "pass" and layers["affine"].functions == "dense_fwd/dense_bwd"
    assert layers["softmax_loss"].verdict == "pass" and layers["softmax_loss"].functions == "xent"
    assert layers["conv"].verdict == "not checked" and "LOCKSTEP_LAYERS says so" in layers["conv"].text


@pytest.mark.parametrize("edit, append, message", [
    (("def affine_forward(x, w, b):", "def affine_forward(x, w):"), "",
     "affine_forward(x, w) does not take affine's arguments (x, w, b)"),
    (("def lstm_step_backward(dnext_h, dnext_c, cache):", "def lstm_step_backward(dnext_h, cache):"), "",
     "lstm_step_backward(dnext_h, cache) does not take lstm_step's arguments (dnext_h, dnext_c, cache)"),
    (None, "\nLOCKSTEP_LAYERS = {'dense': ('affine_forward', 'affine_backward')}\n",
     "LOCKSTEP_LAYERS names 'dense': not a known layer"),
    (None, "\nLOCKSTEP_LAYERS = {'affine': ('fc_forward', 'fc_backward')}\n",
     "LOCKSTEP_LAYERS['affine'] names fc_forward, fc_backward, not a function of the file"),
    (None, "\nimport sys\nsys.exit(3)\n", "cannot import"),
    (None, "\nraise ImportError('no module named cs231n')\n", "ImportError: no module named cs231n"),
])
def test_bad_input_is_one_line(tmp_path, edit, append, message):
    path = edited(tmp_path, *([edit] if edit else []), append=append)
    with pytest.raises(InputError, match="^.*" + message.replace("(", r"\(").replace(")", r"\)")
                       .replace("[", r"\[").replace("]", r"\]")):
        check_file(path)


def test_a_file_without_layers_is_bad_input(tmp_path):
    path = tmp_path / "empty_layers.py"
    path.write_text("x = 1\n")
    with pytest.raises(InputError, match="no layer functions found"):
        check_file(str(path))


def test_an_empty_out_is_bad_input_before_any_check(capfd):
    assert main(["layers", str(CORRECT), "--out", ""]) == 2          # review: it wrote no report, silently
    assert capfd.readouterr().err == ("lockstep: error: --out is empty: name the directory for layers.csv, "
                                      "layers.html and layers.md\n")


def test_code_that_raises_or_exits_is_a_failed_layer(tmp_path):
    path = edited(tmp_path, ("    return np.maximum(0, x), x\n", "    raise ValueError('not yet')\n"),
                  ("    return dout * (1 - cache ** 2)\n", "    import sys\n    sys.exit(0)\n"),
                  ("    db = dout.sum(axis=0)\n    return dx, dw, db\n", "    return dx, dw\n"))
    layers = by_name(check_file(path))
    assert "relu_forward() raised ValueError: not yet" in layers["relu"].text
    assert "tanh_backward() called sys.exit(0)" in layers["tanh"].text
    assert "affine_backward() returned 2 values, expected (dx, dw, db)" in layers["affine"].text
    assert exit_code(list(layers.values())) == 1


# --- the command, contained (a worker process) -------------------------------------------------

def test_cli_passes_the_correct_file_and_writes_the_rows(tmp_path, capsys):
    assert main(["layers", str(CORRECT), "--out", str(tmp_path / "out")]) == 0
    rows = list(csv.DictReader(open(tmp_path / "out" / "layers.csv")))
    assert {r["layer"] for r in rows} == set(KNOWN)
    assert all(r["verdict"] == "pass" for r in rows)


def test_cli_fails_the_slips_and_reports_one_row_per_layer(tmp_path, slips, capfd):
    """--out: layers.md and layers.html beside layers.csv, a row per layer with the line's verdict and its
    localised difference, the failing values, and the pairs not checked (here: one appended)."""
    path = tmp_path / "slips_and_a_pair.py"
    path.write_text(SLIPS.read_text() + "\n\ndef affine_relu_forward(x, w, b):\n    return x, None\n\n\n"
                                        "def affine_relu_backward(dout, cache):\n    return dout\n")
    out = tmp_path / "out"
    assert main(["layers", str(path), "--out", str(out)]) == 1
    assert f"report: {out / 'layers.html'}  {out / 'layers.md'}" in capfd.readouterr().out
    md, page = (out / "layers.md").read_text(), (out / "layers.html").read_text()
    failed = [name for name, layer in slips.items() if layer.verdict == "FAIL"]
    assert f"**FAILED: {', '.join(failed)}**" in md
    rows = {line.split(" | ")[0][2:]: line.split(" | ")[1] for line in md.split("## Layers")[1].split("##")[0]
            .splitlines() if line.startswith("| ") and not line.startswith(("| layer ", "| --- "))}
    assert rows == {**{name: layer.verdict for name, layer in slips.items()}, "affine_relu": "not checked"}
    conv = slips["conv"]
    assert f"| conv | FAIL | {conv.text} | {conv.functions} |" in md
    assert "## Failing values" in md and "## Not checked" in md
    assert "| affine_relu | affine_relu_forward/affine_relu_backward | (not a known layer;" in md
    assert "<h2>Layers</h2>" in page and '<p class="failed"><strong>FAILED: ' in page and "affine_relu" in page


def test_cli_bad_signature_is_exit_2_and_one_line(tmp_path, capfd):
    path = edited(tmp_path, ("def conv_forward_naive(x, w, b, conv_param):", "def conv_forward_naive(x, w, conv_param):"))
    assert main(["layers", path]) == 2
    err = capfd.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "conv_forward_naive(x, w, conv_param) does not take conv's arguments (x, w, b, conv_param)" in err


def test_cli_a_crash_or_a_hang_is_one_line(tmp_path, capfd):
    crash = edited(tmp_path, ("    out = np.tanh(x)\n    return out, out\n", "    import os\n    os._exit(0)\n"))
    assert main(["layers", crash]) == 2
    err = capfd.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "layers > tanh > tanh_forward(): the process ended" in err, err
    hang = edited(tmp_path, ("    return dout * (cache > 0)\n", "    while True:\n        pass\n"))
    assert main(["layers", hang, "--timeout", "10"]) == 2
    err = capfd.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "layers > relu > relu_backward(): timed out after 10 s" in err, err


def test_another_tied_maximum_is_a_convention_every_one_is_a_slip(tmp_path, slips):
    last = edited(tmp_path, ("            first = window.argmax(axis=2)                  # one maximum per window: the "
                             "first, as torch\n",
                             "            first = window.shape[2] - 1 - window[:, :, ::-1].argmax(axis=2)   # the last\n"))
    pool = by_name(check_file(last))["max_pool"]
    assert pool.verdict == "pass"
    assert "at tied maxima the gradient goes to another one of them (torch: the first)" in pool.text
    assert [c.case for c in pool.checks if c.verdict == "convention"] == ["tied maxima"]
    # layers_slips.py routes it to every tied maximum: not a choice of one, a failure where the ties are
    assert [c.case for c in slips["max_pool"].checks if c.verdict == "FAIL"] == ["tied maxima"]


@pytest.mark.parametrize("old, new, layer, found", [
    ("rnn_step_backward(dh[:, s] + dprev, cache[s])\n        dWx += dwx\n",
     "rnn_step_backward(dh[:, s] + dprev, cache[s])\n        dWx = dwx\n", "rnn",
     "dWx: a sum over time cut short: manual = the term of time step t = 0 (the first) alone, where the reference "
     "sums the terms of all T = 3 time steps"),
    ("        dWh += dwh\n        db += dbs\n    return dx, dprev_h, dWx, dWh, db",
     "        dWh = dwh\n        db += dbs\n    return dx, dprev_h, dWx, dWh, db", "lstm",
     "dWh: a sum over time cut short: manual = the term of time step t = 0 (the first) alone, where the reference "
     "sums the terms of all T = 3 time steps"),
    ("    dw = x.reshape(x.shape[0], -1).T @ dout\n", "    dw = (x.reshape(x.shape[0], -1).T @ dout).T\n",
     "affine", "dw: a transposed layout: manual = reference.T"),
    ("    return loss, dx / n\n\n\ndef svm_loss", "    return loss, dx\n\n\ndef svm_loss",
     "softmax_loss", "dx: a constant factor: manual = 6 × reference (= N, the batch size)"),
    ("    db = dout.sum(axis=(0, 2, 3))\n", "    db = dout.mean(axis=(0, 2, 3))\n",
     "conv", "db: a constant factor: manual = 0.02 × reference (= 1/(N·H·W))"),
    ("    return dout * (1 - cache ** 2)\n", "    return dout * (1 - cache ** 2) + 0.01 * cache\n",
     "tanh", "dx: an added term: manual = reference + 0.01·the forward's out"),
])
def test_the_diagnosis_relations_per_output(tmp_path, old, new, layer, found):
    layers = by_name(check_file(edited(tmp_path, (old, new))))
    assert layers[layer].verdict == "FAIL" and layers[layer].text.startswith(found), layers[layer].text
    assert [name for name, l in layers.items() if l.verdict == "FAIL"] == [layer]

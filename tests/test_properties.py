"""Property-based tests (hypothesis): whatever the input, lockstep answers with a documented exit
code and never a traceback; exit 2 always comes with exactly one line on stderr.

Inputs: random flag values for ``lockstep run``, random TOML documents as presets, byte mutations
of small npz and IDX files, and mutations of the summary.json and steps.csv of one small real
run. Training never starts: the worker process (``comparisons.cli.parent.contain``) is replaced by a
stand-in that does, in this process, what the worker does before training (validate the config,
load the data) and then stops, so each example
costs milliseconds. A config that gets that far must also be one summary.json can hold.

Profiles: in CI (``-m "not slow"``) each property runs a fixed, derandomized set of examples
(the same every run; ~45 s in all on this 2-core machine under other agents' load); the ``slow``
variant (``-m slow``) runs SLOW_FACTOR times as many, drawn at random each time (~12 min here).
"""
import collections
import contextlib
import gzip
import io
import json
import math
import shutil
import string
import struct
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import comparisons.cli.parent
from comparisons.cli.main import config_from_args, main
from comparisons.config import DTYPES, MODES, QUANTITIES, REDUCTIONS, Config
from comparisons.data import BUILTIN, load_data
from comparisons.record.rundir import summary_validator
from tiny_runs import make_run

# A warning is a second line on stderr: bad input must be refused without one.
pytestmark = pytest.mark.filterwarnings("error")
SLOW_FACTOR = 10
PROFILES = [
    pytest.param(dict(derandomize=True), id="ci"),
    pytest.param(dict(derandomize=False), id="slow", marks=pytest.mark.slow),
]
COMMON = dict(deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


ACCEPTED = "accepted"    # the input got through to training


class Reached(Exception):
    """The stand-in for run(): the input got through every check that comes before training."""


def _until_training(config, data=None, out=None, **kwargs):
    config.validate()
    if config.data not in BUILTIN:
        load_data(config.data)
    raise Reached(config)


def _until_worker(argv, args):
    """The stand-in for the worker process (comparisons.cli.parent.contain): what it would check
    before training (the config again, the data), in this process."""
    if args.command == "run":
        _until_training(config_from_args(args))
    np.random.default_rng(args.seed)           # the audit's first use of its seed
    raise Reached(None)


@pytest.fixture
def no_training(monkeypatch):
    monkeypatch.setattr(comparisons.cli.parent, "contain", _until_worker)


def cli(argv) -> tuple[int | None, str]:
    """(exit code, stderr) of ``lockstep argv``; code None when run() was reached. Checks the contract:
    a documented code, and exactly one line on stderr with exit 2. Any other exception escapes."""
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            code = main([str(a) for a in argv])
        except Reached as reached:
            config = reached.args[0]
            if config is not None:   # what summary.json will hold: strict JSON, valid against the schema
                json.dumps(config.to_dict(), allow_nan=False)
                jsonschema.validate(config.to_dict(), CONFIG_SCHEMA)
            _event(ACCEPTED)
            return None, err.getvalue()
    assert code in (0, 1, 2), (code, err.getvalue())
    _event(f"exit {code}")
    if code == 2:
        assert err.getvalue().startswith("lockstep: error: ") and err.getvalue().count("\n") == 1, err.getvalue()
    return code, err.getvalue()


OUTCOMES = collections.Counter()    # how the examples of the current property ended


def _event(outcome: str) -> None:
    OUTCOMES[outcome] += 1


CONFIG_SCHEMA = {**summary_validator().schema["properties"]["config"], "$defs": summary_validator().schema["$defs"]}


def check(profile: dict, examples: int, strategy, prop, *, expect: tuple[str, ...]) -> collections.Counter:
    """Run ``prop`` on ``examples`` draws of ``strategy`` (CI) or SLOW_FACTOR times as many (slow), and
    require each outcome in ``expect`` at least once: a property whose examples all end the same way
    would test less than it claims."""
    OUTCOMES.clear()

    if not profile["derandomize"]:
        examples *= SLOW_FACTOR

    @settings(max_examples=examples, **COMMON, **profile)
    @given(strategy)
    def property_holds(example):
        prop(example)
    property_holds()
    missing = [outcome for outcome in expect if not OUTCOMES[outcome]]
    assert not missing, f"no example ended with {missing}: {dict(OUTCOMES)}"
    return OUTCOMES


# --- random flag values for lockstep run ---------------------------------------------------------

NUMBER_TEXT = st.one_of(
    st.integers(-2**70, 2**70).map(str),
    st.floats().map(repr),                     # with nan, inf, -inf, subnormals
    st.sampled_from(["nan", "inf", "-inf", "1e400", "1e-400", "-0", "0x10", "1_000", "", " 3", "1e37", "1e-300",
                     "9223372036854775807", "9223372036854775808", "2147483648", "1000001", "true"]),
)
VALUE = st.one_of(NUMBER_TEXT, st.text(max_size=12))
FLAG_VALUES = {
    "hidden": st.one_of(VALUE, st.lists(st.integers(-3, 2**40), min_size=1, max_size=3).map(
        lambda ws: ",".join(map(str, ws)))),
    "epochs": VALUE, "batch-size": VALUE, "lr": VALUE, "momentum": VALUE, "init-velocity": VALUE, "seed": VALUE,
    "reduction": st.one_of(st.sampled_from(REDUCTIONS), VALUE),
    "dtype": st.one_of(st.sampled_from(DTYPES), VALUE),
    "mode": st.one_of(st.sampled_from(MODES), VALUE),
    "tol": st.tuples(st.sampled_from(QUANTITIES + ("speed", "")), NUMBER_TEXT).map("=".join),
    "manual": st.sampled_from(["builtin", "", "no.such:Class", "seed"]),
    "optimizer": st.one_of(st.sampled_from(["adam", "adam:beta1=0.9,eps=1e-8", "momentum:form=ema", "adamm", "adam:",
                                            ":", "adam:eps=0", "adam:beta1=nan", "sgd:weight_decay=1e400",
                                            "rmsprop:form=nnfs,alpha=0.5", "adam:lr=1", "adam:beta1"]), VALUE),
    "preset": st.sampled_from(["assignment", "nope", "missing.toml"]),
}


@st.composite
def run_argv(draw):
    flags = draw(st.lists(st.sampled_from(sorted(FLAG_VALUES)), max_size=6))
    # --flag=value: a value starting with "-" stays a value (argparse would take "--he" for --help)
    return [f"--{flag}={draw(FLAG_VALUES[flag])}" for flag in flags] + draw(
        st.lists(st.sampled_from(["--fail-fast", "--quiet", "--overwrite"]), max_size=2))


@pytest.mark.parametrize("profile", PROFILES)
def test_random_run_flags(tmp_path, no_training, profile):
    check(profile, 300, run_argv(), lambda argv: cli(["run", "--out", tmp_path / "out", *argv]),
          expect=(ACCEPTED, "exit 2"))


@pytest.mark.parametrize("profile", PROFILES)
def test_random_audit_seeds(no_training, profile):
    """The audit's first use of its seed is numpy's default_rng; the audit itself is not run."""
    check(profile, 100, VALUE, lambda seed: cli(["audit", f"--seed={seed}"]), expect=(ACCEPTED, "exit 2"))


# --- random TOML documents as presets ------------------------------------------------------------

def toml(value) -> str:
    """``value`` as a TOML inline value (strings and keys JSON-quoted: valid TOML basic strings)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(map(toml, value)) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k, ensure_ascii=False)} = {toml(v)}" for k, v in value.items()) + "}"
    return str(value)


SCALAR = st.one_of(st.integers(-2**64, 2**64), st.floats(), st.booleans(), st.text(max_size=8))
TOML_VALUE = st.recursive(SCALAR, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                          st.dictionaries(st.text(max_size=5), inner, max_size=3)),
                          max_leaves=8)
FIELD_VALUES = {   # values of roughly the right shape, so that documents also get past the type checks
    "hidden": st.lists(st.integers(-2, 2**33), max_size=3), "epochs": st.integers(-2, 2**21),
    "batch_size": st.integers(-2, 2**32), "lr": st.floats(), "momentum": st.floats(), "init_velocity": st.floats(),
    "seed": st.integers(-2, 2**64), "reduction": st.sampled_from(REDUCTIONS), "dtype": st.sampled_from(DTYPES),
    "mode": st.sampled_from(MODES), "data": st.sampled_from(["builtin", "", "/dev/zero", "no/such/dir"]),
    "manual": st.sampled_from(["builtin", ""]), "fail_fast": st.booleans(),
    "optimizer": st.one_of(st.sampled_from(["", "adam", "adamw:weight_decay=2", "nesterov:form=x"]), st.text(max_size=12)),
    "tol": st.dictionaries(st.sampled_from(QUANTITIES + ("speed",)), st.one_of(st.floats(), st.integers(-1, 3))),
}
TOML_DOCUMENT = st.one_of(
    st.dictionaries(st.sampled_from(Config.field_names() + ["speed"]), TOML_VALUE, max_size=5).map(
        lambda d: "".join(f"{json.dumps(k)} = {toml(v)}\n" for k, v in d.items()).encode()),
    st.fixed_dictionaries({}, optional={k: v for k, v in FIELD_VALUES.items()}).map(
        lambda d: "".join(f"{k} = {toml(v)}\n" for k, v in d.items()).encode()),
    st.binary(max_size=200),
    st.text(alphabet=string.printable + "[]{}=\"'", max_size=200).map(str.encode),
)


@pytest.mark.parametrize("profile", PROFILES)
def test_random_toml_presets(tmp_path, no_training, profile):
    preset = tmp_path / "preset.toml"

    def prop(document: bytes):
        preset.write_bytes(document)
        cli(["run", "--out", tmp_path / "out", "--preset", preset])
    check(profile, 300, TOML_DOCUMENT, prop, expect=(ACCEPTED, "exit 2"))


# --- byte mutations of small npz and IDX files ----------------------------------------------------

@st.composite
def mutations(draw, size: int):
    """1-4 edits (flip, set, delete, insert, truncate) at positions biased to the headers and the end."""
    edits = []
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.one_of(st.integers(0, 40), st.integers(0, size - 1), st.integers(max(size - 40, 0), size)))
        edits.append((draw(st.sampled_from(["flip", "set", "delete", "insert", "truncate"])), where,
                      draw(st.binary(min_size=1, max_size=8))))
    return edits


def mutate(blob: bytes, edits) -> bytes:
    data = bytearray(blob)
    for kind, where, payload in edits:
        where = min(where, len(data))
        if kind == "flip" and where < len(data):
            data[where] ^= payload[0] or 1
        elif kind == "set":
            data[where:where + len(payload)] = payload
        elif kind == "delete":
            del data[where:where + len(payload)]
        elif kind == "insert":
            data[where:where] = payload
        elif kind == "truncate":
            del data[where:]
    return bytes(data)


def idx_files(per_class: int = 5) -> dict[str, bytes]:
    n = 10 * per_class
    images = np.random.default_rng(0).integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = (np.arange(n) % 10).astype(np.uint8)
    return {"t10k-images-idx3-ubyte": struct.pack(">iiii", 2051, n, 28, 28) + images.tobytes(),
            "t10k-labels-idx1-ubyte": struct.pack(">ii", 2049, n) + labels.tobytes()}


def npz_file(n: int = 16001) -> bytes:
    """The assignment's layout at the smallest size its split takes (> 16000 images), mostly zeros
    so that it compresses to ~30 kB; loading it takes ~50 ms."""
    images = np.zeros((n, 28, 28), dtype=np.uint8)
    images[:, 14, 14] = np.arange(n) % 256
    buffer = io.BytesIO()
    np.savez_compressed(buffer, images=images, labels=(np.arange(n) % 10).astype(np.uint8))
    return buffer.getvalue()


def data_cases():
    raw = idx_files()
    gz = {f"{name}.gz": gzip.compress(blob, mtime=0) for name, blob in raw.items()}
    return {"idx-raw": raw, "idx-gz": gz, "npz": {"notMNIST.npz": npz_file()}}


@pytest.mark.parametrize("case", ["idx-raw", "idx-gz", "npz"])
@pytest.mark.parametrize("profile", PROFILES)
def test_mutated_data_files(tmp_path, no_training, case, profile):
    files = data_cases()[case]
    target = sorted(files)[0]        # the images file (IDX) or the npz
    path = _write(tmp_path, files) / (target if case == "npz" else "")
    assert cli(["run", "--out", tmp_path / "out", "--data", path]) == (None, "")    # unmutated: accepted
    strategy = st.tuples(st.sampled_from(sorted(files)), mutations(len(files[target])))

    def prop(example):
        name, edits = example
        cli(["run", "--out", tmp_path / "out", "--data", _write(tmp_path, {**files, name: mutate(files[name], edits)})
             / (target if case == "npz" else "")])
    check(profile, 60, strategy, prop, expect=(ACCEPTED, "exit 2"))


def _write(root: Path, files: dict[str, bytes]) -> Path:
    directory = root / "data"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir()
    for name, blob in files.items():
        (directory / name).write_bytes(blob)
    return directory


# --- mutations of summary.json and steps.csv of one real run --------------------------------------

@pytest.fixture(scope="module")
def real_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("properties") / "run"
    make_run(out)
    return out


JSON_VALUE = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(),
                                    st.text(max_size=6)),
                          lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                  st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                          max_leaves=6)


def _paths(node, path=()):
    """Every path into a JSON tree (dict keys and list indices), the root included."""
    yield path
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in children:
        yield from _paths(child, path + (key,))


@st.composite
def summary_mutation(draw, summary: dict):
    """A summary.json text: one node replaced or deleted, a key added, or the text's bytes edited."""
    tree = json.loads(json.dumps(summary))
    path = draw(st.sampled_from(list(_paths(tree))[1:]))
    parent = tree
    for key in path[:-1]:
        parent = parent[key]
    kind = draw(st.sampled_from(["replace", "delete", "add", "bytes"]))
    if kind == "replace":
        parent[path[-1]] = draw(JSON_VALUE)
    elif kind == "delete":
        del parent[path[-1]]
    elif kind == "add" and isinstance(parent, dict):
        parent[draw(st.text(max_size=6))] = draw(JSON_VALUE)
    text = json.dumps(tree, allow_nan=True).encode()
    return mutate(text, draw(mutations(len(text)))) if kind == "bytes" else text


@st.composite
def steps_mutation(draw, text: bytes):
    """A steps.csv: cells replaced, lines dropped or repeated, or bytes edited."""
    lines = text.decode().splitlines(keepends=True)
    kind = draw(st.sampled_from(["cell", "drop", "repeat", "bytes"]))
    if kind == "bytes":
        return mutate(text, draw(mutations(len(text))))
    i = draw(st.integers(0, len(lines) - 1))
    if kind == "cell":
        cells = lines[i].rstrip("\n").split(",")
        cells[draw(st.integers(0, len(cells) - 1))] = draw(st.one_of(NUMBER_TEXT, st.text(max_size=6), st.sampled_from(
            ["True", "False", "step", "train", "grad", "rel_l2", "inf", "nan", '"', ",", "\n"])))
        lines[i] = ",".join(cells) + "\n"
    elif kind == "drop":
        del lines[i]
    else:
        lines.insert(i, lines[i])
    return "".join(lines).encode()


def _mutated_run(real_run: Path, root: Path, which: str, blob: bytes) -> Path:
    run_dir = root / "mutated"
    shutil.rmtree(run_dir, ignore_errors=True)
    shutil.copytree(real_run, run_dir)
    (run_dir / which).write_bytes(blob)
    return run_dir


def _record_mutations(real_run: Path):
    summary = json.loads((real_run / "summary.json").read_text())
    steps = (real_run / "steps.csv").read_bytes()
    return st.one_of(st.tuples(st.just("summary.json"), summary_mutation(summary)),
                     st.tuples(st.just("steps.csv"), steps_mutation(steps)))


@pytest.mark.parametrize("profile", PROFILES)
def test_mutated_run_directory_compare(real_run, tmp_path, profile):
    def prop(example):
        cli(["compare", real_run, _mutated_run(real_run, tmp_path, *example)])
    check(profile, 100, _record_mutations(real_run), prop, expect=("exit 0", "exit 2"))


@pytest.mark.parametrize("profile", PROFILES)
def test_mutated_run_directory_report(real_run, tmp_path, profile):
    """Fewer examples: a report that is written draws its figures (~1 s each here)."""
    (tmp_path / "report").mkdir()

    def prop(example):
        cli(["report", _mutated_run(real_run, tmp_path, *example), "--out", tmp_path / "report", "--quiet"])
    check(profile, 15, _record_mutations(real_run), prop, expect=("exit 0", "exit 2"))

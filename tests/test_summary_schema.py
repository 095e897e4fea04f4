"""summary.json against its JSON Schema (comparisons/record/summary.schema.json), and the version both sides agree on."""
import copy
import json
from importlib import resources
from pathlib import Path

import jsonschema
import pytest

from comparisons.record import rundir, summary
from tiny_runs import BreaksAtCall, ForgetsOneOverN, make_run

BASELINES = sorted((Path(__file__).parents[1] / "baselines").glob("*/summary.json"))


@pytest.fixture(scope="module")
def validator():
    schema = json.loads(resources.files("comparisons.record").joinpath("summary.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.fixture(scope="module")
def summaries(tmp_path_factory):
    root = tmp_path_factory.mktemp("schema")
    results = {"passed": make_run(root / "passed"),
               "failed": make_run(root / "failed", manual_loss=ForgetsOneOverN()),
               "nonfinite": make_run(root / "nonfinite", manual_loss=BreaksAtCall(2, "nan")),
               "interrupted": make_run(root / "interrupted", manual_loss=BreaksAtCall(2, "interrupt"))}
    return {name: json.loads((r.out / "summary.json").read_text()) for name, r in results.items()}


@pytest.mark.parametrize("kind", ["passed", "failed", "nonfinite", "interrupted"])
def test_every_kind_of_run_writes_a_valid_summary(validator, summaries, kind):
    validator.validate(summaries[kind])
    assert summaries[kind]["status"] == ("failed" if kind == "nonfinite" else kind)


@pytest.mark.parametrize("path", BASELINES, ids=[p.parent.name for p in BASELINES])
def test_committed_baselines_are_valid(validator, path):
    validator.validate(json.loads(path.read_text()))


def test_schema_version_is_the_one_written_and_read(validator):
    assert validator.schema["properties"]["schema_version"]["const"] == summary.SCHEMA_VERSION == rundir.READABLE_SCHEMA


@pytest.mark.parametrize("change", [
    pytest.param(lambda s: s.update(diagnosis="a plain-text diagnosis"), id="diagnosis-string"),
    pytest.param(lambda s: s.update(diagnosis=["one", "two"]), id="diagnosis-list"),
    pytest.param(lambda s: s.update(something_new={"added": "later"}), id="new-top-level-field"),
    pytest.param(lambda s: s["first_failure"].update(diagnosis=["here too"], hint=1), id="new-failure-fields"),
])
def test_fields_may_be_added_without_a_version_bump(validator, summaries, change):
    s = copy.deepcopy(summaries["failed"])
    change(s)
    validator.validate(s)


@pytest.mark.parametrize("change,complaint", [
    pytest.param(lambda s: s.update(schema_version=2), "1 was expected", id="newer-version"),
    pytest.param(lambda s: s.pop("status"), "'status' is a required property", id="no-status"),
    pytest.param(lambda s: s.update(status="great"), "'great' is not one of", id="unknown-status"),
    pytest.param(lambda s: s.update(steps=-1), "-1 is less than the minimum of 0", id="negative-steps"),
    pytest.param(lambda s: s.update(diagnosis=3), "3 is not valid under any of the given schemas", id="diagnosis-int"),
    pytest.param(lambda s: s["first_failure"].pop("message"), "'message' is a required property",
                 id="failure-without-message"),
])
def test_schema_rejects_what_readers_cannot_use(validator, summaries, change, complaint):
    s = copy.deepcopy(summaries["failed"])
    change(s)
    errors = [e.message for e in validator.iter_errors(s)]
    assert any(complaint in e for e in errors), errors

"""The README's printed outputs are the program's (tools/readme_transcripts.py): each marked block is
made again and compared, timing figures aside. The long `make run` block is @slow."""
import pytest

from tools import readme_transcripts as transcripts


def test_every_marked_block_is_a_known_transcript_and_every_transcript_is_marked():
    assert set(transcripts.blocks(transcripts.README.read_text())) == set(transcripts.TRANSCRIPTS)


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("transcripts")      # shared: first-failure and assert-lockstep, one run


@pytest.mark.parametrize("name", [pytest.param(name, marks=[pytest.mark.slow] if t.slow else [])
                                  for name, t in transcripts.TRANSCRIPTS.items()])
def test_readme_transcript_is_what_the_program_prints(name, work):
    diff = transcripts.difference(name, work)
    assert not diff, f"README.md's {name} block is stale: python -m tools.readme_transcripts --write {name}\n{diff}"


def test_only_timing_figures_are_ignored():
    readme = "time: manual 12.5 s, torch 15.9 s, compare+record 32.3 s over 600 steps"
    assert transcripts.normalised(readme) == transcripts.normalised(readme.replace("12.5 s", "9.0 s"))
    assert transcripts.normalised(readme) != transcripts.normalised(readme.replace("600 steps", "601 steps"))
    assert transcripts.normalised("rel_l2 9.9e+01") != transcripts.normalised("rel_l2 9.8e+01")


def test_a_marker_without_its_block_is_refused():
    with pytest.raises(ValueError, match="transcript x: no ``` block on the next line"):
        transcripts.blocks("text\n<!-- transcript: x -->\nnot a fence\n")
    with pytest.raises(ValueError, match="marked twice"):
        transcripts.blocks("<!-- transcript: x -->\n```\na\n```\n<!-- transcript: x -->\n```\nb\n```\n")
    assert transcripts.blocks("<!-- transcript: x -->\n```\na\nb\n```\n") == {"x": (2, 4)}

"""docs/security.md stays true to the tests: every test it names as `tests/...py::test_...` exists,
and each ASVS chapter it maps and the deviations are there. Reads files only: no database."""

from pathlib import Path

from tests.test_safety_case import NODE_ID, missing_tests

ROOT = Path(__file__).resolve().parent.parent
NOTES = ROOT / "docs" / "security.md"

# Issue 11 (item 7): the ASVS 5.0 chapters that apply, as the page's `## ` headings name them.
CHAPTERS = ["V6 Authentication", "V7 Session", "V8 Authorization", "V2 Validation", "V1 Encoding", "V4 API"]
CHAPTERS += ["V16 Security logging", "V13 Configuration", "V11 Cryptography", "Deviations"]


def _notes() -> str:
    return NOTES.read_text(encoding="utf-8")


def test_every_test_the_security_notes_name_exists():
    text = _notes()
    assert len(set(NODE_ID.findall(text))) >= 40, "the security notes name too few tests"
    assert missing_tests(text) == []


def test_a_wrong_name_in_the_notes_would_be_caught():
    text = _notes() + "\n`tests/test_security_notes.py::test_there_is_no_such_test` `tests/no_such.py::test_x`"
    assert missing_tests(text) == [
        "tests/no_such.py::test_x",
        "tests/test_security_notes.py::test_there_is_no_such_test",
    ]


def test_every_chapter_that_applies_and_the_deviations_are_there():
    headings = [line for line in _notes().splitlines() if line.startswith("## ")]
    for chapter in CHAPTERS:
        assert any(chapter in heading for heading in headings), f"no section for {chapter!r}"
    deviations = _notes().split("## Deviations", 1)[1]
    for words in ("pip-audit", "triage", "schema is public", "SMS", "password alone", "database"):
        assert words in deviations, f"the deviations do not mention {words!r}"

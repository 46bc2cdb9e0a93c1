"""The safety case (docs/safety/) stays true to the code: every test the hazard log names exists,
every hazard issue 11 lists has an entry with at least one verifying test, and every risk rating
follows the log's own 5×5 matrix. Reads files only: no database, no network."""

import ast
import re
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HAZARD_LOG = ROOT / "docs" / "safety" / "hazard-log.md"
INTENDED_USE = ROOT / "docs" / "safety" / "intended-use.md"

# The hazards issue 11 (item 6) asks for, as words that must appear in a hazard's heading.
REQUIRED_HAZARDS = [
    "missed reminder",
    "duplicate reminders",
    "wrong forecast",
    "under-triage",
    "over-triage",
    "lost check-in",
    "alert not delivered or delayed",
    "data seen by the wrong person",
    "locked-out patient",
    "second factor bypassed",
    "stalled scheduler",
    "database outage",
    "stolen password",
]

NODE_ID = re.compile(r"\btests/[\w/]+\.py(?:::\w+)+")
HAZARD_HEADING = re.compile(r"^### (H\d{2}) · (.+)$", re.MULTILINE)
RATING = re.compile(r"\*\*(Initial|Residual) risk\*\*: L([1-5]) × S([1-5]) → ([1-5])")

# Likelihood (rows, 1 very low … 5 very high) × severity (columns, 1 minor … 5 catastrophic)
# → risk rating 1 (very low) … 5 (very high); the same table is printed in the hazard log.
MATRIX = {
    1: (1, 1, 2, 2, 3),
    2: (1, 2, 2, 3, 4),
    3: (2, 2, 3, 3, 4),
    4: (2, 3, 3, 4, 5),
    5: (3, 4, 4, 5, 5),
}


@cache
def _tests_in(path: Path) -> frozenset[str]:
    """Every test a file defines: `test_x` at module level, and `Class::test_x` and `test_x` for
    methods of a class (so a node id may name a method with or without its class)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test"):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and item.name.startswith("test"):
                    names.add(f"{node.name}::{item.name}")
                    names.add(item.name)
    return frozenset(names)


def missing_tests(text: str, root: Path = ROOT) -> list[str]:
    """The node ids in `text` whose file or test function does not exist under `root`."""
    missing = []
    for node_id in sorted(set(NODE_ID.findall(text))):
        file_part, _, name = node_id.partition("::")
        path = root / file_part
        if not path.is_file() or name not in _tests_in(path):
            missing.append(node_id)
    return missing


def hazard_sections(text: str) -> dict[str, tuple[str, str]]:
    """{hazard id: (title, the section's text)} for every `### Hnn · title` heading."""
    matches = list(HAZARD_HEADING.finditer(text))
    sections = {}
    for i, match in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        next_part = text.find("\n## ", match.end())
        if next_part != -1:
            end = min(end, next_part)
        sections[match.group(1)] = (match.group(2).strip(), text[match.end() : end])
    return sections


def wrong_ratings(text: str) -> list[str]:
    return [
        m.group(0) for m in RATING.finditer(text) if MATRIX[int(m.group(2))][int(m.group(3)) - 1] != int(m.group(4))
    ]


def _log() -> str:
    return HAZARD_LOG.read_text(encoding="utf-8")


def test_every_test_the_hazard_log_names_exists():
    text = _log()
    assert len(set(NODE_ID.findall(text))) >= 40, "the hazard log names too few tests"
    assert missing_tests(text) == []


def test_a_named_test_that_does_not_exist_is_caught():
    # The check itself can fail: a made-up function, a made-up file and a made-up method are reported.
    text = (
        "`tests/test_safety_case.py::test_every_test_the_hazard_log_names_exists` and "
        "`tests/test_safety_case.py::test_there_is_no_such_test` and "
        "`tests/no_such_file.py::test_anything` and "
        "`tests/test_safety_case.py::NoSuchClass::test_every_test_the_hazard_log_names_exists`"
    )
    assert missing_tests(text) == [
        "tests/no_such_file.py::test_anything",
        "tests/test_safety_case.py::NoSuchClass::test_every_test_the_hazard_log_names_exists",
        "tests/test_safety_case.py::test_there_is_no_such_test",
    ]


def test_methods_of_a_test_class_are_found(tmp_path):
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_x.py").write_text(
        "class TestThing:\n    def test_inside(self):\n        pass\n\ndef helper():\n    pass\n"
    )
    text = "tests/test_x.py::TestThing::test_inside tests/test_x.py::test_inside tests/test_x.py::helper"
    assert missing_tests(text, root=tmp_path) == ["tests/test_x.py::helper"]


def test_every_hazard_the_issue_lists_has_an_entry_with_its_tests():
    sections = hazard_sections(_log())
    titles = {title.lower(): body for title, body in sections.values()}
    for hazard in REQUIRED_HAZARDS:
        bodies = [body for title, body in titles.items() if hazard in title]
        assert bodies, f"no hazard entry for {hazard!r}"
        body = bodies[0]
        for field in ("**Causes", "**Controls", "**Initial risk**", "**Residual risk**", "**Verified by"):
            assert field in body, f"{hazard!r} has no {field.strip('*')} field"
        assert NODE_ID.search(body), f"{hazard!r} names no verifying test"


def test_a_missing_hazard_is_caught():
    text = _log().replace("Stolen password", "Something else")
    titles = [title.lower() for title, _ in hazard_sections(text).values()]
    assert not any("stolen password" in title for title in titles)


def test_risk_ratings_follow_the_stated_matrix():
    text = _log()
    ratings = RATING.findall(text)
    assert len(ratings) >= 2 * len(REQUIRED_HAZARDS)
    assert wrong_ratings(text) == []
    assert wrong_ratings("**Residual risk**: L1 × S5 → 1") == ["**Residual risk**: L1 × S5 → 1"]


def test_every_hazard_has_both_ratings_and_residual_is_no_worse():
    for hazard_id, (title, body) in hazard_sections(_log()).items():
        found = {kind: int(rating) for kind, _, _, rating in RATING.findall(body)}
        assert set(found) == {"Initial", "Residual"}, f"{hazard_id} {title} lacks a rating"
        assert found["Residual"] <= found["Initial"], f"{hazard_id} {title}: residual above initial"


def test_the_sign_off_is_left_for_the_clinical_safety_officer():
    text = _log()
    sign_off = text[text.index("## Sign-off") :]
    for field in ("Name", "Role", "Date", "Signature"):
        assert field in sign_off
    assert "clinical safety officer" in sign_off.lower()


def test_the_intended_use_says_what_the_app_is_not():
    text = INTENDED_USE.read_text(encoding="utf-8").lower().replace("*", "")
    for words in ("not for", "emergency", "caregiver", "clinic", "2026.1", "does not replace"):
        assert words in text

"""Search looks a subject up exactly as an evaluation does: the org policy's type mapping,
external ids, unknown types, and conditions that compare the subject's id the PEP sent."""

from __future__ import annotations

from tests.unit.decisions.test_subjects import SNAPSHOT

from charter.domain.person_decisions import evaluate_person
from charter.domain.search import allows, resolve_subject, search_subjects, why_empty
from charter.domain.subjects import SubjectKind
from charter.domain.subjects import resolve_subject as resolve_evaluation_subject

NOW = 1_800_000_000_000_000


def test_a_person_is_found_by_external_id_and_a_mapped_type() -> None:
    by_alias = resolve_subject(SNAPSHOT, "employee", "CiRmZDE2")
    assert by_alias is not None
    assert (by_alias.kind, by_alias.id) == (SubjectKind.PERSON, "morty@c.example")
    assert resolve_subject(SNAPSHOT, "user", "MORTY@c.example") is not None


def test_unknown_types_and_shared_ids_find_nobody_and_say_why() -> None:
    assert resolve_subject(SNAPSHOT, "robot", "morty@c.example") is None
    assert why_empty(SNAPSHOT, None, "robot", "morty@c.example", NOW) is not None
    code, _ = why_empty(SNAPSHOT, None, "robot", "morty@c.example", NOW) or ("", "")
    assert code == "unknown_subject_type"
    assert resolve_subject(SNAPSHOT, "user", "shared") is None  # two people carry it
    assert search_subjects(SNAPSHOT, "robot", "todo.create", "todo:1", {}, None, NOW) == []


def test_search_keeps_the_sent_id_for_attribute_comparisons() -> None:
    subject = resolve_subject(SNAPSHOT, "user", "CiRmZDE2")
    assert subject is not None
    own = {"resource": {"properties": {"ownerID": "morty@c.example"}}}
    other = {"resource": {"properties": {"ownerID": "beth@c.example"}}}
    for context in (own, other):
        evaluated = evaluate_person(
            SNAPSHOT,
            resolve_evaluation_subject(SNAPSHOT, "user", "CiRmZDE2"),
            "todo.update",
            "todo:1",
            context,
            NOW,
        ).allowed
        assert allows(SNAPSHOT, subject, "todo.update", "todo:1", context, None, NOW) is evaluated
    assert allows(SNAPSHOT, subject, "todo.update", "todo:1", own, None, NOW)
    assert not allows(SNAPSHOT, subject, "todo.update", "todo:1", other, None, NOW)


def test_subject_search_over_people_uses_the_mapped_type() -> None:
    found = search_subjects(SNAPSHOT, "employee", "todo.create", "todo:1", {}, None, NOW)
    assert [item.id for item in found] == ["morty@c.example", "summer@c.example"]

"""The record's side of the payload codec: which person a case's workflow is about, and that person's keys.

A crisis case's workflow payloads are sealed with its person's own data key (``adapters.temporal.codec``),
so the codec must know the person from the workflow id alone, before the record holds the case: the case
client binds the case code to the person (`CaseSubjects.bind`, in the record's database) before it starts
the workflow, and the codec reads that binding back. An épisode de services' workflow (``episode-<CODE>``) is
bound and sealed the same way (`adapters.temporal.episodes.EpisodeClient`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, cast

from adapters.record.record import Record
from adapters.record.sealing import SubjectKeyStore
from workflows.crisis import workflow_id
from workflows.episodes import WORKFLOW_PREFIX as EPISODE_PREFIX

CASE_PREFIX = workflow_id("")


class CaseSubjects(Protocol):
    """The bindings case code → person (``adapters.record.sql.CaseSubjects``, ``…popo.MemoryCaseSubjects``)."""

    def bind(self, case_code: str, subject_id: str) -> None:
        """Once per case; the same person again is nothing; another person raises `CaseBoundElsewhere`."""

    def subject_of(self, case_code: str) -> str | None: ...


class HasCaseSubjects(Protocol):
    """What our persistence modules' factories give beside `adapters.record.record.Backend`."""

    def case_subjects(self) -> CaseSubjects: ...


def case_subjects(record: Record) -> CaseSubjects:
    return cast(HasCaseSubjects, record.factory).case_subjects()


@dataclass(frozen=True)
class RecordCaseKeys:
    """`adapters.temporal.codec.CaseKeys` over one record: its bindings and its per-person keys."""

    subjects: CaseSubjects
    keys: SubjectKeyStore

    @classmethod
    def of(cls, record: Record) -> RecordCaseKeys:
        return cls(case_subjects(record), record.subject_keys)

    def subject_of(self, workflow_id: str) -> str | None:
        # An épisode de services is bound like a case (its `E-` code never collides with a case's `C-`).
        for prefix in (CASE_PREFIX, EPISODE_PREFIX):
            if workflow_id.startswith(prefix):
                return self.subjects.subject_of(workflow_id.removeprefix(prefix))
        return None  # ententes carry no person

    def may_name_a_person(self, workflow_id: str) -> bool:
        return workflow_id.startswith((CASE_PREFIX, EPISODE_PREFIX))

    def key_for_writing(self, subject_id: str) -> tuple[str, bytes]:
        return self.keys.key_for_writing(subject_id)

    def key(self, subject_id: str, key_id: str) -> bytes | None:
        return self.keys.key(subject_id, key_id)

    def current_key_id(self, subject_id: str) -> str | None:
        return self.keys.current_key_id(subject_id)

    def kept(self, subject_id: str) -> tuple[str, bytes] | None:
        return self.keys.kept(subject_id)

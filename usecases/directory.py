"""Use cases of the directory of services: add, list, show, import and export (HSDS), each load-decide-save."""

from __future__ import annotations

from datetime import datetime

from eventsourcing.application import AggregateNotFoundError

from adapters.record.record import Record
from domain.directory.aggregate import DIRECTORY_ID, Directory
from domain.directory.hsds import from_hsds, to_hsds
from domain.directory.model import DirectoryService
from domain.errors import NotFound


class Services:
    def __init__(self, record: Record) -> None:
        self.record = record

    def _load(self) -> Directory | None:
        try:
            found: Directory = self.record.repository.get(DIRECTORY_ID)
        except AggregateNotFoundError:
            return None
        return found

    def _record(self, services: list[DirectoryService], by: str, at: datetime, *, replace: bool) -> int:
        directory = self._load() or Directory(by=by, at=at)
        changed = sum(directory.record(s, by, at, replace=replace) for s in services)
        self.record.save(directory)
        return changed

    def add(self, service: DirectoryService, by: str, at: datetime, *, replace: bool = False) -> DirectoryService:
        self._record([service], by, at, replace=replace)
        return service

    def import_hsds(self, data: object, by: str, at: datetime) -> int:
        """Every service of an HSDS document, added or changed; returns how many were recorded. Checked whole
        before anything is recorded (a bad document records nothing)."""
        return self._record(from_hsds(data), by, at, replace=True)

    def all(self) -> dict[str, DirectoryService]:
        directory = self._load()
        return dict(directory.services) if directory else {}

    def as_of(self, moment: datetime) -> dict[str, DirectoryService]:
        """The services as the directory stood at `moment`: its events up to the last of those recorded at or
        before it (each event's own `at`), so a timer's activity retried later reads what it read the first
        time. Nothing recorded by then: empty."""
        version = None
        for ev in self.record.stream(DIRECTORY_ID):
            if ev.at > moment:  # type: ignore[attr-defined]
                break
            version = ev.originator_version
        if version is None:
            return {}
        directory: Directory = self.record.repository.get(DIRECTORY_ID, version=version)
        return dict(directory.services)

    def list(self) -> list[DirectoryService]:
        return sorted(self.all().values(), key=lambda s: s.service_id)

    def get(self, service_id: str) -> DirectoryService:
        found = self.all().get(service_id)
        if found is None:
            raise NotFound(f"no service {service_id} in the directory")
        return found

    def export_hsds(self) -> dict[str, object]:
        return to_hsds(self.list())

"""The directory of services, event-sourced in the record: one aggregate for the region's directory, one event
per service added or changed (`ServiceRecorded`), so what a referral was checked against can be replayed."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.directory.model import DirectoryService
from domain.errors import DomainError

NAMESPACE = UUID("5b0f2c2e-6a0d-4f6e-9a52-3c1d7e8b9a40")
DIRECTORY_ID = uuid5(NAMESPACE, "annuaire")


class Directory(Aggregate):
    @staticmethod
    def create_id(**_: Any) -> UUID:
        return DIRECTORY_ID

    @event("Created")
    def __init__(self, by: str, at: datetime) -> None:
        self.services: dict[str, DirectoryService] = {}

    def record(self, service: DirectoryService, by: str, at: datetime, *, replace: bool) -> bool:
        """Add the service (or, with `replace`, change it); the same service again records nothing. False when
        nothing was recorded. Without `replace`, an id already listed with other content is refused."""
        known = self.services.get(service.service_id)
        if known == service:
            return False
        if known is not None and not replace:
            raise DomainError(f"service {service.service_id} is already in the directory",
                              code="duplicate_service")
        self._recorded(service=service.model_dump(mode="json"), by=by, at=at)
        return True

    @event("ServiceRecorded")
    def _recorded(self, service: dict[str, Any], by: str, at: datetime) -> None:
        s = DirectoryService.model_validate(service)
        self.services[s.service_id] = s

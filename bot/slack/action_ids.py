"""Action ids shared by buttons and their handlers, and the typed value a button carries."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, ValidationError

MESSAGE_METADATA_EVENT_TYPE = "oncall_incident"


class ActionId(StrEnum):
    """One id per button; the handler registers on the same value."""

    INCIDENT_ACK = "incident.ack"
    INCIDENT_ESCALATE = "incident.escalate"
    INCIDENT_ROUTE_TO_HUMANS = "incident.route_to_humans"
    INCIDENT_RESOLVE = "incident.resolve"
    INCIDENT_RUNBOOK_START = "incident.runbook_start"
    INCIDENT_RESTORE_AI = "incident.restore_ai"
    DIGEST_OPEN_INCIDENT = "digest.open_incident"


class BadActionValue(ValueError):
    """A button value that is not one we encoded: stale, tampered with or from another app."""


class IncidentRef(BaseModel):
    """Which incident a button acts on, encoded once into the button value, decoded once."""

    model_config = ConfigDict(frozen=True, strict=True, extra="forbid")

    incident_id: int = Field(ge=1)

    def encode(self) -> str:
        """Serialise as compact JSON, e.g. `{"incident_id":42}`."""
        return self.model_dump_json()

    @classmethod
    def decode(cls, value: str) -> IncidentRef:
        """Parse a button value back, so handlers never see a half-valid reference."""
        try:
            return cls.model_validate_json(value)
        except (ValidationError, TypeError) as exc:
            raise BadActionValue(f"not an incident reference: {str(value)[:100]!r}") from exc

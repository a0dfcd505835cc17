"""Action ids shared by buttons and their handlers, and the typed value a button carries."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import ClassVar, Self

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
    SILENCE_END = "silence.end"
    MAINTENANCE_END = "maintenance.end"
    TRIAGE_CONFIRM = "triage.confirm"
    TRIAGE_DISMISS = "triage.dismiss"
    INCIDENT_WHY = "incident.why"
    AUTO_RUNBOOK_CANCEL = "auto_runbook.cancel"
    INCIDENT_POST_UPDATE = "incident.post_update"
    INCIDENT_PUBLISH = "incident.publish"  # to the status page


#: Each digest line's button has its own action id, `digest.open_incident.<n>`; messages
#: posted before that carry the bare id, which still works.
DIGEST_OPEN_INCIDENT_PATTERN = re.compile(r"^digest\.open_incident(\.[0-9]+)?$")


def digest_open_incident_id(index: int) -> str:
    return f"{ActionId.DIGEST_OPEN_INCIDENT.value}.{index}"


class BadActionValue(ValueError):
    """A button value that is not one we encoded: stale, tampered with or from another app."""


class SlackValue(BaseModel):
    """Typed data that travels through Slack (a button value, a modal's private_metadata):
    encoded once as compact JSON, decoded once, so handlers never see a half-valid one."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    what: ClassVar[str] = "value"  # named in the error a stale or tampered value gets

    def encode(self) -> str:
        return self.model_dump_json()

    @classmethod
    def decode(cls, value: str) -> Self:
        try:
            return cls.model_validate_json(value)
        except (ValidationError, TypeError) as exc:
            raise BadActionValue(f"not {cls.what}: {str(value)[:100]!r}") from exc


class IncidentRef(SlackValue):
    """Which incident a button acts on, e.g. `{"incident_id":42}`."""

    model_config = ConfigDict(frozen=True, strict=True, extra="forbid")
    what: ClassVar[str] = "an incident reference"

    incident_id: int = Field(ge=1)


class QuietRef(SlackValue):
    """Which silence or maintenance window an **End now** button ends, e.g. `{"id":3}`."""

    model_config = ConfigDict(frozen=True, strict=True, extra="forbid")
    what: ClassVar[str] = "a silence or maintenance reference"

    id: int = Field(ge=1)

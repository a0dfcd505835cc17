"""Route to humans: the off-switch that moves an AI workflow to human handling, and back."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.domain.durations import Duration
from bot.domain.pagers import EnvName, HttpUrl

Mode = Literal["humans", "ai"]


class HandoffWebhook(BaseModel):
    """The endpoint that flips a service between AI and human handling (a flag service, say)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: HttpUrl
    secret_env: EnvName
    timeout: Duration = timedelta(seconds=5)


class HandoffNotify(BaseModel):
    """Who takes over: a channel to tell and/or a user group to mention."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    channel: str | None = None
    usergroup: str | None = None

    @field_validator("usergroup")
    @classmethod
    def _group_id(cls, value: str | None) -> str | None:
        if value is not None and not (value.startswith("S") and value[1:].isalnum()):
            raise ValueError("a Slack user group id like S0123ABCD")
        return value


class HumanHandoffSpec(BaseModel):
    """`handoff.<service>` in oncall.yaml: what Route to humans does for that service."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    webhook: HandoffWebhook
    notify: HandoffNotify = Field(default_factory=HandoffNotify)


def handoff_body(*, service: str, mode: Mode, incident_id: int, actor: str,
                 reason: str) -> dict:
    """The JSON the handoff webhook receives (documented in the README)."""
    return {"service": service, "mode": mode, "incident_id": incident_id, "actor": actor,
            "reason": reason}

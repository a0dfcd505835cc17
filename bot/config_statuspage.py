"""The `statuspage:` key of oncall.yaml: where a published incident goes and how it reads there.

    statuspage:
      provider: atlassian                 # or: webhook (a signed generic POST)
      page_id: kctbh9vrtdwd
      api_key_env: STATUSPAGE_API_KEY     # Authorization: OAuth <key>
      components: {voice-agent: cmp_voice}          # service -> component id
      states: {investigating: investigating, identified: identified, resolved: resolved}
      component_status: {critical: major_outage, default: degraded_performance}
      # provider: webhook -> webhook: {url: https://hooks.example.com/status, secret_env: ...}

Publishing is always a person's choice (button or `/oncall publish`), never automatic.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, model_validator

OUR_STATES = ("investigating", "identified", "monitoring", "resolved")
COMPONENT_STATUSES = ("operational", "degraded_performance", "partial_outage", "major_outage",
                      "under_maintenance")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class StatusWebhook(_Strict):
    url: AnyHttpUrl
    secret_env: str = Field(description="env var holding the HMAC secret (X-Oncall-Signature)")


class StatusPageConfig(_Strict):
    provider: Literal["atlassian", "webhook"] = "atlassian"
    page_id: str | None = None
    api_key_env: str | None = None  # atlassian: STATUSPAGE_API_KEY unless named
    api_url: AnyHttpUrl = AnyHttpUrl("https://api.statuspage.io/v1")
    webhook: StatusWebhook | None = None
    components: dict[str, str] = Field(default_factory=dict,
                                       description="service -> the provider's component id")
    states: dict[str, str] = Field(default_factory=lambda: {s: s for s in OUR_STATES})
    component_status: dict[str, str] = Field(
        default_factory=lambda: {"default": "partial_outage"},
        description="severity label -> component status while open; `default` for the rest")

    @model_validator(mode="after")
    def _complete(self) -> StatusPageConfig:
        if self.provider == "atlassian" and not self.page_id:
            raise ValueError("provider atlassian needs page_id")
        if self.provider == "atlassian" and self.api_key_env is None:
            self.api_key_env = "STATUSPAGE_API_KEY"  # so `check` asks for it
        if self.provider == "webhook" and self.webhook is None:
            raise ValueError("provider webhook needs webhook: {url, secret_env}")
        unknown = set(self.states) - set(OUR_STATES)
        if unknown:
            raise ValueError(f"states: unknown state(s) {', '.join(sorted(unknown))} "
                             f"(ours: {', '.join(OUR_STATES)})")
        bad = {v for v in self.component_status.values() if v not in COMPONENT_STATUSES}
        if bad:
            raise ValueError(f"component_status: {', '.join(sorted(bad))} is not one of "
                             f"{', '.join(COMPONENT_STATUSES)}")
        return self

    def state_of(self, status: str) -> str:
        """Our incident status -> the provider's incident state."""
        ours = {"triggered": "investigating", "acknowledged": "identified"}.get(status, status)
        return self.states.get(ours, ours)

    def component_impact(self, severity: str, resolved: bool) -> str:
        if resolved:
            return "operational"
        return self.component_status.get(severity) or self.component_status.get(
            "default", "partial_outage")

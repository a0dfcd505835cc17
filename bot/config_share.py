"""The `share:` key of oncall.yaml: how long shared journal links live, which hosts may show.

    share:
      default_for: 7d           # `/oncall share #N` without `for`
      max_for: 30d              # longer asks are refused
      allowed_hosts: [status.example.com]   # links to these stay on public pages
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field

from bot.domain.durations import Duration


class ShareConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    default_for: Duration = timedelta(days=7)
    max_for: Duration = timedelta(days=30)
    allowed_hosts: list[str] = Field(default_factory=list, description=(
        "host names whose links and mentions stay on shared pages (subdomains too)"))

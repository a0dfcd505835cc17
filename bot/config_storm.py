"""`storm:` in oncall.yaml: when a channel's backlog of posts becomes one live summary.

Slack posts about one message per second per channel; a flood of a thousand groups would take
a quarter of an hour to read one message each. Above `enter_above` waiting posts the channel
gets one summary instead (see README "Storms").
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field

from bot.domain.durations import Duration


class StormConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enter_above: int = Field(5, ge=1, le=10_000, description=(
        "more first posts than this waiting in one channel: the channel enters storm mode"))
    leave_after: Duration = Field(timedelta(minutes=5), description=(
        "no new incident joined for this long: the storm ends and its summary is finalized"))
    update_every: Duration = Field(timedelta(seconds=5), description=(
        "the summary is edited at most this often (chat.update is 50/min per workspace)"))
    post_survivors: bool = Field(False, description=(
        "when the storm ends, incidents still open get their own message"))
    thread_chars: int = Field(39_000, ge=500, le=39_000, description=(
        "longest thread reply listing the storm's incidents (chat.postMessage keeps text up "
        "to 40,000 characters; Slack folds a long one behind 'Show more'): at one reply per "
        "second per channel, 39,000 names about 400 incidents a second"))

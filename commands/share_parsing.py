"""`/oncall share`, `unshare` and `publish`: typed commands and their parsers.

    share #42 for 3d        share voice-gateway        unshare #42        publish #42
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from bot.domain.durations import Duration
from commands.arguments import MAX_ID, Args, Refusal, read_duration, read_incident

Id = Annotated[int, Field(ge=1, le=MAX_ID)]


class _Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ShareCommand(_Command):
    name: Literal["share"] = "share"
    incident: Id | None = None  # None and no service: the thread's incident
    service: str | None = None
    duration: Duration | None = None  # None: `share.default_for`


class UnshareCommand(_Command):
    name: Literal["unshare"] = "unshare"
    incident: Id | None = None
    token: str | None = None


class PublishCommand(_Command):
    name: Literal["publish"] = "publish"
    incident: Id | None = None


def parse_share(args: Args) -> ShareCommand:
    incident = read_incident(args, bare=True)
    service = None
    if incident is None and (word := args.peek()) is not None and not word.is_word("for"):
        service, args.pos = word.value, args.pos + 1
    duration = read_duration(args) if args.take_word("for") else None
    args.done()
    return ShareCommand(incident=incident, service=service, duration=duration)


def parse_unshare(args: Args) -> UnshareCommand:
    incident = read_incident(args, bare=True)
    if incident is not None:
        args.done()
        return UnshareCommand(incident=incident)
    word = args.optional()
    args.done()
    if word is None:
        raise Refusal("Missing #N or the link's TOKEN (the last part of the link).")
    return UnshareCommand(token=word.value.rstrip("/").rsplit("/", 1)[-1])


def parse_publish(args: Args) -> PublishCommand:
    incident = read_incident(args, bare=True)
    args.done()
    return PublishCommand(incident=incident)


SHARE_PARSERS = {"share": parse_share, "unshare": parse_unshare, "publish": parse_publish}

"""Send the digests: the hourly cost digest and the weekly noise review, once per window.

Scheduled sends claim their window with a unique `DigestRun` row in the transaction that
queues the message, so a restart, a second replica or a late tick never sends a window twice;
the ticks look back over every window still unsent, so none is skipped. On-demand digests
(`oncall-bot digest`, `/oncall digest`) build the same figures and claim nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.config_digests import cron_trigger
from bot.domain.confidence import read_score
from bot.domain.cost_digest import CostDigest, build_cost_digest
from bot.domain.digests import Window, digest_window, last_due_window, previous_week, week_before
from bot.domain.errors import DomainError
from bot.domain.noise import NoiseReview, noise_review
from bot.domain.permissions import Action
from bot.services import audit, storms
from bot.services.actors import CLI, Actor, as_actor
from bot.services.context import ServiceContext
from bot.services.install import record_start
from bot.store import digest_queries, install, repo
from bot.store.models import DigestRun
from bot.store.noise_records import action_items, incident_records

log = logging.getLogger(__name__)

COST, NOISE = "cost", "noise"
DIGEST_POST = "digest_post"
ALL_TEAMS = "*"  # the DigestRun team of one review covering every team
COST_LOOKBACK = timedelta(hours=24)  # windows missed while down longer than this are dropped
_CRON_SPANS = (timedelta(hours=1), timedelta(days=1), timedelta(days=8))


@dataclass(frozen=True)
class ReviewTarget:
    """One noise review message: whose incidents, where it goes, and in which time zone."""

    key: str  # a team name, or ALL_TEAMS
    teams: tuple[str, ...]
    channel: str
    time_zone: str


# -- the hourly cost digest ---------------------------------------------------------------


async def cost_tick(ctx: ServiceContext) -> int:
    """Queue each closed window of the last day that has items and was not sent yet."""
    now, config = ctx.clock.now(), ctx.config.digests.cost
    last = last_due_window(now, config.period, config.grace)
    since = last.end - COST_LOOKBACK
    async with ctx.db.reader() as s:
        moments = await digest_queries.item_moments(s, since, last.end)
        claimed = await digest_queries.claimed_windows(s, COST, since)
    windows = {(team, digest_window(at, config.period)) for team, at in moments
               if team in ctx.config.teams}
    sent = 0
    for team, window in sorted(windows):
        if (team, window.start) not in claimed:
            sent += await _isolated(ctx, COST, team, window, now,
                                    _send_cost_window(ctx, team, window, now))
    if sent:
        ctx.wake_delivery()
    return sent


async def _isolated(ctx: ServiceContext, kind: str, team: str, window: Window, now: datetime,
                    send: Awaitable[int]) -> int:
    """One window's send, in its own transaction: a failure rolls back its claim (so the next
    tick tries it again), is recorded, and does not stop the other teams' or later windows."""
    try:
        return await send
    except Exception as exc:
        log.exception("%s digest of %s for %s failed; retried at the next tick", kind, team,
                      window.start)
        await _record_failure(ctx, kind, team, window, exc, now)
        return 0


async def _record_failure(ctx: ServiceContext, kind: str, team: str, window: Window,
                          exc: Exception, now: datetime) -> None:
    """A timeline row with no incident: `digest_failed`, the window and the error."""
    error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:500]
    try:
        async with ctx.db.transaction() as s:
            repo.timeline(s, incident_id=None, at=now, kind="digest_failed", actor="bot",
                          text=f"{kind} digest for {team} ({window.start:%Y-%m-%d %H:%M} UTC) "
                               f"failed: {error}",
                          data={"digest": kind, "team": team,
                                "window_start": window.start.isoformat(), "error": error})
    except Exception:  # the database itself is down: the log above is all we can do
        log.exception("could not record the failed %s digest", kind)


async def _send_cost_window(ctx: ServiceContext, team: str, window: Window, now: datetime) -> int:
    async with ctx.db.transaction() as s:
        digest = build_cost_digest(await digest_queries.digest_items(s, window, team), window)
        if digest is None or not await digest_queries.claim(s, COST, team, window, now):
            return 0  # nothing to say, or another tick or replica got there first
        intent_id = await queue_digest(s, COST, team, ctx.config.channel_of(team),
                                       digest.to_json(), now)
        await _record_intent(s, COST, team, window, intent_id)
    return 1


async def cost_digests_now(ctx: ServiceContext, team: str | None = None) -> dict[str, CostDigest]:
    """The last `period` up to now, per team with spikes in it (on demand: claims nothing)."""
    now = ctx.clock.now()
    window = Window(now - ctx.config.digests.cost.period, now + timedelta(microseconds=1))
    found: dict[str, CostDigest] = {}
    async with ctx.db.reader() as s:
        for name in _teams(ctx, team):
            digest = build_cost_digest(await digest_queries.digest_items(s, window, name), window)
            if digest is not None:
                found[name] = digest
    return found


async def send_cost_digests_now(ctx: ServiceContext, team: str | None = None,
                                actor: Actor | str = CLI) -> list[int]:
    """Queue the on-demand cost digests; the ids of the intents, for callers that wait."""
    await _may_post(ctx, as_actor(actor), COST, team)
    digests = await cost_digests_now(ctx, team)
    now = ctx.clock.now()
    async with ctx.db.transaction() as s:
        ids = [await queue_digest(s, COST, name, ctx.config.channel_of(name), digest.to_json(),
                                  now, on_demand=True) for name, digest in digests.items()]
        _audit_posts(s, now, as_actor(actor), COST, list(digests))
    ctx.wake_delivery()
    return ids


# -- the weekly noise review --------------------------------------------------------------


async def noise_tick(ctx: ServiceContext) -> int:
    """Queue the review of the week the schedule last fired for, unless already sent.

    Weeks that ended before the install first started are never reviewed (a new install would
    post an empty review to every channel on day one), nor, unless `post_empty`, quiet weeks.
    """
    now, config = ctx.clock.now(), ctx.config.digests.noise
    fired = last_fire(config.schedule, config.time_zone, now)
    if fired is None:
        return 0
    async with ctx.db.reader() as s:  # most minutes: all sent already, and no write needed
        claimed = await digest_queries.claimed_windows(s, NOISE, fired - timedelta(days=15))
        started = await install.first_start(s)
    started = started or await record_start(ctx)  # no start recorded yet: this is the first
    sent = 0
    for target in review_targets(ctx):
        week = previous_week(fired, ZoneInfo(target.time_zone))
        if week.end > started and (target.key, week.start) not in claimed:
            sent += await _isolated(ctx, NOISE, target.key, week, now,
                                    _send_review(ctx, target, week, now))
    if sent:
        ctx.wake_delivery()
    return sent


async def _send_review(ctx: ServiceContext, target: ReviewTarget, week: Window,
                       now: datetime) -> int:
    async with ctx.db.transaction() as s:
        if not await digest_queries.claim(s, NOISE, target.key, week, now):
            return 0
        review = await _review(ctx, s, target, week, now)
        if review.fired == review.incidents == 0 and not ctx.config.digests.noise.post_empty:
            return 0  # a quiet week: claimed (decided once), not posted
        intent_id = await queue_digest(s, NOISE, target.key, target.channel, review.to_json(),
                                       now)
        await _record_intent(s, NOISE, target.key, week, intent_id)
    return 1


async def noise_reviews_now(ctx: ServiceContext,
                            team: str | None = None) -> dict[str, NoiseReview]:
    """Last calendar week's review per target (team, or every team), figured now, unclaimed."""
    now = ctx.clock.now()
    async with ctx.db.reader() as s:
        return {target.key: await _review(ctx, s, target, previous_week(
                    now, ZoneInfo(target.time_zone)), now)
                for target in review_targets(ctx, team)}


async def send_noise_reviews_now(ctx: ServiceContext, team: str | None = None,
                                 actor: Actor | str = CLI) -> list[int]:
    """Queue the on-demand reviews; the ids of the intents, for callers that wait."""
    await _may_post(ctx, as_actor(actor), NOISE, team)
    reviews = await noise_reviews_now(ctx, team)
    channels = {target.key: target.channel for target in review_targets(ctx, team)}
    now = ctx.clock.now()
    async with ctx.db.transaction() as s:
        ids = [await queue_digest(s, NOISE, key, channels[key], review.to_json(), now,
                                  on_demand=True) for key, review in reviews.items()]
        _audit_posts(s, now, as_actor(actor), NOISE, list(reviews))
    ctx.wake_delivery()
    return ids


async def _may_post(ctx: ServiceContext, actor: Actor, kind: str, team: str | None) -> None:
    """A team's responders may post its digest; every team's at once takes an admin."""
    await audit.authorize(ctx, Action.POST_DIGEST, actor,
                          audit.team_facts(ctx, actor, [team] if team else []),
                          team=team, target=f"digest:{kind}")


def _audit_posts(s: AsyncSession, now: datetime, actor: Actor, kind: str,
                 keys: list[str]) -> None:
    for key in keys:
        audit.record(s, now, actor.user_id, Action.POST_DIGEST,
                     team=key if key != ALL_TEAMS else None, target=f"digest:{kind}",
                     detail="on demand")


def review_targets(ctx: ServiceContext, team: str | None = None) -> list[ReviewTarget]:
    """One review per team in its channel, or one of every team in `digests.noise.channel`."""
    config = ctx.config.digests.noise
    if config.channel and team is None:
        return [ReviewTarget(ALL_TEAMS, tuple(ctx.config.teams), config.channel,
                             config.time_zone)]
    return [ReviewTarget(name, (name,), config.channel or ctx.config.channel_of(name),
                         ctx.config.time_zone_of(name)) for name in _teams(ctx, team)]


def _priors(ctx: ServiceContext, alertnames: set[str]) -> dict[str, float]:
    """Each rule's configured reliability, where `sources:` names it (`alertname=NAME`)."""
    found = {}
    for name in alertnames:
        reading = read_score({"alertname": name}, {}, "", ctx.config.sources)
        if reading.score is not None:
            found[name] = reading.score.value
    return found


async def _review(ctx: ServiceContext, s: AsyncSession, target: ReviewTarget, week: Window,
                  now: datetime) -> NoiseReview:
    """The figures of one week from the database, with the week before for comparison."""
    tz = ZoneInfo(target.time_zone)
    before = week_before(week, tz)
    rotations = {name: team.schedule or name for name, team in ctx.config.teams.items()}
    records = await incident_records(s, Window(before.start, week.end), teams=target.teams,
                                     rotations=rotations)
    previous = [record for record in records if before.holds(record.opened_at)]
    review = noise_review(records, await action_items(s, target.teams), week, previous, tz=tz,
                          business_hours=ctx.config.digests.noise.business_hours,
                          today=now.astimezone(tz).date(),
                          priors=_priors(ctx, {r.alertname for r in records}))
    channels = sorted({ctx.config.channel_of(t) for t in target.teams if t in ctx.config.teams})
    return review.model_copy(update={"storms": await storms.count_between(
        s, channels, week.start, week.end)})


def last_fire(schedule: str, time_zone: str, now: datetime) -> datetime | None:
    """When the crontab last fired at or before `now` (looking back at most eight days)."""
    trigger = cron_trigger(schedule, time_zone)
    for span in _CRON_SPANS:
        moment, last = trigger.get_next_fire_time(None, now - span), None
        while moment is not None and moment <= now:
            last = moment
            moment = trigger.get_next_fire_time(moment, moment + timedelta(seconds=1))
        if last is not None:
            return last.astimezone(UTC)
    return None


# -- shared -------------------------------------------------------------------------------


async def queue_digest(s: AsyncSession, kind: str, team: str, channel: str,
                       figures: dict[str, Any], at: datetime, *, on_demand: bool = False,
                       ) -> int | None:
    """A digest message to post (and for the review, its chart): the figures travel with it."""
    return await repo.enqueue(s, kind=DIGEST_POST, lane=f"channel:{channel}", at=at, payload={
        "digest": kind, "team": team, "channel": channel, "figures": figures,
        "on_demand": on_demand})


async def _record_intent(s: AsyncSession, kind: str, team: str, window: Window,
                         intent_id: int | None) -> None:
    await repo.set_where(s, DigestRun, [DigestRun.kind == kind, DigestRun.team == team,
                                        DigestRun.window_start == window.start],
                         {"intent_id": intent_id})


def _teams(ctx: ServiceContext, team: str | None) -> list[str]:
    if team is None:
        return list(ctx.config.teams)
    if team not in ctx.config.teams:
        raise DomainError(f"There is no team '{team}' (teams: {', '.join(ctx.config.teams)}).")
    return [team]

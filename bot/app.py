"""The one place that wires adapters and services into a running aiohttp application."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from importlib import metadata
from pathlib import Path

from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot import jobs
from bot.config import OncallConfig
from bot.delivery.worker import DeliveryPolicy, DeliveryWorker, Group
from bot.domain.runbook_loader import load_runbooks
from bot.domain.runbooks import Runbook
from bot.ingest.changes_http import ChangeReceiver
from bot.ingest.http import MAX_BODY_BYTES, AlertReceiver, WebhookLimits
from bot.metrics import Metrics
from bot.outbound import OutboundSender
from bot.outbound_statuspage import StatusPageSender
from bot.services import audit, heartbeat, install, notify, outbox, storms
from bot.services.context import Clock, ServiceContext, SystemClock
from bot.services.digests import DIGEST_POST
from bot.services.home_refresh import HOME_PUBLISH
from bot.services.outbox import SYNC_MESSAGE
from bot.services.runbook_effects import REMEDIATION_HOOK
from bot.services.runbooks import RUNBOOK_CLOSE, RUNBOOK_POST
from bot.services.statuspage import STATUSPAGE_SYNC
from bot.settings import Settings
from bot.slack.digest import actions as digest_actions
from bot.slack.digest.sender import DigestSender
from bot.slack.feedback import actions as feedback_actions
from bot.slack.incident import actions
from bot.slack.outbox.notes import SlackNotes
from bot.slack.outbox.page_lookup import SlackPageLookup
from bot.slack.outbox.sender import SlackSender
from bot.slack.quiet import actions as quiet_actions
from bot.slack.runbook import actions as runbook_actions
from bot.slack.runbook.sender import RunbookSender
from bot.slack.share import actions as share_actions
from bot.slack.stakeholders import actions as stakeholder_actions
from bot.slack.stakeholders.sender import HomeSender
from bot.slack.storm import actions as storm_slack
from bot.slack.storm.sender import StormSender
from bot.slack.transport import answers, middleware
from bot.slack.transport.directory import ChannelDirectory
from bot.slack.transport.door import SlackDoor
from bot.slack.transport.errors import OUTAGE_LABELS
from bot.slack.transport.usergroups import UsergroupDirectory, UsergroupPager
from bot.slack.triage import actions as triage_actions
from bot.store.db import Database
from bot.web.journal import JournalPages
from commands import slack as slash

log = logging.getLogger(__name__)


@dataclass
class Components:
    """Everything a running bot holds; tests build one against fakes and poke at the parts."""

    settings: Settings
    config: OncallConfig
    db: Database
    metrics: Metrics
    services: ServiceContext
    client: AsyncWebClient
    directory: ChannelDirectory
    worker: DeliveryWorker
    bolt: AsyncApp
    channel_problems: list[str] = field(default_factory=list)
    socket_handler: object | None = None
    socket_task: asyncio.Task | None = None
    run_background: bool = True  # tests turn this off and drive delivery by hand


def build_components(settings: Settings, config: OncallConfig, *, clock: Clock | None = None,
                     policy: DeliveryPolicy | None = None) -> Components:
    db = Database(settings.database_url, connections=settings.webhook_max_concurrent + 8)
    metrics = Metrics()
    clock = clock or SystemClock(timedelta(seconds=settings.oncall_clock_offset))
    services = ServiceContext(db=db, config=config, clock=clock,
                              runbooks=_load_runbooks(config),
                              public_url=settings.public_url.rstrip("/"))
    policy = policy or DeliveryPolicy()
    # process_before_response=False: the HTTP answer leaves as soon as a listener calls ack(),
    # and every listener acks before touching the database or Slack
    # (bot/slack/transport/answers.py).
    bolt = AsyncApp(token=settings.secret("slack_bot_token") or None,
                    signing_secret=settings.secret("slack_signing_secret"),
                    process_before_response=False)
    client = _slack_client(bolt, settings, policy)
    directory = ChannelDirectory(client)
    worker = _worker(services, client, directory, metrics, policy)
    services.wake_delivery = worker.wake
    answers.register(bolt)
    middleware.register(bolt, services, UsergroupDirectory(client, _responder_groups(config)))
    actions.register(bolt)
    digest_actions.register(bolt)
    runbook_actions.register(bolt)
    quiet_actions.register(bolt)
    storm_slack.register(bolt)
    triage_actions.register(bolt)
    feedback_actions.register(bolt)
    stakeholder_actions.register(bolt)
    share_actions.register(bolt)
    slash.register(bolt, config.slash_command)
    return Components(settings, config, db, metrics, services, client, directory, worker, bolt)


def _slack_client(bolt: AsyncApp, settings: Settings, policy: DeliveryPolicy) -> AsyncWebClient:
    """Bolt's own Web API client, pointed at SLACK_API_URL, for Bolt and delivery alike.

    Not a client of ours handed to Bolt: Bolt reads SLACK_BOT_TOKEN from the environment
    itself and, given a client too, warns at every start that the token "will be unused".
    """
    client = bolt.client
    client.base_url = settings.slack_api_url
    client.timeout = policy.call_timeout
    return client


def _worker(services: ServiceContext, client: AsyncWebClient, directory: ChannelDirectory,
            metrics: Metrics, policy: DeliveryPolicy) -> DeliveryWorker:
    """The outbox worker with a sender for every kind of intent the services write."""
    worker = DeliveryWorker(services, metrics, policy)
    slack = SlackSender(services, client, directory, metrics, policy)
    notes, steps = SlackNotes(slack), RunbookSender(slack)
    storm_sender = StormSender(slack)
    http = OutboundSender(services, metrics, timeout=policy.call_timeout,
                          lookup=SlackPageLookup(slack))
    group = Group("slack", OUTAGE_LABELS, probe=slack.probe)
    for kind, sender in ((SYNC_MESSAGE, slack.sync_message), (notify.SYNC_DM, notes.sync_dm),
                         (notify.THREAD_NOTE, notes.thread_note),
                         (notify.EPHEMERAL, notes.ephemeral),
                         (notify.VIEW_UPDATE, notes.view_update),
                         (notify.CHANNEL_POST, notes.channel_post),
                         (notify.TEST_DM, notes.test_dm),
                         (notify.FILE_UPLOAD, notes.file_upload),
                         (notify.PAGE_USERGROUP, UsergroupPager(slack).page_usergroup),
                         (RUNBOOK_POST, steps.post_step), (RUNBOOK_CLOSE, steps.close_step),
                         (DIGEST_POST, DigestSender(slack).digest_post),
                         (storms.STORM_SYNC, storm_sender.storm_sync),
                         (storms.STORM_LIST, storm_sender.storm_list),
                         (HOME_PUBLISH, HomeSender(slack).home_publish)):
        worker.register(kind, sender, group)
    for kind, sender in ((REMEDIATION_HOOK, http.remediation_hook),
                         (notify.PAGER_EVENT, http.pager_event),
                         (notify.HANDOFF_WEBHOOK, http.handoff_webhook),
                         (STATUSPAGE_SYNC, StatusPageSender(http).sync)):
        worker.register(kind, sender)
    return worker


def _load_runbooks(config: OncallConfig) -> list[Runbook]:
    """Runbooks that fail to load are logged (and `check` fails); the rest still work."""
    runbooks, problems = load_runbooks(Path(config.runbooks_dir))
    for problem in problems:
        log.error("runbook %s", problem)
    return runbooks


def _responder_groups(config: OncallConfig) -> set[str]:
    """User groups whose members the permission checks need: responders' and admins'."""
    listed = [r for team in config.teams.values() for r in team.responders] + config.admins
    return {r for r in listed if r.startswith("S")}


def build_web_app(parts: Components) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    settings = parts.settings
    receiver = AlertReceiver(parts.services, parts.metrics, settings.secret("alert_webhook_token"),
                             WebhookLimits(read_timeout=settings.http_read_timeout,
                                           max_concurrent=settings.webhook_max_concurrent,
                                           queue_wait=settings.webhook_queue_wait))
    changes = ChangeReceiver(parts.services, settings.secret("alert_webhook_token"),
                             settings.secret("github_webhook_secret"),
                             parts.config.changes.github_service_from)
    app.add_routes([web.post("/slack/events", _slack_door(parts).handle), *receiver.routes(),
                    *changes.routes(),
                    web.get("/healthz", _healthz), web.get("/readyz", _readyz(parts)),
                    web.get("/metrics", _metrics(parts)),
                    *JournalPages(parts.services, parts.metrics).routes()])
    app.cleanup_ctx.append(_lifecycle(parts))
    return app


def server_options(settings: Settings) -> dict[str, float | bool]:
    """aiohttp server options: a connection must deliver its request headers within the read
    timeout (aiohttp's keep-alive timer runs from the connection's start), or it is closed;
    webhook bodies are decompressed by the receiver, which answers a false coding with 400."""
    return {"keepalive_timeout": settings.http_read_timeout, "auto_decompress": False}


def _slack_door(parts: Components) -> SlackDoor:
    return SlackDoor(parts.bolt, parts.settings.secret("slack_signing_secret"))


async def _healthz(_request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


def _readyz(parts: Components):
    async def handle(_request: web.Request) -> web.Response:
        checks = await parts.db.readiness()
        if parts.settings.socket_mode:
            checks["slack_socket"] = await _socket_connected(parts)
        return web.json_response({"ready": all(checks.values()), "checks": checks},
                                 status=200 if all(checks.values()) else 503)
    return handle


async def _socket_connected(parts: Components) -> bool:
    client = getattr(parts.socket_handler, "client", None)
    return client is not None and await client.is_connected()


def _metrics(parts: Components):
    async def handle(_request: web.Request) -> web.Response:
        await parts.worker.refresh_gauges()
        return web.Response(body=generate_latest(parts.metrics.registry),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})
    return handle


def _lifecycle(parts: Components):
    async def lifecycle(_app: web.Application) -> AsyncIterator[None]:
        await install.record_start(parts.services)
        await audit.record_config_load(parts.services)
        await outbox.recover_after_restart(parts.db, parts.services.clock.now())
        await heartbeat.watch(parts.services)
        await _prepare_channels(parts)
        background = _start_background(parts) if parts.run_background else None
        await _connect_socket_mode(parts)
        yield
        if background is not None:
            await _stop_background(parts, *background)
        await _log_pending(parts)
        if parts.socket_handler is not None:
            if parts.socket_task is not None:
                parts.socket_task.cancel()
            await parts.socket_handler.close_async()
        await parts.db.dispose()
    return lifecycle


def _start_background(parts: Components) -> tuple[asyncio.Task, AsyncIOScheduler]:
    """The delivery worker, and the APScheduler ticks (retries, escalations, digests...)."""
    worker_task = asyncio.create_task(parts.worker.run(), name="delivery")
    scheduler = AsyncIOScheduler(timezone="UTC", job_defaults={
        "coalesce": True, "max_instances": 1, "misfire_grace_time": 30})
    jobs.schedule(scheduler, parts.services, parts.worker)
    scheduler.start()
    return worker_task, scheduler


async def _stop_background(parts: Components, worker_task: asyncio.Task,
                           scheduler: AsyncIOScheduler) -> None:
    scheduler.shutdown(wait=False)
    parts.worker.stop()
    with contextlib.suppress(asyncio.CancelledError, TimeoutError):
        await asyncio.wait_for(worker_task, timeout=5)


async def _prepare_channels(parts: Components) -> None:
    """Resolve channel names and join public channels; a Slack outage must not stop start-up."""
    channels = [team.channel for team in parts.config.teams.values()]
    channels += [t.status_channel for t in parts.config.teams.values() if t.status_channel]
    try:
        parts.channel_problems = await parts.directory.prepare(channels)
    except Exception as exc:  # Slack unreachable at start: delivery resolves lazily later
        log.warning("could not check Slack channels at start: %s", exc)
        return
    for problem in parts.channel_problems:
        log.error("%s", problem)


async def _connect_socket_mode(parts: Components) -> None:
    if not parts.settings.socket_mode:
        return
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

    parts.socket_handler = AsyncSocketModeHandler(
        parts.bolt, app_token=parts.settings.secret("slack_app_token"), web_client=parts.client)
    # In the background: slack_sdk retries a failed connect forever, and a Slack outage at
    # start must not keep /healthz and the webhooks down (/readyz reports it instead).
    parts.socket_task = asyncio.create_task(parts.socket_handler.connect_async(),
                                            name="socket-mode")


def start_line(parts: Components, address: str) -> str:
    """The one line logged when serving starts: what runs, where, on what, for whom."""
    channels = sorted({team.channel for team in parts.config.teams.values()})
    mode = "Socket Mode" if parts.settings.socket_mode else "HTTP, Slack at /slack/events"
    return (f"oncall-bot {_version()} listening on {address} ({mode}); database "
            f"{parts.db.dialect}; {len(parts.config.teams)} teams in {', '.join(channels)}")


async def _log_pending(parts: Components) -> None:
    """At shutdown (SIGTERM), say what delivery leaves for the next start."""
    try:
        count, oldest = await outbox.depth(parts.db, parts.services.clock.now())
    except Exception as exc:  # the database may be what is going away
        log.warning("stopping; pending outbox intents unknown: %s", exc)
        return
    log.info("stopping: %d outbox intent(s) still pending%s; they are delivered after the "
             "next start", count, f" (oldest {oldest:.0f} s)" if count else "")


def _version() -> str:
    try:
        return metadata.version("oncall-bot")
    except metadata.PackageNotFoundError:
        return "(not installed)"

"""Status page publishing: an explicit choice (button or `/oncall publish`), through the
outbox, checked by a Statuspage stand-in; updates and resolution follow; failures show."""

from __future__ import annotations

import json

import pytest
from sqlmodel import select

from bot.domain.signing import verify
from bot.slack.action_ids import ActionId
from bot.store.models import AuditRow, StatusPublication, TimelineEvent
from tests.appkit import CONFIG, payload, start_bot
from tests.fakes.receiver import Receiver
from tests.fakes.statuspage import StatuspageStandIn

RESPONDER, STRANGER = "U0PLATFORM1", "U0STRANGER1"


def config(extra: str) -> str:
    return CONFIG + "delivery: {max_attempts: 3}\n" + extra


@pytest.fixture
async def standin():
    server = StatuspageStandIn()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def bot(tmp_path, standin, monkeypatch):
    monkeypatch.setenv("STATUSPAGE_API_KEY", standin.api_key)
    running = await start_bot(f"sqlite:///{tmp_path}/oncall.db", config=config(
        f"statuspage: {{page_id: {standin.page_id}, api_url: '{standin.url}', "
        "components: {voice-agent: cmp_voice}, component_status: {page: major_outage}}\n"))
    yield running
    await running.close()
    await running.slack.stop()


async def open_incident(bot, severity: str = "page") -> int:
    body = payload("alertmanager/firing-model-ftl-p95.json")
    body["alerts"][0]["labels"].update({"alert_type": "infra", "severity": severity})
    await bot.post_alerts(body)
    await bot.drain()
    return (await bot.incidents())[-1].id


async def status_update(bot, incident_id: int, text: str) -> None:
    """A responder's `/oncall update`: the thread, the status channel and, once published,
    the status page hear it."""
    reply = await bot.slash(f"update #{incident_id} {text}", user=RESPONDER)
    assert "error id" not in str(reply), reply


async def rows(bot, query) -> list:
    async with bot.parts.db.reader() as s:
        return list((await s.exec(query)).all())


def buttons(bot) -> list[str]:
    message = bot.slack.messages("CPLATFORM1")[0]
    return [e["text"]["text"] for b in message["blocks"] if b["type"] == "actions"
            for e in b["elements"]]


async def test_publish_button_creates_the_status_page_incident(bot, standin):
    incident_id = await open_incident(bot)
    assert "Publish to status page" in buttons(bot)

    assert await bot.click(ActionId.INCIDENT_PUBLISH.value, incident_id) == 200
    await bot.drain()

    [(method, path, body)] = standin.requests
    assert (method, path) == ("POST", f"/v1/pages/{standin.page_id}/incidents")
    assert body["incident"]["status"] == "investigating"
    assert body["incident"]["name"].startswith("HealthcareFTLP95High")
    assert body["incident"]["components"] == {"cmp_voice": "major_outage"}
    [published] = await rows(bot, select(StatusPublication))
    assert published.provider_id == "inc0001" and published.published_by == RESPONDER
    assert {"status_published", "status_page_synced"} <= set(
        await bot.timeline_kinds(incident_id))
    [audited] = await rows(bot, select(AuditRow).where(AuditRow.action == "publish"))
    assert audited.actor == RESPONDER
    assert "Publish to status page" not in buttons(bot)  # published: the button goes


async def test_publish_command_then_updates_and_resolution_follow(bot, standin):
    incident_id = await open_incident(bot)
    reply = await bot.slash(f"publish #{incident_id}")
    await bot.drain()
    assert "Publishing" in reply["text"] and len(standin.requests) == 1

    await bot.slash(f"ack #{incident_id}")
    await status_update(bot, incident_id, "Traffic moved to the second provider; "
                                          "<@U0PLATFORM1> is watching.")
    await bot.drain()
    await bot.slash(f"resolve #{incident_id} latency back to normal")
    await bot.drain()

    incident = standin.incidents["inc0001"]
    assert [m for m, _, _ in standin.requests] == ["POST", "PATCH", "PATCH"]
    assert incident["updates"][1] == "Traffic moved to the second provider; a responder is " \
                                     "watching."
    assert standin.requests[1][2]["incident"]["status"] == "identified"
    assert incident["status"] == "resolved"
    assert incident["components"] == {"cmp_voice": "operational"}
    assert incident["updates"][2] == "The issue has been resolved."


async def test_publishing_twice_or_by_a_stranger_is_refused(bot, standin):
    incident_id = await open_incident(bot)
    reply = await bot.slash(f"publish #{incident_id}", user=STRANGER)
    assert "may not publish" in reply["text"]
    [refused] = await rows(bot, select(AuditRow).where(AuditRow.outcome == "refused"))
    assert refused.action == "publish" and refused.actor == STRANGER

    await bot.slash(f"publish #{incident_id}")
    reply = await bot.slash(f"publish #{incident_id}")
    await bot.drain()
    assert "already on the status page" in reply["text"]
    assert len(standin.requests) == 1


async def test_no_severity_is_published_without_a_click(bot, standin):
    for severity in ("sev3", "sev4", "page", "sev1"):
        await open_incident(bot, severity=severity)
        bot.clock.advance(minutes=1)
    await bot.slash("ack #1")
    await bot.drain()
    assert standin.requests == []
    assert await rows(bot, select(StatusPublication)) == []


async def test_a_failing_status_page_is_retried_then_shown_on_the_message(bot, standin):
    incident_id = await open_incident(bot)
    standin.fail_next.extend([503, 502, 500])
    await bot.slash(f"publish #{incident_id}")
    for _ in range(4):
        await bot.drain()
        bot.clock.advance(minutes=1)

    assert len(standin.requests) == 3  # retried, up to delivery.max_attempts
    [failed] = [i for i in await bot.intents() if i.kind == "statuspage_sync"]
    assert failed.state == "failed" and failed.attempts == 3
    timeline = await rows(bot, select(TimelineEvent).where(
        TimelineEvent.kind == "delivery_failed"))
    assert "status page update failed" in timeline[0].text
    message = json.dumps(bot.slack.messages("CPLATFORM1")[0]["blocks"])
    assert "status page update" in message and "HTTP 500" in message


async def test_a_signed_webhook_is_the_other_provider(tmp_path, monkeypatch):
    hook = Receiver()
    await hook.start()
    monkeypatch.setenv("STATUS_HOOK_SECRET", "s3cret")
    bot = await start_bot(f"sqlite:///{tmp_path}/oncall.db", config=config(
        f"statuspage: {{provider: webhook, webhook: {{url: '{hook.url}/status', "
        "secret_env: STATUS_HOOK_SECRET}}\n"))
    try:
        incident_id = await open_incident(bot)
        await bot.slash(f"publish #{incident_id}")
        await bot.drain()
    finally:
        await bot.close()
        await bot.slack.stop()
        await hook.stop()

    [received] = hook.requests
    assert received.json["state"] == "investigating" and received.json["incident"] == 1
    assert verify(received.headers["X-Oncall-Signature"], received.body, "s3cret",
                  now=int(bot.clock.now().timestamp()))


async def test_an_incident_resolved_by_its_alerts_resolves_on_the_status_page(bot, standin):
    incident_id = await open_incident(bot)
    await bot.slash(f"publish #{incident_id}")
    await bot.drain()

    resolved = payload("alertmanager/resolved-model-ftl-p95.json")
    resolved["alerts"][0]["labels"].update({"alert_type": "infra", "severity": "page"})
    await bot.post_alerts(resolved)
    await bot.drain()

    assert (await bot.incident(incident_id)).status == "resolved"
    assert standin.incidents["inc0001"]["status"] == "resolved"
    assert standin.incidents["inc0001"]["components"] == {"cmp_voice": "operational"}


def test_the_statuspage_config_says_what_is_missing_and_check_asks_for_the_key():
    from bot.config import ConfigError, parse_config
    from bot.preflight import env_var_problems

    with pytest.raises(ConfigError) as error:
        parse_config(config("statuspage: {provider: atlassian}\n"))
    assert "statuspage" in str(error.value) and "page_id" in str(error.value)
    with pytest.raises(ConfigError) as error:
        parse_config(config("statuspage: {page_id: p, component_status: {sev1: on_fire}}\n"))
    assert "on_fire" in str(error.value)

    atlassian = parse_config(config("statuspage: {page_id: p}\n"))
    hook = parse_config(config("statuspage: {provider: webhook, webhook: "
                               "{url: 'https://h.example.com', secret_env: HOOK_KEY}}\n"))
    lines = {"statuspage": 20}  # (line_for loops on a top-level key missing from `lines`)
    assert ["STATUSPAGE_API_KEY" in str(p) for p in env_var_problems(
        atlassian, {}, "oncall.yaml", lines)] == [True]
    assert ["HOOK_KEY" in str(p) for p in env_var_problems(hook, {}, "oncall.yaml",
                                                           lines)] == [True]

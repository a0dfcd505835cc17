"""The alert path over real HTTP: webhook in, incident stored, one Slack message out."""

from __future__ import annotations

import copy

import pytest

from tests.appkit import CONFIG, payload, start_bot


def texts_of(blocks: list[dict]) -> str:
    """Every visible string in a message's blocks, to assert on what a responder reads."""
    found: list[str] = []

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "text" and isinstance(value, str):
                    found.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(blocks)
    return "\n".join(found)


def action_ids(blocks: list[dict]) -> list[str]:
    return [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]


async def test_a_firing_alert_becomes_one_message_in_its_teams_channel(bot):
    status, body = await bot.post_alerts(payload("alertmanager/firing-model-ftl-p95.json"))

    assert status == 202
    assert body["accepted"] == 1 and body["rejected"] == []
    await bot.drain()
    [incident] = await bot.incidents()
    assert (incident.team, incident.status, incident.action) == ("ai-eng", "triggered", "page")
    [post] = bot.slack.calls_to("chat.postMessage")
    assert post.args["channel"] == "CAIENG0001"
    shown = texts_of(post.args["blocks"])
    assert "FTL p95 above 800 ms for healthcare" in shown
    assert "https://runbooks.example.com/ftl-p95" in shown
    assert action_ids(post.args["blocks"]) == [  # a starter runbook serves this alertname
        # no Route to humans: voice-agent has no handoff in this config
        "incident.ack", "incident.escalate", "incident.resolve",
        "incident.runbook_start", "incident.post_update"]
    assert incident.runbook == "latency-p95-slo"
    assert post.args["metadata"]["event_payload"]["incident_id"] == incident.id
    assert await bot.timeline_kinds(incident.id) == ["received", "routed", "not_paged", "posted"]


async def test_redelivery_posts_nothing_new_but_updates_annotations(bot):
    body = payload("alertmanager/firing-model-ftl-p95.json")
    await bot.post_alerts(body)
    await bot.drain()
    status, answer = await bot.post_alerts(body)
    await bot.drain()

    assert status == 202 and answer["repeated"] == 1
    assert len(bot.slack.calls_to("chat.postMessage")) == 1
    assert bot.slack.calls_to("chat.update") == []  # nothing changed, nothing to re-render

    changed = copy.deepcopy(body)
    changed["alerts"][0]["annotations"]["summary"] = "FTL p95 now 1400 ms"
    await bot.post_alerts(changed)
    await bot.drain()
    [update] = bot.slack.calls_to("chat.update")
    assert "FTL p95 now 1400 ms" in texts_of(update.args["blocks"])
    [alert] = await bot.alerts()
    assert alert.deliveries == 2  # the unchanged repeat was answered from a read: no write


async def test_resolution_at_the_source_resolves_and_updates_the_message(bot):
    await bot.post_alerts(payload("alertmanager/firing-model-ftl-p95.json"))
    await bot.drain()
    await bot.post_alerts(payload("alertmanager/resolved-model-ftl-p95.json"))
    await bot.drain()

    [incident] = await bot.incidents()
    assert incident.status == "resolved" and incident.resolved_by is None
    [update] = bot.slack.calls_to("chat.update")
    ids = action_ids(update.args["blocks"])
    assert ids and all(a.startswith("feedback.") for a in ids)  # only the feedback row
    assert "resolved" in update.args["text"]
    kinds = await bot.timeline_kinds(incident.id)
    assert "alert_resolved" in kinds and "resolved" in kinds


async def test_alerts_of_one_group_share_an_incident_and_its_message(bot):
    body = payload("alertmanager/firing-model-ftl-p95.json")
    second = copy.deepcopy(body["alerts"][0])
    second["labels"]["vertical"] = "retail"
    second["fingerprint"] = "aaaaaaaaaaaaaaaa"
    second["annotations"]["summary"] = "FTL p95 above 800 ms for retail"
    await bot.post_alerts(body)
    await bot.drain()
    body["alerts"].append(second)
    await bot.post_alerts(body)
    await bot.drain()

    [incident] = await bot.incidents()
    assert len(bot.slack.calls_to("chat.postMessage")) == 1
    [update] = bot.slack.calls_to("chat.update")
    assert "FTL p95 above 800 ms for retail" in texts_of(update.args["blocks"])
    assert "alert_added" in await bot.timeline_kinds(incident.id)


async def test_tool_alerts_go_to_the_owner_of_the_tool(bot):
    await bot.post_alerts(payload("alertmanager/firing-tool-stripe.json"))
    await bot.drain()

    [incident] = await bot.incidents()
    assert incident.team == "integrations"
    assert bot.slack.calls_to("chat.postMessage")[0].args["channel"] == "CINTEGR001"
    assert any("tool_owners" in reason for reason in incident.rationale["reasons"])


async def test_cost_alerts_on_a_digest_route_are_stored_not_posted(bot):
    status, body = await bot.post_alerts(payload("alertmanager/firing-cost-spike.json"))
    await bot.drain()

    assert status == 202 and body["accepted"] == 1
    assert await bot.incidents() == []
    assert len(await bot.alerts()) == 1
    assert bot.slack.calls_to("chat.postMessage") == []


async def test_continue_opens_one_incident_per_matched_route(tmp_path):
    config = CONFIG.replace("- {matchers: ['alert_type=\"model\"'], receiver: ai-eng}",
                            "- {matchers: ['alert_type=\"model\"'], receiver: ai-eng, "
                            "continue: true}\n    - {matchers: ['service=\"voice-agent\"'], "
                            "receiver: platform}")
    bot = await start_bot(f"sqlite:///{tmp_path}/oncall.db", config=config)
    try:
        await bot.post_alerts(payload("alertmanager/firing-model-ftl-p95.json"))
        await bot.drain()
        assert sorted(i.team for i in await bot.incidents()) == ["ai-eng", "platform"]
        channels = sorted(c.args["channel"] for c in bot.slack.calls_to("chat.postMessage"))
        assert channels == ["CAIENG0001", "CPLATFORM1"]
    finally:
        await bot.close()
        await bot.slack.stop()


async def test_alert_text_cannot_ping_the_channel(bot):
    body = payload("alertmanager/firing-model-ftl-p95.json")
    body["alerts"][0]["annotations"]["description"] = "<!channel> wake up <@U123> & co"
    await bot.post_alerts(body)
    await bot.drain()

    [post] = bot.slack.calls_to("chat.postMessage")
    shown = texts_of(post.args["blocks"]) + post.args["text"]
    assert "<!channel>" not in shown and "<@U123>" not in shown
    assert "&lt;!channel&gt; wake up &lt;@U123&gt; &amp; co" in shown


async def test_a_payload_with_some_bad_alerts_keeps_the_good_ones(bot):
    body = payload("alertmanager/firing-model-ftl-p95.json")
    broken = copy.deepcopy(body["alerts"][0])
    broken["startsAt"] = "yesterday"
    body["alerts"].append(broken)

    status, answer = await bot.post_alerts(body)

    assert status == 202
    assert answer["accepted"] == 1
    assert answer["rejected"][0]["field"] == "alerts[1].startsAt"


@pytest.mark.parametrize(("body", "status", "field"), [
    (b"{not json", 400, "body"),
    ({"version": "3", "alerts": []}, 400, "version"),
    ({"version": "4"}, 400, "alerts"),
    ({"version": "4", "alerts": [{"labels": {}, "startsAt": "2026-11-23T00:00:00Z"}]}, 400,
     "alerts[0].labels"),
])
async def test_unusable_payloads_get_400_naming_the_field(bot, body, status, field):
    got, answer = await bot.post_alerts(body)

    assert got == status
    assert answer["field"] == field
    assert await bot.alerts() == []


async def test_a_wrong_token_is_refused(bot):
    status, answer = await bot.post_alerts(payload("alertmanager/firing-model-ftl-p95.json"),
                                           token="wrong")
    assert status == 401 and "token" in answer["error"]
    status, _ = await bot.post_alerts(payload("alertmanager/firing-model-ftl-p95.json"),
                                      token=None)
    assert status == 401
    assert await bot.alerts() == []


async def test_a_body_over_ten_megabytes_is_refused_with_413(bot):
    status, _ = await bot.post_alerts(b" " * (10 * 1024 * 1024 + 1))
    assert status == 413


async def test_generic_and_grafana_forms_are_accepted(bot):
    alert = {"labels": {"alertname": "EvalPassRateLow", "alert_type": "model"},
             "annotations": {"summary": "eval pass rate 71%"},
             "startsAt": "2026-11-23T02:00:00Z"}
    status, _ = await bot.post_alerts(alert, source="generic")
    assert status == 202
    grafana = {"version": "1", "status": "firing", "orgId": 1, "state": "alerting",
               "alerts": [{**alert, "labels": {**alert["labels"], "alertname": "Grafana"},
                           "status": "firing", "endsAt": "0001-01-01T00:00:00Z",
                           "dashboardURL": "https://grafana.example/d/1", "values": {"A": 1.0}}]}
    status, _ = await bot.post_alerts(grafana, source="grafana")
    assert status == 202
    await bot.drain()
    sources = sorted(a.source for a in await bot.alerts())
    assert sources == ["generic", "grafana"]
    assert len(bot.slack.calls_to("chat.postMessage")) == 2


async def test_the_database_being_down_answers_503_so_alertmanager_retries(bot):
    from bot.store.db import Database

    bot.parts.services.db = Database("postgresql://nobody@127.0.0.1:1/none")
    status, answer = await bot.post_alerts(payload("alertmanager/firing-model-ftl-p95.json"))

    assert status == 503
    assert "retry" in answer["error"]

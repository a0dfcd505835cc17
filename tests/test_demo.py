"""`oncall-bot demo` runs the real pipeline offline and prints what each channel shows."""

from __future__ import annotations

from bot.demo import run_demo


async def test_the_demo_posts_routes_pages_and_acks():
    lines: list[str] = []

    await run_demo(lines.append)

    output = "\n".join(lines)
    assert "POST /alerts/alertmanager 01-model-latency.json -> 202" in output
    assert "#ai-eng-oncall" in output and "#integrations-oncall" in output
    assert "Resolved at source" in output  # 05 resolves the model alert
    assert "Acked by @U0DEMOUSER1" in output  # the demo clicks Ack on #2
    assert "Paged: @" in output
    assert "step 2:" in output  # the demo starts the runbook on #2 and answers step 1
    assert "#finops" not in output  # the cost alert goes to the hourly digest

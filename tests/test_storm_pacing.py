"""Pacing under Slack's limits (issue 12): a storm of separate posts draws no 429, and after a
429 the channel's burst drops to one. The Slack stand-in enforces the limits here, scaled up
twenty times (20 posts per second per channel) so the test takes seconds, not minutes."""

from __future__ import annotations

from dataclasses import replace

from bot.devtools.fake_slack_limits import SlackLimits
from bot.services.context import SystemClock
from tests.appkit import BOT_TOKEN, CHANNELS, eventually, fast_policy, start_bot
from tests.fakes.slack_api import FakeSlack
from tests.test_storm import PLATFORM, STORM_CONFIG, alerts, top_level_posts

SCALE = 20.0  # the stand-in's rate, and ours, times Slack's


async def limited_slack(post_burst: int) -> FakeSlack:
    slack = FakeSlack(bot_token=BOT_TOKEN, limits=SlackLimits(post_per_second=SCALE,
                                                              post_burst=post_burst))
    for channel_id, name in CHANNELS.items():
        slack.add_channel(channel_id, name)
    await slack.start()
    return slack


def paced_policy(post_burst: int):
    """Our real policy, scaled like the stand-in: 1.05 s per post becomes 52.5 ms."""
    return replace(fast_policy(), post_interval_per_channel=1.05 / SCALE,
                   post_burst=post_burst)


async def test_a_hundred_separate_posts_draw_no_429(tmp_path):
    slack = await limited_slack(post_burst=2)
    bot = await start_bot(f"sqlite:///{tmp_path}/oncall.db", slack=slack,
                          config=(STORM_CONFIG % "false").replace("enter_above: 5",
                                                                  "enter_above: 1000"),
                          policy=paced_policy(post_burst=2))
    try:
        assert (await bot.post_alerts(alerts(0, 100)))[0] == 202
        await bot.drain(passes=400)
        assert len(top_level_posts(bot)) == 100
        assert slack.limits.rejected == 0
        assert slack.limits.calls_during_retry_after == 0
    finally:
        await bot.close()
        await slack.stop()


async def test_after_a_429_the_channel_waits_it_out_and_loses_its_burst(tmp_path):
    slack = await limited_slack(post_burst=2)
    bot = await start_bot(f"sqlite:///{tmp_path}/oncall.db", slack=slack, background=True,
                          clock=SystemClock(), config=(STORM_CONFIG % "false").replace(
                              "enter_above: 5", "enter_above: 1000"),
                          policy=paced_policy(post_burst=2))
    slack.fail_next("chat.postMessage", status=429, retry_after=1)
    try:
        assert (await bot.post_alerts(alerts(0, 20)))[0] == 202
        await eventually(lambda: len(slack.messages(PLATFORM)) == 20, timeout=30)
        posts = slack.calls_to("chat.postMessage")
        refused_at = posts[0].at
        assert all(not refused_at < c.at < refused_at + 1.0 for c in posts[1:]), (
            "a call was made during the Retry-After")
        sender = bot.parts.worker.senders["sync_message"].__self__
        assert f"post:{PLATFORM}" in sender.limiter._slowed
        assert slack.limits.rejected == 0 and slack.limits.calls_during_retry_after == 0
        assert len({m["metadata"]["event_payload"]["incident_id"]
                    for m in slack.messages(PLATFORM)}) == 20
    finally:
        await bot.close()
        await slack.stop()



"""Slack's rate limits, enforced by the stand-in when asked (`FakeSlack(limits=SlackLimits())`).

docs.slack.dev "Rate limits": message posting is about one per second per channel, "short
bursts" allowed (the burst size is not published: `post_burst` is our assumption); Tier 3
methods such as `chat.update` about 50 per minute per workspace. Over the limit Slack answers
HTTP 429 with `Retry-After`. The stand-in also counts calls that arrive while a Retry-After
it gave is still running: a polite client makes none.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class SlackLimits:
    post_per_second: float = 1.0      # chat.postMessage, per channel
    post_burst: int = 2
    tier3_per_minute: float = 50.0    # chat.update and other Tier 3 methods, per workspace
    tier3_burst: int = 5
    clock: Callable[[], float] = time.monotonic
    rejected: int = 0                 # 429s answered
    calls_during_retry_after: int = 0
    _tokens: dict[str, tuple[float, float]] = field(default_factory=dict)
    _until: dict[str, float] = field(default_factory=dict)

    def check(self, method: str, args: dict) -> float | None:
        """None when the call may go; else the Retry-After (seconds) of its 429."""
        scope, rate, burst = self._scope(method, args)
        if scope is None:
            return None
        now = self.clock()
        if now < self._until.get(scope, 0.0):
            self.calls_during_retry_after += 1
        tokens, updated = self._tokens.get(scope, (float(burst), now))
        tokens = min(float(burst), tokens + (now - updated) * rate)
        if tokens >= 1:
            self._tokens[scope] = (tokens - 1, now)
            return None
        self._tokens[scope] = (tokens, now)
        wait = (1 - tokens) / rate
        self._until[scope] = now + max(1, math.ceil(wait))  # what Retry-After says
        self.rejected += 1
        return wait

    def _scope(self, method: str, args: dict) -> tuple[str | None, float, int]:
        if method == "chat.postMessage":
            return f"post:{args.get('channel', '')}", self.post_per_second, self.post_burst
        if method == "chat.update":
            return "tier3:chat.update", self.tier3_per_minute / 60, self.tier3_burst
        return None, 0.0, 0


def retry_after_header(wait: float) -> str:
    """Slack sends whole seconds; a wait under one second is still `1`."""
    return str(max(1, math.ceil(wait)))

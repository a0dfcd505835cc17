"""Throwaway real servers for tests: PostgreSQL (once per session) and Alertmanager.

The harness is plain synchronous code (subprocess + urllib); the pytest fixtures
that use it live in ``tests/conftest.py``.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable

REQUIRE_SERVERS_ENV = "ONCALL_REQUIRE_SERVERS"


class ServerUnavailable(Exception):
    """The server's binaries are not installed: the tests that need it skip (or fail in CI)."""


def servers_required() -> bool:
    """True when a missing server must fail the tests instead of skipping them (CI)."""
    return os.environ.get(REQUIRE_SERVERS_ENV, "").strip().lower() in {"1", "true", "yes"}


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (callers retry if they lose the race)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def wait_until(
    check: Callable[[], bool], *, timeout: float, interval: float = 0.05, what: str = "condition"
) -> None:
    """Poll ``check`` every ``interval`` seconds until it returns True, or raise TimeoutError."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:.1f}s waiting for {what}")
        time.sleep(interval)


def tail(path: str | os.PathLike[str], lines: int = 40) -> str:
    """The last lines of a log file, for error messages."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return "".join(fh.readlines()[-lines:])
    except OSError:
        return "(no log)"

"""Headless Debian Chromium for page tests: the rendered DOM and a screenshot of a URL.

Flags keep it offline and quiet (the test machine has no network): no sandbox (root in CI
containers), no GPU, no QUIC, no first-run, background, component-update or sync traffic, and
a fresh profile per call.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path

from tests.harness import ServerUnavailable

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync")
TIMEOUT = 60.0


def find_chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    raise ServerUnavailable("chromium is not installed (apt-get install chromium)")


async def _run(binary: str, *args: str) -> bytes:
    with tempfile.TemporaryDirectory(prefix="oncall-chromium-") as profile:
        process = await asyncio.create_subprocess_exec(
            binary, *FLAGS, f"--user-data-dir={profile}", *args,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
        try:
            out, _ = await asyncio.wait_for(process.communicate(), TIMEOUT)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise
    if process.returncode != 0:
        raise RuntimeError(f"chromium exited with {process.returncode}")
    return out


async def dump_dom(binary: str, url: str) -> str:
    """The DOM after the page's scripts ran (serialised HTML)."""
    return (await _run(binary, "--dump-dom", url)).decode("utf-8", "replace")


async def screenshot(binary: str, url: str, path: Path, size: str = "820,1180") -> Path:
    await _run(binary, f"--window-size={size}", "--hide-scrollbars", f"--screenshot={path}", url)
    return path

"""A real Prometheus Alertmanager (Debian's ``prometheus-alertmanager``) for end-to-end tests.

Each ``Alertmanager.start(config_yaml)`` gets its own temp dir (config file + storage)
and its own port on 127.0.0.1, with clustering off. The config is the test's own
YAML text, typically a ``webhook_configs`` receiver pointing at the bot::

    route:
      receiver: bot
      group_wait: 1s
      group_interval: 1s
      repeat_interval: 1h
    receivers:
      - name: bot
        webhook_configs:
          - url: http://127.0.0.1:PORT/alerts/alertmanager
            send_resolved: true
            http_config:
              authorization:
                credentials: TOKEN

The helpers are synchronous and return quickly (Alertmanager answers at once and
delivers webhooks later, on its own), so async tests may call them directly.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.harness import ServerUnavailable, free_port, tail, wait_until

ALERTMANAGER_BIN_ENV = "ALERTMANAGER_BIN"
START_TIMEOUT = 20.0

# A config for tests that only push and query alerts.
NULL_CONFIG = """\
route:
  receiver: "null"
receivers:
  - name: "null"
"""


def find_binary() -> str | None:
    """``$ALERTMANAGER_BIN``, else Debian's ``prometheus-alertmanager``, else ``alertmanager``."""
    explicit = os.environ.get(ALERTMANAGER_BIN_ENV)
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    return shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")


def require_binary() -> str:
    """The binary's path, or ServerUnavailable saying how to get it."""
    binary = find_binary()
    if binary is None:
        raise ServerUnavailable(
            "prometheus-alertmanager not found: install the Debian package "
            "`prometheus-alertmanager` (scripts/test does), or set ALERTMANAGER_BIN"
        )
    return binary


def iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


class AlertmanagerError(RuntimeError):
    pass


class Alertmanager:
    """One running Alertmanager; ``url`` is its base URL (``http://127.0.0.1:PORT``)."""

    def __init__(self, binary: str, workdir: Path, port: int, proc: subprocess.Popen[bytes]):
        self.binary = binary
        self.workdir = workdir
        self.port = port
        self.proc = proc
        self.url = f"http://127.0.0.1:{port}"

    @property
    def config_path(self) -> Path:
        return self.workdir / "alertmanager.yml"

    @property
    def log_path(self) -> Path:
        return self.workdir / "alertmanager.log"

    # -- lifecycle ----------------------------------------------------------

    @classmethod
    def start(cls, config_yaml: str, *, attempts: int = 3, log_level: str = "info") -> Alertmanager:
        """Start one with this config and wait until ``/-/ready`` answers.

        Raises ServerUnavailable when the binary is not installed, AlertmanagerError
        when it does not start (a bad config, say), with its log in the message.
        """
        binary = require_binary()
        workdir = Path(tempfile.mkdtemp(prefix="oncall-am-"))
        (workdir / "alertmanager.yml").write_text(config_yaml, encoding="utf-8")
        try:
            for attempt in range(attempts):
                port = free_port()
                am = cls._spawn(binary, workdir, port, log_level)
                try:
                    am._wait_ready()
                    return am
                except AlertmanagerError:
                    log = am.log()
                    am._terminate()
                    lost_port = "address already in use" in log
                    if not lost_port or attempt == attempts - 1:
                        raise
        except BaseException:
            shutil.rmtree(workdir, ignore_errors=True)
            raise
        raise AssertionError("unreachable")

    @classmethod
    def _spawn(cls, binary: str, workdir: Path, port: int, log_level: str) -> Alertmanager:
        cmd = [
            binary,
            f"--config.file={workdir / 'alertmanager.yml'}",
            f"--storage.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            f"--web.external-url=http://127.0.0.1:{port}",
            "--cluster.listen-address=",  # empty: no HA gossip, no settling wait
            f"--log.level={log_level}",
        ]
        with open(workdir / "alertmanager.log", "ab") as log:
            proc = subprocess.Popen(
                cmd, cwd=workdir, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        return cls(binary, workdir, port, proc)

    def _wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        def ready() -> bool:
            if self.proc.poll() is not None:
                raise AlertmanagerError(
                    f"alertmanager exited with {self.proc.returncode}:\n{self.log()}"
                )
            try:
                return self._request("GET", "/-/ready", timeout=1)[0] == 200
            except OSError:
                return False

        try:
            wait_until(ready, timeout=timeout, interval=0.05, what="alertmanager /-/ready")
        except TimeoutError as exc:
            raise AlertmanagerError(f"{exc}\n{self.log()}") from None

    def _terminate(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)

    def stop(self) -> None:
        """Stop the process and delete its directory. Idempotent."""
        self._terminate()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def log(self, lines: int = 40) -> str:
        return tail(self.log_path, lines)

    # -- HTTP ---------------------------------------------------------------

    def _request(
        self, method: str, path: str, body: Any = None, *, timeout: float = 10
    ) -> tuple[int, bytes]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()

    def push_alerts(self, alerts: list[dict[str, Any]]) -> None:
        """POST alerts to ``/api/v2/alerts``.

        Each alert is ``{"labels": {...}, "annotations": {...}, "startsAt": ...,
        "endsAt": ..., "generatorURL": ...}``; only ``labels`` is required (times are
        RFC 3339 strings or datetimes).
        """
        payload = [_normalise(alert) for alert in alerts]
        status, body = self._request("POST", "/api/v2/alerts", payload)
        if status != 200:
            text = body.decode(errors="replace")
            raise AlertmanagerError(f"POST /api/v2/alerts -> {status}: {text}")

    def resolve(self, alerts: list[dict[str, Any]], *, at: datetime | None = None) -> None:
        """Push the same alerts again with ``endsAt`` in the past, which resolves them."""
        ends = at or datetime.now(UTC) - timedelta(seconds=1)
        self.push_alerts([{**alert, "endsAt": ends} for alert in alerts])

    def alerts(self, **filters: str) -> list[dict[str, Any]]:
        """``GET /api/v2/alerts`` (query parameters as keyword arguments)."""
        query = "&".join(f"{k}={urllib.request.quote(v)}" for k, v in filters.items())
        status, body = self._request("GET", "/api/v2/alerts" + (f"?{query}" if query else ""))
        if status != 200:
            raise AlertmanagerError(f"GET /api/v2/alerts -> {status}: {body!r}")
        return json.loads(body)

    def status(self) -> dict[str, Any]:
        """``GET /api/v2/status``: version, uptime and the loaded config (``config.original``)."""
        status, body = self._request("GET", "/api/v2/status")
        if status != 200:
            raise AlertmanagerError(f"GET /api/v2/status -> {status}: {body!r}")
        return json.loads(body)

    def reload(self, config_yaml: str) -> None:
        """Write a new config and ``POST /-/reload``; raise with the reason if it is refused."""
        self.config_path.write_text(config_yaml, encoding="utf-8")
        status, body = self._request("POST", "/-/reload")
        if status != 200:
            raise AlertmanagerError(f"reload refused ({status}): {body.decode(errors='replace')}")

    def __enter__(self) -> Alertmanager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _normalise(alert: dict[str, Any]) -> dict[str, Any]:
    out = dict(alert)
    if "labels" not in out:
        raise ValueError(f"an alert needs labels: {alert!r}")
    for key in ("startsAt", "endsAt"):
        if isinstance(out.get(key), datetime):
            out[key] = iso(out[key])
    return out


class AlertmanagerFactory:
    """Starts Alertmanagers on demand; ``stop_all()`` stops every one it started."""

    def __init__(self) -> None:
        self.instances: list[Alertmanager] = []
        self.startup_seconds: list[float] = []

    @staticmethod
    def check_available() -> None:
        """Raise ServerUnavailable now if the binary is missing (before any test work)."""
        require_binary()

    def __call__(self, config_yaml: str = NULL_CONFIG, **kwargs: Any) -> Alertmanager:
        started = time.monotonic()
        am = Alertmanager.start(config_yaml, **kwargs)
        self.startup_seconds.append(time.monotonic() - started)
        self.instances.append(am)
        return am

    def stop_all(self) -> None:
        while self.instances:
            with contextlib.suppress(Exception):
                self.instances.pop().stop()

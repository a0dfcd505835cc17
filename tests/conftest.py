"""Shared fixtures.

Real servers (tests/harness):
- ``postgres_server`` (session): a throwaway PostgreSQL, or TEST_POSTGRES_URL's.
- ``postgres_url`` (function): a fresh empty database on it, as a SQLAlchemy URL.
- ``alertmanager_factory`` (function): ``factory(config_yaml) -> Alertmanager``.

When a server's binaries are missing these skip, or fail when ONCALL_REQUIRE_SERVERS=1
(CI). Tests using them are marked ``postgres`` / ``alertmanager`` automatically, so
``pytest -m "not postgres and not alertmanager"`` runs without servers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest

from tests.harness import ServerUnavailable, servers_required
from tests.harness.alertmanager import AlertmanagerFactory
from tests.harness.postgres import PostgresServer

T = TypeVar("T")

_SERVER_MARKERS = {
    "postgres_server": "postgres",
    "postgres_url": "postgres",
    "alertmanager_factory": "alertmanager",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for marker in {m for f, m in _SERVER_MARKERS.items() if f in item.fixturenames}:
            item.add_marker(marker)


def _require_server(start: Callable[[], T]) -> T:
    """``start()``; if the server is not installed, skip, or fail when ONCALL_REQUIRE_SERVERS=1
    (CI must not skip server-backed tests)."""
    try:
        return start()
    except ServerUnavailable as exc:
        reason = str(exc)
    if servers_required():
        pytest.fail(f"{reason} (ONCALL_REQUIRE_SERVERS=1)", pytrace=False)
    pytest.skip(reason)


# -- real servers ---------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the whole session (TEST_POSTGRES_URL's when set)."""
    server = _require_server(PostgresServer.from_env_or_start)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer, request: pytest.FixtureRequest) -> str:
    """A fresh empty database: ``postgresql+psycopg://postgres@127.0.0.1:PORT/NAME``."""
    return postgres_server.create_database(postgres_server.unique_name(request.node.name))


@pytest.fixture
def alertmanager_factory() -> Iterator[AlertmanagerFactory]:
    """``alertmanager_factory(config_yaml) -> Alertmanager``; every one is stopped at teardown."""
    factory = AlertmanagerFactory()
    _require_server(factory.check_available)
    try:
        yield factory
    finally:
        factory.stop_all()


# -- the bot under test -------------------------------------------------------------------


@pytest.fixture
async def bot(tmp_path):
    """The bot on SQLite, served on a random port, its Slack a fake; files that need another
    configuration or PostgreSQL define their own `bot`."""
    from tests.appkit import start_bot

    running = await start_bot(f"sqlite:///{tmp_path}/oncall.db")
    yield running
    await running.close()
    await running.slack.stop()

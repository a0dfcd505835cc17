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

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

# `tests` has no __init__.py, so plain `pytest` puts tests/ (not the repo root) on
# sys.path; make `tests.harness` importable either way. (Redundant once pyproject's
# [tool.pytest.ini_options] has `pythonpath = ["."]`.)
_REPO_ROOT = str(Path(__file__).resolve().parent.parent)
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

from tests.harness import ServerUnavailable, servers_required  # noqa: E402
from tests.harness.alertmanager import AlertmanagerFactory  # noqa: E402
from tests.harness.postgres import PostgresServer  # noqa: E402

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

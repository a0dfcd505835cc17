"""The database: engine, sessions and migrations for SQLite (default) and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from enum import StrEnum
from importlib import resources
from pathlib import Path

import aiosqlite
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, event, text
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SATimeoutError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.store.limits import FittingSession

#: The Alembic scripts ship inside the package (bot/migrations), so `pip install .` then
#: `oncall-bot migrate` works from any directory, with no alembic.ini in sight.
MIGRATIONS_DIR = Path(str(resources.files("bot.migrations")))

log = logging.getLogger(__name__)

#: Errors that mean "the database is not there right now", answered 503 so senders retry.
UNAVAILABLE = (OperationalError, DBAPIError, OSError, ConnectionError)


class Fault(StrEnum):
    """What a database error means for the caller: wait, retry once, or give up on this data."""

    UNAVAILABLE = "unavailable"  # connection lost, lock timeout, read-only, disk: retry later
    CONFLICT = "conflict"  # a uniqueness race or a deadlock: the same work again succeeds
    DATA = "data"  # this data or statement will fail every time: retrying never helps


class DatabaseUnavailable(Exception):
    """The database cannot take writes right now; callers answer 503 / try at the next tick."""


#: SQLite primary result codes that are about the database, not the data: BUSY, LOCKED,
#: NOMEM, READONLY, IOERR, CORRUPT, FULL, CANTOPEN, PROTOCOL, NOTADB.
_SQLITE_UNAVAILABLE = {5, 6, 7, 8, 10, 11, 13, 14, 15, 26}
#: PostgreSQL SQLSTATEs (or their class) meaning the same: connection exception, insufficient
#: resources (disk full), operator intervention and query canceled (statement or lock
#: timeout), system error, lock not available, read-only transaction, undefined table
#: (not migrated yet).
_PG_UNAVAILABLE = ("08", "53", "57", "58", "55P03", "25006", "42P01")
_PG_CONFLICT = ("23", "40001", "40P01")


def classify(exc: BaseException) -> Fault:
    """Sort an error raised inside a transaction; anything unknown counts as DATA (no 503)."""
    if isinstance(exc, OSError | ConnectionError | TimeoutError | SATimeoutError):
        return Fault.UNAVAILABLE
    if not isinstance(exc, DBAPIError):
        return Fault.DATA
    if exc.connection_invalidated or isinstance(exc, InterfaceError):
        return Fault.UNAVAILABLE
    orig = exc.orig
    if (code := getattr(orig, "sqlite_errorcode", None)) is not None:
        return _sqlite_fault(code, orig)
    if (state := getattr(orig, "sqlstate", None)) is not None:
        if state.startswith(_PG_UNAVAILABLE):
            return Fault.UNAVAILABLE
        return Fault.CONFLICT if state.startswith(_PG_CONFLICT) else Fault.DATA
    if isinstance(exc, IntegrityError):
        return Fault.CONFLICT
    return Fault.UNAVAILABLE if isinstance(exc, OperationalError) else Fault.DATA


def _sqlite_fault(code: int, orig: BaseException) -> Fault:
    if code & 0xFF in _SQLITE_UNAVAILABLE or "no such table" in str(orig):
        return Fault.UNAVAILABLE
    return Fault.CONFLICT if code & 0xFF == 19 else Fault.DATA  # 19: SQLITE_CONSTRAINT


def async_url(url: str) -> str:
    """Pick the async driver for a plain DATABASE_URL (sqlite:///x.db, postgresql://...)."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite").render_as_string(hide_password=False)
    if backend in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    raise ValueError(f"DATABASE_URL: unsupported database {backend!r} (use sqlite or postgresql)")


def sync_url(url: str) -> str:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return parsed.set(drivername="sqlite").render_as_string(hide_password=False)
    return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    dbapi_conn.isolation_level = None  # let the "begin" hook below issue BEGIN itself
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


#: Execution option of the connections `Database.reader()` and `ping()` use: a plain BEGIN.
READ_ONLY = "oncall_read_only"
#: Execution option of a reader whose few indexed reads run inline (see InlineWhileWriting).
READ_INLINE = "oncall_read_inline"
#: How long a writer waits for its turn at the gate before the database counts as unavailable
#: (a flood of webhooks queues here, in order, rather than in SQLite's busy handler).
GATE_TIMEOUT = 60.0


def _sqlite_begin(conn) -> None:
    """Writers take SQLite's write lock at BEGIN (IMMEDIATE): two transactions that read then
    write would otherwise fail with SQLITE_BUSY instead of waiting their turn. Readers take
    no lock at all (deferred BEGIN; WAL lets them read while one writer writes)."""
    options = conn.get_execution_options()
    read_only = options.get(READ_ONLY, False)
    conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")
    driver = conn.connection.driver_connection
    if isinstance(driver, InlineWhileWriting):
        driver.inline = ("write" if not read_only
                         else "read" if options.get(READ_INLINE, False) else None)


class InlineWhileWriting(aiosqlite.Connection):
    """aiosqlite, but a write transaction's statements run on the caller's thread.

    aiosqlite hands every call (cursor, execute, fetch, close: four per statement) to its
    thread and wakes the event loop for each answer; for ingest's short statements that
    hand-off cost more than SQLite's own work. Once BEGIN IMMEDIATE has returned, this
    connection holds SQLite's write lock (and the in-process WriteGate), so no statement of
    the transaction can wait for a lock: they run inline, each one short. What can wait goes
    through the thread as before: BEGIN (another process may hold the lock), a writer's COMMIT
    (fsync, checkpoints) and ROLLBACK, and every reader's statements unless it asked for
    READ_INLINE (a few indexed reads; its ROLLBACK ends a read: nothing to wait for).
    """

    inline: str | None = None  # "write", "read" or None: the transaction now running

    async def _execute(self, fn, *args, **kwargs):
        if self.inline and self._connection is not None:
            if getattr(fn, "__name__", "") not in ("commit", "rollback"):
                return fn(*args, **kwargs)
            reading, self.inline = self.inline == "read", None
            if reading:
                return fn(*args, **kwargs)
        return await super()._execute(fn, *args, **kwargs)


def _sqlite_connector(url: str):
    """`async_creator` for the engine: SQLAlchemy's own connect arguments for this URL
    (file name, uri, check_same_thread=False), opened as an InlineWhileWriting."""
    args, kwargs = SQLiteDialect_pysqlite().create_connect_args(make_url(sync_url(url)))
    kwargs["check_same_thread"] = False  # also for :memory:; its calls never overlap

    def connect() -> InlineWhileWriting:
        import sqlite3

        connection = InlineWhileWriting(lambda: sqlite3.connect(*args, **kwargs), 64)
        connection._thread.daemon = True  # as SQLAlchemy's own aiosqlite connect does
        return connection
    return connect


class Database:
    """Owns the async engine; every service call opens one session = one transaction.

    On SQLite, which has one writer at a time, writers also take turns at an in-process gate
    (FIFO): a webhook, a click and the delivery worker queue here in arrival order instead of
    polling in SQLite's busy handler, where a long queue ends in "database is locked" (503s,
    and clicks whose work fails). Readers never wait for it.
    """

    def __init__(self, url: str, connections: int = 40):
        """`connections`: on PostgreSQL, the pool holds this many (every webhook admitted at
        once plus the background work); fewer, and webhooks waiting behind replicas' row locks
        time out waiting for a connection, answered 503. SQLite keeps SQLAlchemy's default."""
        self.url = url
        # PostgreSQL connections can drop while pooled: pinged at checkout. A SQLite file
        # cannot, and a ping there is one more trip to the database thread per transaction.
        pool = ({"pool_size": connections - 8, "max_overflow": 8, "pool_pre_ping": True}
                if make_url(url).get_backend_name().startswith("postgres")
                else {"async_creator": _sqlite_connector(url)})
        self.engine: AsyncEngine = create_async_engine(async_url(url), **pool)
        self.dialect = self.engine.dialect.name
        if self.dialect == "postgresql":
            # Many rows without RETURNING (links, timeline rows, intents) as one multi-row
            # INSERT, as SQLAlchemy already does with RETURNING, not one statement per row.
            self.engine.sync_engine.dialect.use_insertmanyvalues_wo_returning = True
        self._head: str | None = None
        self._reading = self.engine.execution_options(**{READ_ONLY: True})
        self._reading_inline = self.engine.execution_options(
            **{READ_ONLY: True, READ_INLINE: True})
        self._gate = WriteGate() if self.dialect == "sqlite" else None
        if self.dialect == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
            event.listen(self.engine.sync_engine, "begin", _sqlite_begin)
        self._sessions = async_sessionmaker(self.engine, class_=AsyncSession,
                                            sync_session_class=FittingSession,
                                            expire_on_commit=False)
        self._readers = async_sessionmaker(self._reading, class_=AsyncSession,
                                           sync_session_class=FittingSession,
                                           expire_on_commit=False)
        self._quick_readers = async_sessionmaker(self._reading_inline, class_=AsyncSession,
                                                 sync_session_class=FittingSession,
                                                 expire_on_commit=False)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One unit of work: commit on success, roll back on any error."""
        async with self.write_turn(), self._sessions() as session, session.begin():
            yield session

    @contextlib.asynccontextmanager
    async def write_turn(self) -> AsyncIterator[None]:
        """This task's turn to write (SQLite); at once on PostgreSQL, which has row locks."""
        if self._gate is None:
            yield
            return
        async with self._gate.turn():
            yield

    @contextlib.asynccontextmanager
    async def reader(self, *, quick: bool = False) -> AsyncIterator[AsyncSession]:
        """Reads only: no write lock on SQLite (a plain BEGIN), nothing is committed.
        `quick`: a few indexed reads, run inline on SQLite (see InlineWhileWriting); a read
        that may scan much stays on the database thread."""
        async with (self._quick_readers if quick else self._readers)() as session:
            yield session

    async def ping(self) -> bool:
        try:
            async with self._reading.connect() as conn:
                await conn.execute(text("select 1"))
            return True
        except UNAVAILABLE:
            return False

    async def at_head(self) -> bool:
        """True when the schema is at the newest migration."""
        try:
            async with self._reading.connect() as conn:
                current = await conn.run_sync(
                    lambda sync: MigrationContext.configure(sync).get_current_revision())
        except UNAVAILABLE:
            return False
        return current == self.head()

    def head(self) -> str | None:
        """The newest migration of this code, read from the scripts once (they do not change
        while the process runs; readiness asks every few seconds)."""
        if self._head is None:
            self._head = ScriptDirectory.from_config(alembic_config(self.url)).get_current_head()
        return self._head

    async def readiness(self) -> dict[str, bool]:
        """`database`: a write goes through (made and rolled back), so a read-only or deleted
        file, a read-only replica or a full disk count as not ready; `migrations`: at head."""
        if not self._file_present():
            return {"database": False, "migrations": False}
        try:
            async with self.engine.connect() as conn, conn.begin() as tx:
                current = (await conn.execute(
                    text("SELECT version_num FROM alembic_version"))).scalar_one_or_none()
                await conn.execute(
                    text("UPDATE alembic_version SET version_num = version_num"))
                await tx.rollback()
        except Exception:  # readiness reports; it never raises (unmigrated: not ready either)
            return {"database": False, "migrations": False}
        return {"database": True, "migrations": current == self.head()}

    def _file_present(self) -> bool:
        """A deleted SQLite file keeps working through open handles: look for it by name."""
        database = make_url(self.url).database
        if self.dialect != "sqlite" or database in (None, "", ":memory:"):
            return True
        path = database.removeprefix("file:").split("?", 1)[0]
        return Path(path).exists()

    async def dispose(self) -> None:
        await self.engine.dispose()


class WriteGate:
    """Writers take turns in arrival order (asyncio.Lock wakes its waiters first come, first
    served). A task already holding the gate passes straight through: a transaction opened
    inside another one in the same task must not wait for itself (on SQLite it still waits
    for the outer one's lock, as it always did, so nesting is logged as the mistake it is).
    """

    def __init__(self, timeout: float = GATE_TIMEOUT):
        self.timeout = timeout
        self._lock = asyncio.Lock()
        self._owner: asyncio.Task | None = None
        self.waiting = 0

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        task = asyncio.current_task()
        if task is not None and task is self._owner:
            log.warning("a transaction was opened inside another one in the same task")
            yield
            return
        self.waiting += 1
        try:
            async with asyncio.timeout(self.timeout):
                await self._lock.acquire()
        finally:
            self.waiting -= 1
        self._owner = task
        try:
            yield
        finally:
            self._owner = None
            self._lock.release()


def alembic_config(url: str) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", sync_url(url).replace("%", "%%"))
    return config


def migrate(url: str) -> None:
    """`alembic upgrade head` on the given database (synchronous; run before serving).

    On PostgreSQL under an advisory lock: replicas started at the same moment migrate one
    after the other, and the second finds the schema at head (no duplicate CREATE TABLE).
    """
    from bot.store.locks import held_while  # locks builds on this module

    parsed = make_url(sync_url(url))
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sync_engine(url)
    try:
        with held_while(engine, "migrate"):
            command.upgrade(alembic_config(url), "head")
    finally:
        engine.dispose()


def sync_engine(url: str):
    return create_engine(sync_url(url))

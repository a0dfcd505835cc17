"""A throwaway PostgreSQL server for the test session, or the one named by TEST_POSTGRES_URL.

``PostgresServer.start()`` runs ``initdb`` into a temporary directory (trust auth,
superuser ``postgres``), starts the server on 127.0.0.1 on a free port with
durability turned off (fsync, synchronous_commit, full_page_writes: nothing here
needs to survive a crash), and ``stop()`` shuts it down and deletes the directory.
As root, the server binaries run as the ``postgres`` OS user (PostgreSQL refuses
to run as root).

``create_database()`` gives each test its own empty database and returns its URL
in SQLAlchemy form: ``postgresql+psycopg://postgres@127.0.0.1:PORT/NAME``.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import re
import shlex
import shutil
import stat
import subprocess
import tempfile
import uuid
from pathlib import Path

import psycopg
from sqlalchemy.engine import URL, make_url

from tests.harness import ServerUnavailable, free_port, tail

TEST_POSTGRES_URL_ENV = "TEST_POSTGRES_URL"
POSTGRES_BINDIR_ENV = "POSTGRES_BINDIR"
SQLALCHEMY_DRIVER = "postgresql+psycopg"
OS_USER = "postgres"
SUPERUSER = "postgres"

_SERVER_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "shared_buffers": "64MB",
}


def _version_key(path: str) -> tuple[int, ...]:
    match = re.search(r"/postgresql/([\d.]+)/", path)
    return tuple(int(p) for p in match.group(1).split(".") if p) if match else ()


def find_bindir() -> Path | None:
    """The directory holding ``initdb``, ``pg_ctl`` and ``postgres``, or None.

    ``$POSTGRES_BINDIR`` when set (and only it); else ``pg_config --bindir``, then
    Debian's ``/usr/lib/postgresql/*/bin`` (newest version first), then ``$PATH``.
    """
    candidates: list[str] = []
    explicit = os.environ.get(POSTGRES_BINDIR_ENV, "").strip()
    if explicit:
        candidates.append(explicit)
    pg_config = None if explicit else shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            )
            candidates.append(out.stdout.strip())
    if not explicit:
        candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
        initdb = shutil.which("initdb")
        if initdb:
            candidates.append(str(Path(initdb).resolve().parent))
    for cand in candidates:
        path = Path(cand)
        if all(os.access(path / tool, os.X_OK) for tool in ("initdb", "pg_ctl", "postgres")):
            return path
    return None


def _traversable_by_others(path: Path) -> bool:
    """Whether every directory down to ``path`` lets other users through (o+x)."""
    for part in [path, *path.parents]:
        try:
            if not part.stat().st_mode & stat.S_IXOTH:
                return False
        except OSError:
            return False
    return True


def _run_server_tool(
    args: tuple[object, ...], *, cwd: Path, as_root: bool, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run a PostgreSQL tool; as root, as the ``postgres`` OS user."""
    cmd = [str(a) for a in args]
    if as_root:
        if shutil.which("runuser"):
            cmd = ["runuser", "-u", OS_USER, "--", *cmd]
        else:
            cmd = ["su", "-s", "/bin/sh", OS_USER, "-c", shlex.join(cmd)]
    return subprocess.run(
        cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )


def _libpq_conninfo(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class PostgresServer:
    """A PostgreSQL server the tests may create databases on."""

    def __init__(
        self, admin_url: URL, *, owned_dir: Path | None = None, bindir: Path | None = None
    ) -> None:
        self.admin_url = admin_url.set(drivername=SQLALCHEMY_DRIVER)
        self.owned_dir = owned_dir
        self.bindir = bindir
        self.created: list[str] = []
        self._stopped = False

    # -- construction -------------------------------------------------------

    @classmethod
    def from_env_or_start(cls) -> PostgresServer:
        """Use TEST_POSTGRES_URL when set, else start a throwaway server.

        Raises ServerUnavailable when neither is possible (no binaries installed).
        """
        url = os.environ.get(TEST_POSTGRES_URL_ENV, "").strip()
        if url:
            return cls.external(url)
        return cls.start()

    @classmethod
    def external(cls, url: str) -> PostgresServer:
        """An already running server (TEST_POSTGRES_URL); its URL names the admin database."""
        parsed = make_url(url)
        if not parsed.database:
            parsed = parsed.set(database="postgres")
        server = cls(parsed)
        with psycopg.connect(_libpq_conninfo(server.admin_url), connect_timeout=10) as conn:
            conn.execute("select 1")
        atexit.register(server.stop)
        return server

    @classmethod
    def start(cls, *, attempts: int = 3) -> PostgresServer:
        bindir = find_bindir()
        if bindir is None:
            raise ServerUnavailable(
                "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found: install the "
                "Debian package `postgresql` (scripts/test does), or set TEST_POSTGRES_URL "
                "(or POSTGRES_BINDIR)"
            )
        as_root = os.geteuid() == 0
        if as_root:
            try:
                pw = pwd.getpwnam(OS_USER)
            except KeyError:
                raise ServerUnavailable(
                    f"running as root but there is no `{OS_USER}` OS user to run PostgreSQL as"
                ) from None
        base = Path(tempfile.gettempdir())
        if as_root and not _traversable_by_others(base):
            base = Path("/tmp")
        root = Path(tempfile.mkdtemp(prefix="oncall-pg-", dir=base))
        try:
            if as_root:
                os.chown(root, pw.pw_uid, pw.pw_gid)
            server = cls._init_and_start(root, bindir, as_root=as_root, attempts=attempts)
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            raise
        atexit.register(server.stop)
        return server

    @classmethod
    def _init_and_start(
        cls, root: Path, bindir: Path, *, as_root: bool, attempts: int
    ) -> PostgresServer:
        datadir, sockdir, logfile = root / "data", root / "sock", root / "postgres.log"

        def run(*args: object) -> subprocess.CompletedProcess[str]:
            return _run_server_tool(args, cwd=root, as_root=as_root)

        mkdir = run("mkdir", "-m", "700", str(sockdir))
        if mkdir.returncode != 0:
            raise RuntimeError(f"cannot create {sockdir}: {mkdir.stderr}")
        init = run(
            bindir / "initdb",
            "-D",
            str(datadir),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )
        if init.returncode != 0:
            raise RuntimeError(f"initdb failed ({init.returncode}):\n{init.stdout}\n{init.stderr}")
        settings = dict(_SERVER_SETTINGS, unix_socket_directories=f"'{sockdir}'")
        with open(datadir / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write("\n# oncall-bot test harness\n")
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())

        last = ""
        for _ in range(attempts):
            port = free_port()
            start = run(
                bindir / "pg_ctl",
                "start",
                "-w",
                "-t",
                "60",
                "-D",
                str(datadir),
                "-l",
                str(logfile),
                "-o",
                f"-p {port}",
            )
            if start.returncode == 0:
                url = URL.create(
                    SQLALCHEMY_DRIVER,
                    username=SUPERUSER,
                    host="127.0.0.1",
                    port=port,
                    database="postgres",
                )
                return cls(url, owned_dir=root, bindir=bindir)
            last = f"{start.stdout}\n{start.stderr}\n{tail(logfile)}"
            if "could not create any TCP/IP sockets" not in last and "in use" not in last:
                # not a port lost to another process in the meantime: retrying won't help
                break
        raise RuntimeError(f"pg_ctl start failed:\n{last}")

    # -- use ----------------------------------------------------------------

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the admin database (``postgres``)."""
        return self.admin_url.render_as_string(hide_password=False)

    @property
    def port(self) -> int | None:
        return self.admin_url.port

    @staticmethod
    def unique_name(hint: str = "test") -> str:
        """A database name that is unique and valid (<= 63 chars, [a-z0-9_])."""
        clean = re.sub(r"[^a-z0-9_]+", "_", hint.lower()).strip("_") or "test"
        return f"t_{clean[:45]}_{uuid.uuid4().hex[:10]}"

    def connect(self, **kwargs: object) -> psycopg.Connection:
        """A psycopg connection to the admin database (autocommit)."""
        return psycopg.connect(_libpq_conninfo(self.admin_url), autocommit=True, **kwargs)

    def create_database(self, name: str | None = None) -> str:
        """Create an empty database and return its SQLAlchemy URL.

        With no ``name``, a unique one is generated; a given name is used as is.
        """
        name = name or self.unique_name()
        with self.connect() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return self.admin_url.set(database=name).render_as_string(hide_password=False)

    def drop_database(self, name: str) -> None:
        with self.connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        with contextlib.suppress(ValueError):
            self.created.remove(name)

    def log(self) -> str:
        """The server log's last lines (throwaway server only)."""
        return tail(self.owned_dir / "postgres.log") if self.owned_dir else ""

    def stop(self) -> None:
        """Stop and delete a throwaway server; on an external one, drop the databases we made."""
        if self._stopped:
            return
        self._stopped = True
        if self.owned_dir is None:
            for name in list(self.created):
                with contextlib.suppress(psycopg.Error):
                    self.drop_database(name)
            return
        try:
            _run_server_tool(
                (
                    self.bindir / "pg_ctl",
                    "stop",
                    "-D",
                    self.owned_dir / "data",
                    "-m",
                    "immediate",
                    "-w",
                    "-t",
                    "30",
                ),
                cwd=self.owned_dir,
                as_root=os.geteuid() == 0,
            )
        finally:
            shutil.rmtree(self.owned_dir, ignore_errors=True)

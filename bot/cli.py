"""The `oncall-bot` command line: serve, migrate, check, route test, outbox, demo."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated
from urllib.parse import unquote, urlsplit

import typer
from pydantic import ValidationError

from bot.config import ConfigError, OncallConfig, load_config
from bot.settings import Settings

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Slack on-call bot for teams that run AI products.")
route_app = typer.Typer(no_args_is_help=True, help="Inspect the routing tree.")
app.add_typer(route_app, name="route")
runbook_app = typer.Typer(no_args_is_help=True, help="Check and show decision-tree runbooks.")
app.add_typer(runbook_app, name="runbook")
outbox_app = typer.Typer(invoke_without_command=True,
                         help="Deliveries not yet made: pending and failed, and retry.")
app.add_typer(outbox_app, name="outbox")

FromOption = Annotated[str | None, typer.Option(
    "--from", help="JSON lines of label sets ('-' = stdin); one answer each")]
ConfigOption = Annotated[str | None, typer.Option("--config", "-c", help="oncall.yaml path "
                                                  "(default: $ONCALL_CONFIG or ./oncall.yaml)")]


def main() -> None:
    app()


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        for error in exc.errors():
            typer.echo(f"environment: {'.'.join(map(str, error['loc'])).upper()}: {error['msg']}",
                       err=True)
        raise typer.Exit(1) from exc


def _config(path: str | None, settings: Settings) -> OncallConfig:
    try:
        return load_config(path or settings.oncall_config)
    except ConfigError as exc:
        for problem in exc.problems:
            typer.echo(str(problem), err=True)
        raise typer.Exit(1) from exc


@app.command()
def serve(config: ConfigOption = None,
          host: Annotated[str | None, typer.Option(help="default: $HOST or 127.0.0.1")] = None,
          port: Annotated[int | None, typer.Option(help="default: $PORT or 3000")] = None) -> None:
    """Migrate the database, then serve Slack, the alert webhooks, delivery and the scheduler."""
    from aiohttp import web

    from bot.app import build_components, build_web_app, server_options, start_line
    from bot.preflight import environment_problems
    from bot.store.db import migrate as run_migrations

    settings = _settings()
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    loaded = _config(config, settings)
    host = host or settings.host
    problems = environment_problems(settings, host)
    if problems:
        for problem in problems:
            typer.echo(f"environment: {problem}", err=True)
        raise typer.Exit(1)
    if not settings.secret("alert_webhook_token"):
        logging.warning("ALERT_WEBHOOK_TOKEN is not set: alert webhooks are accepted from "
                        "loopback addresses only")
    run_migrations(settings.database_url)
    parts = build_components(settings, loaded)
    port = port or settings.port
    # run_app "prints" its banner once the socket listens: log our one start line instead.
    web.run_app(build_web_app(parts), host=host, port=port,
                print=lambda _banner: logging.info("%s", start_line(parts, f"http://{host}:{port}")),
                **server_options(settings))


@app.command()
def migrate() -> None:
    """Bring the database schema to the newest version (alembic upgrade head)."""
    from bot.store.db import migrate as run_migrations

    settings = _settings()
    run_migrations(settings.database_url)
    typer.echo(f"database at head: {settings.database_url.split('@')[-1]}")


@app.command()
def check(config: ConfigOption = None,
          offline: Annotated[bool, typer.Option(
              "--offline", help="skip the Slack calls (token, scopes, channels, users)")] = False,
          ) -> None:
    """Find every problem of the config, runbooks, environment and Slack; change nothing.

    Exit 0: ok; 1: problems found (all listed); 2: the check could not run.
    """
    from bot.preflight import run_check

    settings = _settings()
    path = config or settings.oncall_config
    report = asyncio.run(run_check(settings, path, os.environ, offline=offline))
    for line in report.problems + report.could_not_run:
        typer.echo(line, err=True)
    for note in report.notes:
        typer.echo(note)
    if report.problems:
        typer.echo(f"{len(report.problems)} problem(s)", err=True)
    elif not report.could_not_run:
        typer.echo(f"ok: {report.teams} teams, config {path}")
    raise typer.Exit(report.exit_code)


@route_app.command("test")
def route_test(labels: Annotated[list[str] | None, typer.Argument(help="LABEL=VALUE ...")] = None,
               config: ConfigOption = None,
               as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
               from_file: FromOption = None,
               at: Annotated[str | None, typer.Option(
                   "--at", help="answer for this moment, e.g. '2026-12-24 03:00' (UTC)")] = None,
               ) -> None:
    """Show where an alert goes and who wakes up: policy, people, holds, runbook."""
    from bot.routing_report import RouteReporter, answer_lines, parse_at, parse_label_args
    from bot.routing_report import render_text as route_text

    settings = _settings()
    loaded = _config(config, settings)
    try:
        label_set = parse_label_args(labels or [])
        moment = parse_at(at) if at else datetime.now(UTC)  # wall clock ok: the CLI's "now"
    except ValueError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
    reporter = RouteReporter(loaded, moment, _route_holds(settings, loaded, moment),
                             _runbooks(loaded), _context_facts(settings, loaded, moment))
    if from_file is not None:
        with contextlib.ExitStack() as stack:
            stream = sys.stdin if from_file == "-" else stack.enter_context(
                Path(from_file).open(encoding="utf-8"))
            bad = 0
            for line in answer_lines(reporter, stream):
                sys.stdout.write(line + "\n")
                bad += '"error"' in line and "error" in json.loads(line)
        if bad:
            raise typer.Exit(1)
        return
    report = reporter.describe(label_set)
    typer.echo(json.dumps(report) if as_json else route_text(report))


def _route_holds(settings: Settings, config: OncallConfig, at: datetime):
    """Silences, maintenance and overrides from DATABASE_URL; None when there is no database."""
    if _absent_sqlite(settings.database_url):
        return None  # never create an empty database file just to look into it

    from bot.services.context import ServiceContext  # the database stack: only when there is one
    from bot.services.route_holds import hold_state
    from bot.store.db import Database

    async def read():
        db = Database(settings.database_url)
        try:
            return await hold_state(ServiceContext(db=db, config=config), at)
        finally:
            await db.dispose()

    try:
        return asyncio.run(read())
    except Exception:  # unreachable, or not migrated: answer without holds, and say so
        return None


def _absent_sqlite(database_url: str) -> bool:
    """A SQLite URL (`sqlite:///rel.db`, `sqlite+aiosqlite:////abs.db`, `sqlite://` in memory)
    naming no existing file. Read with urllib: importing SQLAlchemy to ask costs ~0.5 s."""
    parts = urlsplit(database_url)
    if parts.scheme.partition("+")[0] != "sqlite":
        return False
    database = unquote(parts.path[1:])
    return not (database and Path(database).exists())


def _context_facts(settings: Settings, config: OncallConfig, at: datetime):
    """What context rules ask (changes, firing alerts, noise, maintenance) as of `at`, from
    DATABASE_URL; None without a database or rules (time and tiers still answer)."""
    if not config.context or _absent_sqlite(settings.database_url):
        return None
    from bot.services.context_facts import snapshot
    from bot.store.db import Database

    async def read():
        db = Database(settings.database_url)
        try:
            async with db.reader() as s:
                return await snapshot(s, config, at)
        finally:
            await db.dispose()

    try:
        return asyncio.run(read())
    except Exception:  # unreachable, or not migrated: time-based rules and tiers still answer
        return None


def _runbooks(config: OncallConfig):
    from bot.domain.runbook_loader import load_runbooks

    return load_runbooks(config.runbooks_dir)[0]


@app.command("test-page")
def test_page(user: Annotated[str, typer.Argument(help="Slack user id, e.g. U0123ABCD")],
              config: ConfigOption = None) -> None:
    """Send a test page through every target the person has (DM, their pagers); report each."""
    from bot.delivery_run import send_test_page

    settings = _settings()
    loaded = _config(config, settings)
    if not settings.secret("slack_bot_token"):
        typer.echo("environment: SLACK_BOT_TOKEN is not set", err=True)
        raise typer.Exit(1)
    results = asyncio.run(send_test_page(settings, loaded, user))
    for line in results:
        typer.echo(line)
    if any(line.startswith("FAILED") for line in results):
        raise typer.Exit(1)


@runbook_app.command("lint")
def runbook_lint(directory: Annotated[str | None, typer.Argument(
                     help="runbooks directory (default: runbooks_dir from the config)")] = None,
                 config: ConfigOption = None) -> None:
    """Check every runbook: references, reachability, cycles without an exit, Slack limits."""
    from bot.preflight import runbook_problems  # imported here: it loads the Slack client

    settings = _settings()
    loaded = None
    with contextlib.suppress(ConfigError):
        loaded = load_config(config or settings.oncall_config)
    folder = directory or (loaded.runbooks_dir if loaded else "runbooks")
    problems = runbook_problems(folder, loaded)
    for problem in problems:
        typer.echo(str(problem), err=problem.severity == "error")
    errors = sum(1 for p in problems if p.severity == "error")
    typer.echo(f"{folder}: {errors} error(s), {len(problems) - errors} warning(s)")
    if errors:
        raise typer.Exit(1)


@runbook_app.command("show")
def runbook_show(name: str,
                 mermaid: Annotated[bool, typer.Option("--mermaid", help="a Mermaid flowchart")]
                 = False,
                 directory: Annotated[str, typer.Option("--dir")] = "runbooks") -> None:
    """Print one runbook as an outline (or a Mermaid flowchart)."""
    from bot.domain.runbook_loader import load_runbooks
    from bot.domain.runbook_show import mermaid as as_mermaid
    from bot.domain.runbook_show import outline
    from bot.domain.runbook_walk import find_runbook

    runbooks, _ = load_runbooks(directory)
    runbook = find_runbook(runbooks, name)
    if runbook is None:
        known = ", ".join(sorted(r.id for r in runbooks))
        typer.echo(f"no runbook {name!r} in {directory} (known: {known})", err=True)
        raise typer.Exit(1)
    typer.echo(as_mermaid(runbook) if mermaid else outline(runbook))


class DigestKind(StrEnum):
    cost = "cost"
    noise = "noise"


@app.command()
def digest(kind: Annotated[DigestKind, typer.Argument(help="cost (the last hour) or noise "
                                                            "(last calendar week)")],
           dry_run: Annotated[bool, typer.Option("--dry-run", help="print it, send nothing")]
           = False,
           as_json: Annotated[bool, typer.Option("--json", help="print the figures as JSON")]
           = False,
           team: Annotated[str | None, typer.Option(help="one team only")] = None,
           config: ConfigOption = None) -> None:
    """Build a digest now and send it to Slack; claims no scheduled window."""
    from bot.digest_run import run_digest
    from bot.domain.errors import DomainError

    settings = _settings()
    loaded = _config(config, settings)
    if not dry_run and not settings.secret("slack_bot_token"):
        typer.echo("environment: SLACK_BOT_TOKEN is not set (or use --dry-run)", err=True)
        raise typer.Exit(1)
    try:
        lines, code = asyncio.run(run_digest(settings, loaded, kind.value, dry_run=dry_run,
                                             as_json=as_json, team=team))
    except DomainError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
    for line in lines:
        typer.echo(line)
    if code:
        raise typer.Exit(code)


@app.command()
def postmortem(incident: Annotated[int, typer.Argument(help="the incident number, as in #42")],
               config: ConfigOption = None) -> None:
    """Print an incident's postmortem draft as Markdown (from the database's record)."""
    from bot.domain.errors import DomainError
    from bot.services.context import ServiceContext
    from bot.services.postmortem import draft
    from bot.store.db import Database

    settings = _settings()
    loaded = _config(config, settings)

    async def build() -> str:
        db = Database(settings.database_url)
        try:
            return await draft(ServiceContext(db=db, config=loaded), incident)
        finally:
            await db.dispose()

    try:
        typer.echo(asyncio.run(build()), nl=False)
    except DomainError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc


@outbox_app.callback()
def outbox(ctx: typer.Context,
           failed: Annotated[bool, typer.Option("--failed", help="only the failed ones")] = False,
           as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False) -> None:
    """List pending and failed deliveries (Slack posts, pages, webhooks) with their errors."""
    if ctx.invoked_subcommand is not None:
        return
    from bot.outbox_run import list_outbox

    for line in asyncio.run(list_outbox(_settings(), failed, as_json)):
        typer.echo(line)


@outbox_app.command("retry")
def outbox_retry(intent_id: Annotated[int, typer.Argument(metavar="ID", help="from `outbox`")],
                 config: ConfigOption = None) -> None:
    """Queue a failed delivery again, with a fresh budget of attempts and age."""
    from bot.outbox_run import retry_intent

    settings = _settings()
    answer = asyncio.run(retry_intent(settings, _config(config, settings), intent_id))
    if answer is None:
        typer.echo(f"no failed delivery with id {intent_id} (see `oncall-bot outbox --failed`)",
                   err=True)
        raise typer.Exit(1)
    typer.echo(answer)


def _since(text: str) -> timedelta:
    """`--since 7d`: a duration, or exit 2 naming the option."""
    from bot.domain.durations import DurationError, parse_duration

    try:
        return parse_duration(text)
    except DurationError as exc:
        typer.echo(f"--since: {exc}", err=True)
        raise typer.Exit(2) from exc


@app.command("audit")
def audit_trail(since: Annotated[str, typer.Option(help="how far back, e.g. 7d, 12h")] = "7d",
                actor: Annotated[str | None, typer.Option(help="only this Slack user id")] = None,
                as_json: Annotated[bool, typer.Option("--json", help="one JSON object a line")]
                = False, config: ConfigOption = None) -> None:
    """Print the append-only audit trail: changes and refusals, oldest first."""
    from bot.audit_run import audit_lines

    window = _since(since)
    settings = _settings()
    loaded = _config(config, settings)
    for line in asyncio.run(audit_lines(settings, loaded, since=window, actor=actor,
                                        as_json=as_json)):
        typer.echo(line)


@app.command()
def journal(service: Annotated[str | None, typer.Argument(help="a service; none: all")] = None,
            since: Annotated[str, typer.Option(help="how far back, e.g. 7d, 12h")] = "7d",
            as_json: Annotated[bool, typer.Option("--json", help="one JSON object a line")]
            = False, config: ConfigOption = None) -> None:
    """Print a service's journal: changes, incidents, acks, notes, steps, in time order."""
    from bot.journal_run import journal_lines

    window = _since(since)
    settings = _settings()
    loaded = _config(config, settings)
    for line in asyncio.run(journal_lines(settings, loaded, service, since=window,
                                          as_json=as_json)):
        typer.echo(line)


@app.command()
def replay(config: Annotated[str | None, typer.Option(
               "--config", "-c", help="the candidate oncall.yaml (default: the current one)")]
           = None,
           since: Annotated[str | None, typer.Option(help="how far back, e.g. 30d (default)")]
           = None,
           from_file: Annotated[str | None, typer.Option(
               "--from", help="an export instead: JSON lines of webhook bodies or alerts")]
           = None,
           as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")]
           = False,
           recall_at_least: Annotated[float, typer.Option(
               min=0.0, max=1.0, help="the recall target of the suggested thresholds")] = 0.95,
           fail_under_recall: Annotated[float | None, typer.Option(
               min=0.0, max=1.0, help="exit 1 when the candidate's recall is below this")]
           = None,
           at: Annotated[str | None, typer.Option(
               "--at", help="the window ends here, e.g. '2026-12-24 03:00' (UTC)")] = None,
           ) -> None:
    """Re-run past alerts through the current and a candidate config; read-only."""
    from bot.domain.durations import DurationError, parse_duration
    from bot.replay_run import ExportError, NoHistory, report_lines
    from bot.routing_report import parse_at

    if since is not None and from_file is not None:
        typer.echo("--since and --from: give one (the database's window, or an export)", err=True)
        raise typer.Exit(2)
    try:
        window = parse_duration(since or "30d")
        end = parse_at(at) if at else datetime.now(UTC)  # wall clock ok: the CLI's "now"
    except (DurationError, ValueError) as exc:
        typer.echo(f"--since/--at: {exc}", err=True)
        raise typer.Exit(2) from exc
    settings = _settings()
    current = _config(None, settings)
    candidate = _config(config, settings) if config else current
    try:
        lines, code = asyncio.run(report_lines(
            settings.database_url, current, candidate, end=end, since=window,
            export_path=from_file, as_json=as_json, recall_at_least=recall_at_least,
            fail_under_recall=fail_under_recall))
    except (ExportError, OSError) as exc:
        typer.echo(f"--from: {exc}", err=True)
        raise typer.Exit(2) from exc
    except NoHistory as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
    for line in lines:
        typer.echo(line)
    raise typer.Exit(code)


@app.command()
def demo() -> None:
    """Run the real pipeline offline against a local Slack stand-in and print the channels."""
    from bot.demo import run_demo

    asyncio.run(run_demo(typer.echo))

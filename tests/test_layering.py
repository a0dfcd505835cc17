"""The dependency direction of docs/architecture.md, read from every import with `ast`.

domain <- store <- services <- adapters (slack, commands, ingest, jobs, delivery, outbound)
<- app <- cli. Adapters do not import each other (except `commands` reusing `bot.slack.text`
and `bot.slack.action_ids`, and senders registering with `bot.delivery`), reach the database
only through services, and nothing below services reads the environment.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ADAPTERS = {"slack", "commands", "ingest", "jobs", "delivery", "outbound", "web"}

#: Module prefixes, most specific first, and their layer.
_LAYERS = (
    ("bot.domain", "domain"),
    ("bot.config", "config"), ("bot.config_digests", "config"),
    ("bot.route_yaml", "config"),  # the YAML loader of the config
    ("bot.config_confidence", "config"),  # score keys and source priors
    ("bot.config_salvage", "config"),  # keeps what validates, so `check` reports everything
    ("bot.config_storm", "config"),
    ("bot.config_context", "config"),  # change windows, dependencies, context rules, tiers
    ("bot.config_share", "config"), ("bot.config_statuspage", "config"),
    ("bot.routing_report", "services"),  # route test: config, domain routing and current holds
    ("bot.store", "store"), ("bot.migrations", "store"),
    ("bot.services", "services"),
    ("bot.slack", "slack"), ("commands", "commands"), ("bot.ingest", "ingest"),
    ("bot.jobs", "jobs"), ("bot.delivery_run", "app"), ("bot.delivery", "delivery"),
    ("bot.outbound_statuspage", "outbound"), ("bot.outbound", "outbound"),
    ("bot.web", "web"),
    ("bot.metrics", "metrics"), ("bot.devtools", "devtools"),
    ("bot.app", "app"), ("bot.demo", "app"), ("bot.digest_run", "app"),
    ("bot.outbox_run", "app"), ("bot.audit_run", "app"), ("bot.replay_run", "app"),
    ("bot.journal_run", "app"),
    ("bot.preflight", "app"),  # `check`: config, environment and Slack, read-only
    ("bot.settings", "app"),
    ("bot.cli", "cli"), ("bot.__main__", "cli"),
)
_ADAPTER_MAY_USE = {"domain", "config", "services", "metrics", "delivery"}
#: What each layer may import besides itself.
ALLOWED = {
    "domain": set(),
    "config": {"domain"},
    "store": {"domain"},
    "services": {"domain", "config", "store"},
    **{adapter: _ADAPTER_MAY_USE for adapter in ADAPTERS},
    "metrics": set(),
    "devtools": set(),
    "app": {"domain", "config", "store", "services", "metrics", "devtools", *ADAPTERS},
    "cli": {"domain", "config", "store", "services", "metrics", "devtools", "app", *ADAPTERS},
}
#: Named exceptions, each with its reason.
EXCEPTIONS = {
    ("commands", "bot.slack.text"): "the command reuses the one escaping path",
    ("commands", "bot.slack.action_ids"): "the command's picker buttons are the bot's buttons",
    ("commands", "bot.slack.transport.answers"):
        "one error handler and answer budget for every listener",
}
#: Adapters may name row classes (data passed to and from services), never open a session.
ROWS = "bot.store.models"
ENV_READS = {("os", "environ"), ("os", "getenv"), ("os", "environb"), ("os", "getenvb")}


@dataclass(frozen=True)
class Module:
    name: str
    path: Path
    tree: ast.Module

    @property
    def layer(self) -> str:
        return layer_of(self.name) or "?"

    def imports(self) -> list[tuple[int, str]]:
        """(line, imported module) for every absolute import, also those inside functions."""
        found = []
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Import):
                found += [(node.lineno, alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.append((node.lineno, node.module))
                found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names
                          if layer_of(f"{node.module}.{alias.name}") is not None
                          and _is_module(f"{node.module}.{alias.name}")]
        return found


def layer_of(module: str) -> str | None:
    for prefix, layer in _LAYERS:
        if module == prefix or module.startswith(prefix + "."):
            return layer
    return None


def _is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _modules() -> list[Module]:
    paths = [*sorted((ROOT / "bot").rglob("*.py")), *sorted((ROOT / "commands").rglob("*.py"))]
    return [Module(".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"),
                   p, ast.parse(p.read_text(), str(p)))
            for p in paths if "versions" not in p.parts]


MODULES = _modules()


def test_every_module_has_a_layer():
    assert [m.name for m in MODULES if m.layer == "?" and m.name != "bot"] == []


def import_violations(modules: list[Module]) -> list[str]:
    wrong = []
    for module in modules:
        for line, target in module.imports():
            target_layer = layer_of(target)
            if target_layer in (None, module.layer) or target_layer in ALLOWED[module.layer]:
                continue
            if module.layer in ADAPTERS and target == ROWS:
                continue
            if any(module.layer == layer and (target == prefix or target.startswith(prefix + "."))
                   for layer, prefix in EXCEPTIONS):
                continue
            wrong.append(f"{module.path.relative_to(ROOT)}:{line}: {module.layer} imports "
                         f"{target} ({target_layer})")
    return wrong


def environment_reads(modules: list[Module]) -> list[str]:
    reads = []
    for module in modules:
        for node in ast.walk(module.tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and (
                    node.value.id, node.attr) in ENV_READS:
                reads.append(f"{module.path.relative_to(ROOT)}:{node.lineno}: os.{node.attr}")
            elif isinstance(node, ast.ImportFrom) and node.module == "os" and any(
                    ("os", alias.name) in ENV_READS for alias in node.names):
                reads.append(f"{module.path.relative_to(ROOT)}:{node.lineno}: from os import")
    return reads


def opened_sessions(modules: list[Module]) -> list[str]:
    """`<anything>.db.reader()` / `.db.transaction()`: a session, which belongs to services."""
    opened = []
    for module in modules:
        for node in ast.walk(module.tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("reader", "transaction")
                    and isinstance(node.func.value, ast.Attribute)
                    and node.func.value.attr == "db"):
                opened.append(f"{module.path.relative_to(ROOT)}:{node.lineno}: "
                              f"db.{node.func.attr}()")
    return opened


def test_imports_follow_the_layers():
    assert import_violations(MODULES) == []


def test_the_domain_imports_no_framework():
    frameworks = ("slack_bolt", "slack_sdk", "aiohttp", "sqlmodel", "sqlalchemy", "apscheduler",
                  "alembic", "typer")
    wrong = [f"{m.path.relative_to(ROOT)}:{line}: {target}"
             for m in MODULES if m.layer == "domain" for line, target in m.imports()
             if target.split(".")[0] in frameworks]
    assert wrong == []


@pytest.mark.parametrize("layer", ["domain", "config", "store", "services"])
def test_nothing_below_services_reads_the_environment(layer):
    assert environment_reads([m for m in MODULES if m.layer == layer]) == []


def test_adapters_reach_the_database_only_through_services():
    assert opened_sessions([m for m in MODULES if m.layer in ADAPTERS]) == []


def _fake(name: str, source: str) -> Module:
    return Module(name, ROOT.joinpath(*name.split(".")).with_suffix(".py"), ast.parse(source))


def test_the_checks_catch_what_they_should():
    domain = _fake("bot.domain.example", "from bot.store import repo\nimport os\n"
                                         "os.environ.get('X')\n")
    sender = _fake("bot.slack.example", "from bot.store.models import SlackMessage\n"
                                        "from commands.parsing import parse\n"
                                        "async def f(ctx):\n"
                                        "    async with ctx.db.reader() as s: pass\n")
    command = _fake("commands.example", "from bot.slack.text import escape_mrkdwn\n"
                                        "from bot.slack.outbox.sender import SlackSender\n")
    assert import_violations([domain, sender, command]) == [
        "bot/domain/example.py:1: domain imports bot.store (store)",
        "bot/domain/example.py:1: domain imports bot.store.repo (store)",
        "bot/slack/example.py:2: slack imports commands.parsing (commands)",
        "commands/example.py:2: commands imports bot.slack.outbox.sender (slack)"]
    assert environment_reads([domain]) == ["bot/domain/example.py:3: os.environ"]
    assert opened_sessions([sender]) == ["bot/slack/example.py:4: db.reader()"]

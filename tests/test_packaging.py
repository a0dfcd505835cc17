"""`pip install .` (not editable), then `oncall-bot migrate`, from a directory with no repo in it.

The wheel is built from a copy of the working tree and installed into a fresh virtualenv, so a
migration (or the Alembic env) missing from the package fails here, not on a user's server.
Its dependencies come from the test run's own environment (`pip check` verifies the wheel's
requirements are met, and a second test that every package the bot imports is declared), which
keeps the test fast and offline; ONCALL_WHEEL_FROM_INDEX=1 installs them from the package index
instead, as a user would.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import tomllib
import venv
import zipfile
from importlib import metadata
from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text

from bot.store.db import MIGRATIONS_DIR, sync_url

ROOT = Path(__file__).resolve().parents[1]
FROM_INDEX = os.environ.get("ONCALL_WHEEL_FROM_INDEX") == "1"
_NOT_SOURCE = shutil.ignore_patterns(".venv", ".git", "build", "dist", "*.egg-info", "__pycache__",
                                     ".*_cache", ".hypothesis", "*.db*", "tests")


def _run(*args: str | Path, env: dict[str, str] | None = None, cwd: Path | None = None,
         timeout: float = 240) -> str:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=timeout, check=False)
    assert done.returncode == 0, f"{args}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _schema_version(url: str) -> str:
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            return conn.execute(text("select version_num from alembic_version")).scalar_one()
    finally:
        engine.dispose()


def test_the_built_wheel_migrates_sqlite_and_postgresql(tmp_path, postgres_url):
    source, wheels, env_dir, elsewhere = (tmp_path / n for n in ("src", "wheels", "venv", "run"))
    shutil.copytree(ROOT, source, ignore=_NOT_SOURCE)
    _run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", wheels, source)
    [wheel] = wheels.glob("oncall_bot-*.whl")
    venv.create(env_dir, with_pip=False)
    pip = (sys.executable, "-m", "pip", "--python", env_dir / "bin" / "python")
    if FROM_INDEX:
        _run(*pip, "install", "--quiet", "--no-compile", wheel, timeout=900)
    else:
        _run(*pip, "install", "--quiet", "--no-deps", "--no-compile", wheel)
        # Its dependencies are this run's own, by path. A plain path line runs none of the
        # .pth files there, so this checkout's editable `bot` stays out of sight.
        [site] = (env_dir / "lib").glob("python3*/site-packages")
        (site / "zz_dependencies.pth").write_text(
            "\n".join(p for p in sys.path if p.endswith("site-packages")) + "\n")
    _run(*pip, "check")  # the wheel's Requires-Dist are all met
    elsewhere.mkdir()  # no alembic.ini, no migrations/ and no bot/ next to the command
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DATABASE_URL")}

    installed = _run(env_dir / "bin" / "python", "-c", "import bot; print(bot.__file__)",
                     env=clean, cwd=elsewhere)
    assert installed.startswith(str(env_dir)), installed  # the wheel, not this checkout
    with zipfile.ZipFile(wheel) as archive:  # the shared journal's Jinja2 templates ship
        assert {"bot/templates/journal.html", "bot/templates/incident.html"} <= set(
            archive.namelist())
    _run(env_dir / "bin" / "python", "-c", "from bot.web.journal import templates; "
         "templates().get_template('journal.html')", env=clean, cwd=elsewhere)

    head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    for url in (f"sqlite:///{tmp_path}/fresh.db", postgres_url):
        out = _run(env_dir / "bin" / "oncall-bot", "migrate", env={**clean, "DATABASE_URL": url},
                   cwd=elsewhere)
        assert out.startswith("database at head"), out
        assert _schema_version(url) == head  # every revision of this tree shipped in the wheel


def _runtime_imports(tree: ast.AST) -> set[str]:
    """Top-level names imported at run time (not under `if TYPE_CHECKING:`)."""
    if isinstance(tree, ast.If) and getattr(tree.test, "id", None) == "TYPE_CHECKING":
        return set()
    if isinstance(tree, ast.Import):
        return {alias.name.split(".")[0] for alias in tree.names}
    if isinstance(tree, ast.ImportFrom) and tree.module and not tree.level:
        return {tree.module.split(".")[0]}
    return set().union(*(_runtime_imports(child) for child in ast.iter_child_nodes(tree)))


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_package_the_bot_imports_is_a_declared_dependency():
    """With the wheel's dependencies borrowed from this run, an import of something only the
    tests install (or only a dependency pulls in) would pass above: this catches it."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {_canonical(re.match(r"[A-Za-z0-9_.-]+", d)[0]) for d in project["dependencies"]}
    providers = metadata.packages_distributions()
    sources = [*(ROOT / "bot").rglob("*.py"), *(ROOT / "commands").rglob("*.py")]
    imported = set().union(*(_runtime_imports(ast.parse(p.read_text())) for p in sources))
    third_party = imported - set(sys.stdlib_module_names) - {"bot", "commands"}

    undeclared = {name: providers.get(name) for name in third_party
                  if not {_canonical(d) for d in providers.get(name, [])} & declared}
    assert undeclared == {}
    assert {"slack_bolt", "sqlmodel", "yaml"} <= third_party  # the walk sees real imports

"""Reading runbooks: every YAML file of a directory, validated into `Runbook`s.

Bad files become `LintProblem`s naming the file and node, never exceptions, so
`oncall-bot runbook lint` can report them all at once.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bot.domain.runbook_lint import Finding, LintProblem, as_problems
from bot.domain.runbooks import Runbook

__all__ = ["load_runbooks", "parse_runbook"]

_KINDS = ("check", "question", "action", "done")


class _FileError(ValueError):
    """A runbook file that could not be read or parsed."""


def load_runbooks(directory: str | Path) -> tuple[list[Runbook], list[LintProblem]]:
    """Read every `*.yaml`/`*.yml` in a directory; bad files become problems, never exceptions."""
    root = Path(directory)
    if not root.is_dir():
        return [], as_problems(str(root), [(None, "load", "runbooks directory not found")])
    runbooks: list[Runbook] = []
    problems: list[LintProblem] = []
    for path in sorted([*root.glob("*.yaml"), *root.glob("*.yml")]):
        try:
            data = _read_yaml(path)
        except _FileError as exc:
            problems += as_problems(str(path), [(None, "yaml", str(exc))])
            continue
        runbook, found = parse_runbook(data, str(path))
        runbooks += [runbook] if runbook is not None else []
        problems += found
    return runbooks, problems


def parse_runbook(data: object, file: str) -> tuple[Runbook | None, list[LintProblem]]:
    """Validate one parsed file; schema errors come back as problems naming the node."""
    if not isinstance(data, dict):
        message = "a runbook file holds one mapping: id, title, serves, start, nodes"
        return None, as_problems(file, [(None, "schema", message)])
    try:
        return Runbook.model_validate(data).with_file(file), []
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        return None, as_problems(file, [_schema_finding(error) for error in errors])


def _schema_finding(error: Any) -> Finding:
    """Turn a pydantic error into (node, code, message) with a path such as `answers[5]`."""
    loc: tuple[str | int, ...] = error["loc"]
    node = None
    if len(loc) >= 2 and loc[0] == "nodes":
        node, loc = str(loc[1]), loc[2:]
        loc = loc[1:] if loc and loc[0] in _KINDS else loc
    path = _loc_text(loc)
    message = str(error["msg"]).removeprefix("Value error, ")
    return node, "schema", f"{path}: {message}" if path else message


def _loc_text(loc: Sequence[str | int]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part == "[key]":
            text += " node id" if text else "node id"
        elif not text.endswith(f".{part}") and text != part:  # drop the `do` union's tag
            text += f".{part}" if text else part
    return text


def _read_yaml(path: Path) -> object:
    """Parse one file; the only place the domain touches YAML (imported here, not at import)."""
    import yaml

    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_strict_loader())
    except (OSError, UnicodeDecodeError) as exc:
        raise _FileError(f"cannot read: {exc}") from exc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise _FileError(f"not valid YAML: {where}{exc.problem}") from exc
    except yaml.YAMLError as exc:
        raise _FileError(f"not valid YAML: {exc}") from exc


@functools.cache
def _strict_loader() -> type:
    """SafeLoader that refuses duplicate keys and reads only true/false as booleans.

    A repeated node id would silently replace the first; `Yes`/`No` answers must stay text.
    """
    import yaml

    class StrictLoader(yaml.SafeLoader):
        def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
            keys = [self.construct_object(key, deep=True) for key, _ in node.value]
            for index, key in enumerate(keys):
                if key in keys[:index]:
                    mark = node.value[index][0].start_mark
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r}", mark
                    )
            return super().construct_mapping(node, deep=deep)

    bool_tag = "tag:yaml.org,2002:bool"
    StrictLoader.yaml_implicit_resolvers = {
        first: [(tag, regex) for tag, regex in resolvers if tag != bool_tag]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    StrictLoader.add_implicit_resolver(
        bool_tag, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
    )
    return StrictLoader

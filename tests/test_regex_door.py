"""One door for regexes: user-supplied patterns only ever reach RE2 through `compile_regex`.

The rule, checked over the product (bot/ and commands/):
- only `bot/domain/go_regex.py` imports `re2` (it applies Go's dialect, Go's error texts,
  the anchoring and the memo; everything else calls `bot.domain.matchers.compile_regex`);
- Python's `re` (a backtracking engine: `(a+)+` on a long value takes years) runs fixed
  patterns only: the pattern argument of `re.compile/match/search/...` is a literal, built
  from literals and `re.escape(...)` of a value (the value then matches only as text), or a
  named module constant. A function that compiles a pattern handed to it is listed in
  `TRUSTED` with why its callers only pass fixed patterns.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = [ROOT / "bot", ROOT / "commands"]
THE_DOOR = ROOT / "bot/domain/go_regex.py"
RE_CALLS = {"compile", "match", "search", "fullmatch", "sub", "subn", "split", "findall",
            "finditer"}
# (file, function) -> why the pattern it compiles is not user-supplied.
TRUSTED = {
    ("bot/domain/runbooks.py", "_matching"): "called at import with literal id/channel shapes",
}


def re2_imports(tree: ast.AST) -> list[int]:
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "re2" for a in node.names):
            lines.append(node.lineno)
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "re2":
            lines.append(node.lineno)
    return lines


def _is_escape(node: ast.AST) -> bool:
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr == "escape" and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "re")


def fixed(node: ast.AST, constants: set[str]) -> bool:
    """Whether a pattern expression is made of literals, escaped values and constants only."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str | bytes)
    if isinstance(node, ast.JoinedStr):
        return all(fixed(part, constants) for part in node.values)
    if isinstance(node, ast.FormattedValue):
        return fixed(node.value, constants)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return fixed(node.left, constants) and fixed(node.right, constants)
    if isinstance(node, ast.Name):
        return node.id in constants
    if _is_escape(node):
        return True
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr == "join" and isinstance(node.func.value, ast.Constant)
            and len(node.args) == 1
            and isinstance(node.args[0], ast.GeneratorExp | ast.ListComp)):
        # "|".join(re.escape(h) for h in ...), or f"..{unit}.." for unit in A_CONSTANT
        inner = set(constants)
        for loop in node.args[0].generators:
            if _is_literal(loop.iter) or (isinstance(loop.iter, ast.Name)
                                          and loop.iter.id in constants):
                inner |= {n.id for n in ast.walk(loop.target) if isinstance(n, ast.Name)}
        return fixed(node.args[0].elt, inner)
    return False


_LITERAL_PARTS = (ast.Constant, ast.Tuple, ast.List, ast.Set, ast.Dict, ast.BinOp, ast.UnaryOp,
                  ast.operator, ast.unaryop, ast.expr_context)


def _is_literal(node: ast.AST) -> bool:
    """A table written out in the source: constants, containers and arithmetic only."""
    return all(isinstance(part, _LITERAL_PARTS) for part in ast.walk(node))


def _module_constants(tree: ast.Module) -> set[str]:
    """UPPER_CASE names assigned, at module level, a fixed pattern or a literal (a table)."""
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if (len(targets) == 1 and isinstance(targets[0], ast.Name)
                    and targets[0].id.isupper()
                    and (fixed(node.value, names) or _is_literal(node.value))):
                names.add(targets[0].id)
    return names


def loose_re_calls(path: Path, root: Path = ROOT) -> list[str]:
    """`re.<call>(pattern, ...)` whose pattern is not fixed, outside TRUSTED functions."""
    tree = ast.parse(path.read_text())
    constants = _module_constants(tree)
    relative = path.relative_to(root).as_posix()
    found = []
    for function in [tree, *(n for n in ast.walk(tree)
                              if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef))]:
        name = getattr(function, "name", None)
        if (relative, name) in TRUSTED:
            continue
        body = function.body if name else [n for n in tree.body if not isinstance(
            n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)]
        for statement in body:
            for node in ast.walk(statement):
                if (isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
                        and node is not statement):
                    continue
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                        and isinstance(node.func.value, ast.Name) and node.func.value.id == "re"
                        and node.func.attr in RE_CALLS):
                    continue
                pattern = node.args[0] if node.args else None
                if pattern is None or not fixed(pattern, constants):
                    found.append(f"{relative}:{node.lineno}: re.{node.func.attr}")
    return sorted(set(found))


def product_files() -> list[Path]:
    return [p for base in PRODUCT for p in base.rglob("*.py")]


def test_only_the_go_regex_module_imports_re2():
    offenders = [f"{p.relative_to(ROOT)}:{line}" for p in product_files() if p != THE_DOOR
                 for line in re2_imports(ast.parse(p.read_text()))]
    assert offenders == [], ("compile user regexes with bot.domain.matchers.compile_regex, "
                             "not re2 directly:\n" + "\n".join(offenders))


def test_python_re_runs_fixed_patterns_only():
    offenders = [hit for path in product_files() for hit in loose_re_calls(path)]
    assert offenders == [], ("Python's `re` may only run fixed patterns; a user-supplied "
                             "regex goes through compile_regex (RE2):\n" + "\n".join(offenders))


def test_the_trusted_functions_still_exist():
    """A TRUSTED entry for a function that is gone or renamed would silently trust its heir."""
    for relative, name in TRUSTED:
        tree = ast.parse((ROOT / relative).read_text())
        assert any(getattr(n, "name", None) == name for n in ast.walk(tree)), (relative, name)


def test_the_guards_find_a_loose_pattern_and_a_direct_re2_import(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import re\nimport re2\nfrom re2 import compile\n"
        "FIXED = re.compile(r'[a-z]+')\n"
        "SHAPE = r'[0-9]+'\n"
        "def ok(name):\n"
        "    return re.fullmatch(SHAPE, name) or re.search(rf'<@{re.escape(name)}>', name)\n"
        "def bad(config):\n"
        "    return re.compile(config.pattern)\n"
        "def worse(pattern, text):\n"
        "    return re.sub(pattern + '$', '', text)\n")
    assert loose_re_calls(sample, tmp_path) == ["sample.py:11: re.sub", "sample.py:9: re.compile"]
    assert re2_imports(ast.parse(sample.read_text())) == [2, 3]

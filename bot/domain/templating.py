"""`{{ labels.x }}`, `{{ annotations.y }}` and `{{ changes }}` in runbook texts, escaped for
where they land (`changes`: the incident's recent changes, one line).

No expressions, filters or attribute access: a placeholder names one label or one
annotation, nothing else. A value that is not there renders as a visible marker such as
`<missing labels.pod>`, escaped like any value, so a copied command fails loudly (the
shell sees a quoted word, not a redirect) instead of running with a blank argument.

Code (shell, PromQL, SQL, text) comes out raw apart from the values' quoting: whoever
puts it in a Slack code block escapes the whole block for mrkdwn.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Mapping
from typing import Literal
from urllib.parse import quote

__all__ = [
    "PLACEHOLDER_RE",
    "Language",
    "TemplateContext",
    "escape_mrkdwn",
    "lookup",
    "make_context",
    "missing_marker",
    "placeholder_names",
    "quote_promql",
    "quote_shell",
    "quote_sql",
    "render",
    "render_url",
    "template_problems",
    "unknown_placeholders",
]

Language = Literal["shell", "promql", "sql", "text"]
TemplateContext = Mapping[str, Mapping[str, str]]
"""`{"labels": {...}, "annotations": {...}}`: the only two namespaces a template may name."""

PLACEHOLDER_RE = re.compile(r"\{\{\s*(.*?)\s*\}\}")
_NAME_RE = re.compile(r"(labels|annotations)\.([A-Za-z_][A-Za-z0-9_]*)")
_SHELL_SAFE_RE = re.compile(r"[A-Za-z0-9._:/=-]+")


CHANGES = "changes"
NO_CHANGES = "(no recent changes recorded)"


def make_context(
    labels: Mapping[str, str], annotations: Mapping[str, str] | None = None,
    changes: str | None = None,
) -> dict[str, Mapping[str, str]]:
    """Build the context of one alert (or of an incident's first alert); `changes` is the
    incident's recent changes as one line of text, for `{{ changes }}`."""
    return {"labels": labels, "annotations": annotations or {},
            CHANGES: {CHANGES: changes or NO_CHANGES}}


def escape_mrkdwn(text: str) -> str:
    """Escape Slack's three control characters so `<!channel>` stays text, not a mention."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def quote_shell(value: str) -> str:
    """Leave plain words alone; quote anything else so it stays one argument."""
    return value if _SHELL_SAFE_RE.fullmatch(value) else shlex.quote(value)


def quote_promql(value: str) -> str:
    """Escape for the inside of a double-quoted PromQL string (label matcher values)."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def quote_sql(value: str) -> str:
    """Escape for the inside of a single-quoted SQL string literal."""
    return value.replace("'", "''")


_CODE_QUOTERS: dict[str, Callable[[str], str]] = {
    "shell": quote_shell,
    "promql": quote_promql,
    "sql": quote_sql,
    "text": lambda value: value,
}


def missing_marker(name: str) -> str:
    """What stands in for a label or annotation the alert does not carry."""
    return f"<missing {name}>"


def lookup(name: str, context: TemplateContext) -> str | None:
    """The value a placeholder names, or None when it is unknown or not allowed."""
    if name == CHANGES:
        return context.get(CHANGES, {}).get(CHANGES, NO_CHANGES)
    found = _NAME_RE.fullmatch(name)
    if found is None:
        return None
    namespace, key = found.groups()
    return context.get(namespace, {}).get(key)


def render(
    template: str,
    context: TemplateContext,
    *,
    for_code: bool,
    language: Language = "text",
) -> str:
    """Substitute placeholders; escape values for mrkdwn, or for `language` when for_code."""
    escape = _CODE_QUOTERS[language] if for_code else escape_mrkdwn
    return _substitute(template, context, escape)


def render_url(template: str, context: TemplateContext) -> str:
    """Substitute placeholders into a link, percent-encoding every value."""
    return _substitute(template, context, lambda value: quote(value, safe=""))


def _substitute(template: str, context: TemplateContext, escape: Callable[[str], str]) -> str:
    def replace(found: re.Match[str]) -> str:
        name = found.group(1)
        value = lookup(name, context)
        return escape(missing_marker(name) if value is None else value)

    return PLACEHOLDER_RE.sub(replace, template)


def placeholder_names(template: str) -> list[str]:
    """Every name a template's placeholders use, in order, for lint."""
    return [found.group(1) for found in PLACEHOLDER_RE.finditer(template)]


def unknown_placeholders(template: str) -> list[str]:
    """Names that are not `labels.<name>` or `annotations.<name>`: they can never render."""
    return [name for name in placeholder_names(template)
            if name != CHANGES and not _NAME_RE.fullmatch(name)]


# -- checks for lint -----------------------------------------------------------------------


def template_problems(template: str, lands: str) -> list[tuple[str, str]]:
    """(code, message) for placeholders that never render or could break out of their quotes.

    `lands` is where the text goes: "text" (mrkdwn), "url", or a diagnostic's language.
    """
    problems = [
        (
            "template",
            f"{{{{ {name} }}}} is not labels.<name> or annotations.<name>; "
            f"it always renders as {missing_marker(name)}",
        )
        for name in unknown_placeholders(template)
    ]
    if template.count("{{") > len(PLACEHOLDER_RE.findall(template)):
        problems.append(("template", "'{{' without a closing '}}'"))
    return problems + _quoting_problems(template, lands)


_QUOTES = {"shell": "'\"", "promql": "'\"`", "sql": "'"}


def _quoting_problems(template: str, language: str) -> list[tuple[str, str]]:
    """Values are escaped for one position only; anywhere else they could break out."""
    quotes = _QUOTES.get(language)
    if quotes is None:
        return []
    names = placeholder_names(template)
    insides = _enclosing_quotes(template, quotes)
    return [
        problem
        for name, inside in zip(names, insides, strict=True)
        if (problem := _quoting_problem(f"{{{{ {name} }}}}", language, inside)) is not None
    ]


def _quoting_problem(placeholder: str, language: str, inside: str | None) -> tuple[str, str] | None:
    if language == "shell" and inside is not None:
        return "shell-quoting", (
            f"{placeholder} sits inside {inside} quotes; leave it bare, values are "
            "shell-quoted for you (inside quotes a value could run commands)"
        )
    if language == "sql" and inside != "'":
        return "sql-quoting", (
            f"write '{placeholder}' in SQL; values are escaped for the inside of a "
            "single-quoted string only"
        )
    if language == "promql" and inside != '"':
        return "promql-quoting", (
            f'write "{placeholder}" in PromQL; values are escaped for the inside of a '
            "double-quoted string only"
        )
    return None


def _enclosing_quotes(template: str, quotes: str) -> list[str | None]:
    """For each placeholder, the quote it sits inside (backslash escapes, except inside ')."""
    spans = {found.start(): found.end() for found in PLACEHOLDER_RE.finditer(template)}
    found: list[str | None] = []
    state: str | None = None
    index = 0
    while index < len(template):
        if index in spans:
            found.append(state)
            index = spans[index]
            continue
        char = template[index]
        if char == "\\" and state != "'":
            index += 2
            continue
        if state is None and char in quotes:
            state = char
        elif char == state:
            state = None
        index += 1
    return found

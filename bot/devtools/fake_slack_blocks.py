"""Block Kit validation for the Slack fake: what Slack refuses as `invalid_blocks`.

A table of small checks per block and element type (text lengths, item counts, required
fields, unique block_id and action_id), answering with Slack's own
``[ERROR] ... [json-pointer:...]`` lines. Pure functions: the fake runs them on every
message and view it receives (`bot.devtools.fake_slack_methods`), and block-builder unit
tests can call `block_kit_problems` directly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["MESSAGE_BLOCKS_MAX", "VIEW_BLOCKS_MAX", "block_kit_problems", "view_problems"]

Json = dict[str, Any]

MESSAGE_BLOCKS_MAX = 50
VIEW_BLOCKS_MAX = 100

Check = Callable[[Json, str], Iterator[str]]


def _problem(why: str, pointer: str) -> str:
    return f"[ERROR] {why} [json-pointer:{pointer}]"


def _too_long(value: Any, limit: int | None, pointer: str) -> Iterator[str]:
    if limit is not None and isinstance(value, str) and len(value) > limit:
        yield _problem(f"must be less than {limit + 1} characters", pointer)


def _text_problems(text: Any, limit: int | None, ptr: str, plain_only: bool) -> Iterator[str]:
    """A text object needs a known type and a non-empty ``text`` within the limit."""
    kinds = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
    if not isinstance(text, dict) or text.get("type") not in kinds:
        yield _problem(f"must be a {' or '.join(kinds)} text object", ptr)
        return
    body = text.get("text")
    if not isinstance(body, str) or not body:
        yield _problem("must be more than 0 characters", f"{ptr}/text")
        return
    yield from _too_long(body, limit, f"{ptr}/text")


def _text(key: str, limit: int | None, *, required: bool = False, plain: bool = False) -> Check:
    def check(obj: Json, ptr: str) -> Iterator[str]:
        if key in obj:
            yield from _text_problems(obj[key], limit, f"{ptr}/{key}", plain)
        elif required:
            yield _problem(f"missing required field: {key}", ptr)

    return check


def _string(key: str, limit: int) -> Check:
    def check(obj: Json, ptr: str) -> Iterator[str]:
        yield from _too_long(obj.get(key), limit, f"{ptr}/{key}")

    return check


def _items(key: str, most: int, *, required: bool = False, each: Check | None = None) -> Check:
    def check(obj: Json, ptr: str) -> Iterator[str]:
        items, here = obj.get(key), f"{ptr}/{key}"
        if items is None:
            if required:
                yield _problem(f"missing required field: {key}", ptr)
            return
        if not isinstance(items, list):
            yield _problem("must be an array", here)
            return
        if len(items) > most:
            yield _problem(f"no more than {most} items allowed", here)
        if each is not None:
            for i, item in enumerate(items):
                yield from each(item, f"{here}/{i}")

    return check


def _element(key: str) -> Check:
    def check(obj: Json, ptr: str) -> Iterator[str]:
        if key in obj:
            yield from _element_problems(obj[key], f"{ptr}/{key}")

    return check


def _element_problems(element: Any, ptr: str) -> Iterator[str]:
    if not isinstance(element, dict):
        yield _problem("must be an object", ptr)
        return
    yield from _too_long(element.get("action_id"), 255, f"{ptr}/action_id")
    for rule in ELEMENT_RULES.get(element.get("type"), ()):
        yield from rule(element, ptr)


def _field_text(item: Any, ptr: str) -> Iterator[str]:
    yield from _text_problems(item, 2000, ptr, plain_only=False)


def _context_item(item: Any, ptr: str) -> Iterator[str]:
    if isinstance(item, dict) and item.get("type") in ("plain_text", "mrkdwn"):
        yield from _text_problems(item, None, ptr, plain_only=False)


def _text_or_fields(block: Json, ptr: str) -> Iterator[str]:
    if "text" not in block and "fields" not in block:
        yield _problem("must define either `text` or `fields`", f"{ptr}/type")


ELEMENT_RULES: dict[str, tuple[Check, ...]] = {
    "button": (_text("text", 75, required=True, plain=True), _string("value", 2000),
               _string("url", 3000)),
    "overflow": (_items("options", 5, required=True),),
    "static_select": (_items("options", 100),),
    "multi_static_select": (_items("options", 100),),
}

BLOCK_RULES: dict[str, tuple[Check, ...]] = {
    "section": (_text_or_fields, _text("text", 3000), _items("fields", 10, each=_field_text),
                _element("accessory")),
    "header": (_text("text", 150, required=True, plain=True),),
    "context": (_items("elements", 10, required=True, each=_context_item),),
    "actions": (_items("elements", 25, required=True, each=_element_problems),),
    "divider": (),
    "image": (_string("image_url", 3000), _string("alt_text", 2000),
              _text("title", 2000, plain=True)),
    "input": (_text("label", 2000, required=True, plain=True), _element("element"),
              _text("hint", 2000, plain=True)),
    "markdown": (_string("text", 12_000),),
    "rich_text": (),
    "file": (),
    "video": (),
    "table": (),
    "context_actions": (_items("elements", 5, required=True),),
}

SURFACES = {"message": (MESSAGE_BLOCKS_MAX, "/blocks"), "view": (VIEW_BLOCKS_MAX, "/view/blocks")}

VIEW_RULES: tuple[Check, ...] = (
    _text("title", 24, plain=True), _text("submit", 24, plain=True),
    _text("close", 24, plain=True), _string("private_metadata", 3000),
    _string("callback_id", 255), _string("external_id", 255),
)


def _action_ids(block: Json) -> Iterator[tuple[str, str]]:
    """(action_id, pointer) of every element directly inside a block."""
    for key in ("accessory", "element"):
        if isinstance(block.get(key), dict) and "action_id" in block[key]:
            yield block[key]["action_id"], f"/{key}/action_id"
    elements = block.get("elements")
    for i, el in enumerate(elements if isinstance(elements, list) else ()):
        if isinstance(el, dict) and "action_id" in el:
            yield el["action_id"], f"/elements/{i}/action_id"


def _duplicate_action_ids(block: Json, ptr: str) -> Iterator[str]:
    """Slack: action_id "should be unique among all other action_ids in the containing block"."""
    seen: set[str] = set()
    for action_id, where in _action_ids(block):
        if action_id in seen:
            yield _problem(f"duplicate action_id: {action_id}", ptr + where)
        seen.add(action_id)


def _block_problems(block: Any, ptr: str, block_ids: set[str]) -> Iterator[str]:
    if not isinstance(block, dict):
        yield _problem("must be an object", ptr)
        return
    kind = block.get("type")
    if kind not in BLOCK_RULES:
        yield _problem(f"unsupported type: {kind}", f"{ptr}/type")
        return
    block_id = block.get("block_id")
    yield from _too_long(block_id, 255, f"{ptr}/block_id")
    if block_id is not None and block_id in block_ids:
        yield _problem(f"duplicate block_id: {block_id}", f"{ptr}/block_id")
    block_ids.add(block_id)
    for rule in BLOCK_RULES[kind]:
        yield from rule(block, ptr)
    yield from _duplicate_action_ids(block, ptr)


def block_kit_problems(blocks: Any, *, surface: str = "message") -> list[str]:
    """Slack-style ``[ERROR] ... [json-pointer:...]`` lines for blocks; [] when Slack would accept.

    ``surface`` is "message" (50 blocks, pointers under /blocks) or "view" (100, /view/blocks).
    Usable directly in block-builder unit tests.
    """
    most, prefix = SURFACES[surface]
    if not isinstance(blocks, list):
        return [_problem("must be an array", prefix)]
    problems = []
    if len(blocks) > most:
        problems.append(_problem(f"no more than {most} items allowed", prefix))
    block_ids: set[str] = set()
    for i, block in enumerate(blocks):
        problems.extend(_block_problems(block, f"{prefix}/{i}", block_ids))
    return problems


def view_problems(view: Json) -> list[str]:
    """The same lines for a view (views.open/push/update/publish): its fields, then its blocks."""
    problems = [p for rule in VIEW_RULES for p in rule(view, "/view")]
    if view.get("type") == "modal" and "title" not in view:
        problems.append(_problem("missing required field: title", "/view"))
    return problems + block_kit_problems(view.get("blocks", []), surface="view")

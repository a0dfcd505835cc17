"""Read the `route` block's scalars the way Alertmanager (Go, yaml.v2) reads them.

Go decodes a plain scalar into a string field as the text written: `yes`, `true`, `010`,
`0x1F` and `1e3` stay exactly that, where PyYAML would make them True, 8, 31 and 1000.0.
So in `receiver`, `matchers`, `match`, `match_re`, `group_by` and the other string keys of
every route node, plain scalars are tagged as strings before PyYAML constructs them. `null`
stays null: `bot.domain.routing` turns it into what Go makes of it.
"""

from __future__ import annotations

import yaml

__all__ = ["ConfigLoader"]

_STR = "tag:yaml.org,2002:str"
_NULL = "tag:yaml.org,2002:null"
_SCALAR_KEYS = frozenset({"receiver", "receiver_from_label", "runbook"})
_LIST_KEYS = frozenset({"matchers", "group_by", "mute_time_intervals", "active_time_intervals"})
_MAP_KEYS = frozenset({"match", "match_re"})


class ConfigLoader(yaml.SafeLoader):
    """PyYAML's safe loader, with Go's reading of strings inside the `route` block."""

    def compose_document(self) -> yaml.Node:
        document = super().compose_document()
        if isinstance(document, yaml.MappingNode):
            for key, value in document.value:
                if key.value == "route":
                    _route_node(value)
        return document


def _route_node(node: yaml.Node) -> None:
    if not isinstance(node, yaml.MappingNode):
        return
    for key, value in node.value:
        if key.value in _SCALAR_KEYS:
            _as_written(value)
        elif key.value in _LIST_KEYS and isinstance(value, yaml.SequenceNode):
            for item in value.value:
                _as_written(item)
        elif key.value in _MAP_KEYS and isinstance(value, yaml.MappingNode):
            for map_key, map_value in value.value:
                _as_written(map_key)
                _as_written(map_value)
        elif key.value == "routes" and isinstance(value, yaml.SequenceNode):
            for child in value.value:
                _route_node(child)


def _as_written(node: yaml.Node) -> None:
    """A plain scalar that is not null becomes the string it is written as."""
    if isinstance(node, yaml.ScalarNode) and node.style is None and node.tag != _NULL:
        node.tag = _STR

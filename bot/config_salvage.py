"""Helpers that let `check` report every config problem at once.

A broken section must not hide the cross-reference errors of the rest, so `salvage` keeps
whatever validates (entry by entry in named maps); a typo'd key is reported once, with the
key it most likely meant, instead of as an unknown key plus a missing one.
"""

from __future__ import annotations

import difflib
import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, TypeAdapter, ValidationError


def salvage(model: type[BaseModel], data: dict[str, Any]) -> BaseModel:
    """`model` built from the sections of `data` that validate; broken map entries keep their
    name (as a placeholder) so references to them are not reported as undefined."""
    values: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        key = field.alias or name
        if key not in data:
            continue
        try:
            values[name] = TypeAdapter(field.annotation).validate_python(data[key])
        except ValidationError:
            salvaged = _salvage_map(field.annotation, data[key])
            if salvaged is not None:
                values[name] = salvaged
    return model.model_construct(**values)


def _salvage_map(annotation: Any, raw: Any) -> Any:
    tp = _unwrap(annotation)
    if isinstance(tp, type) and issubclass(tp, BaseModel) and isinstance(raw, dict):
        return _placeholder(tp, raw)  # a section that is one model (route, heartbeat)
    if get_origin(tp) is not dict or not isinstance(raw, dict):
        return None
    value_type = get_args(tp)[1]
    kept = {}
    for key, entry in raw.items():
        try:
            kept[str(key)] = TypeAdapter(value_type).validate_python(entry)
        except ValidationError:
            kept[str(key)] = _placeholder(value_type, entry)
    return kept


def _placeholder(value_type: Any, entry: Any) -> Any:
    """A stand-in for a broken entry: the fields that validate survive (references, nested
    routes and levels, recursively); the others are empty."""
    tp = _unwrap(value_type)
    if not (isinstance(tp, type) and issubclass(tp, BaseModel)):
        return _salvage_map(tp, entry) if get_origin(tp) is dict else None
    raw = entry if isinstance(entry, dict) else {}
    values = {}
    for name, field in tp.model_fields.items():
        key = field.alias if field.alias in raw else name
        if key in raw:
            values[name] = _salvage_value(field.annotation, raw[key])
        else:
            values[name] = _empty(field.annotation) if field.is_required() else (
                field.get_default(call_default_factory=True))
    return tp.model_construct(**values)


def _salvage_value(annotation: Any, raw: Any) -> Any:
    try:
        return TypeAdapter(annotation).validate_python(raw)
    except ValidationError:
        pass
    tp = _unwrap(annotation)
    if get_origin(tp) is list and isinstance(raw, list) and _is_model(get_args(tp)[0]):
        return [_salvage_value(get_args(tp)[0], item) for item in raw]
    if get_origin(tp) is dict or (isinstance(tp, type) and issubclass(tp, BaseModel)):
        return _placeholder(tp, raw)
    return _empty(annotation)


def _empty(annotation: Any) -> Any:
    origin = get_origin(_unwrap(annotation))
    return [] if origin is list else {} if origin is dict else None


def suggestion(model: type[BaseModel], loc: tuple[Any, ...], wrong: str,
               extra: set[str] = frozenset()) -> str | None:
    """The known key closest to `wrong` at `loc` (the parent's location), if one is close."""
    known = _fields_at(model, [p for p in loc if not str(p).startswith("function-")]) | extra
    close = difflib.get_close_matches(wrong, sorted(known), n=1, cutoff=0.6)
    return close[0] if close else None


def _fields_at(annotation: Any, parts: list[Any]) -> set[str]:
    tp = _unwrap(annotation)
    members = [_unwrap(a) for a in get_args(tp)] if _is_union(tp) else [tp]
    found: set[str] = set()
    for member in members:
        found |= _member_fields_at(member, parts)
    return found


def _member_fields_at(tp: Any, parts: list[Any]) -> set[str]:
    origin = get_origin(tp)
    if origin in (dict, list):
        return _fields_at(get_args(tp)[-1], parts[1:]) if parts else set()
    if not (isinstance(tp, type) and issubclass(tp, BaseModel)):
        return set()
    fields = {f.alias or n: f for n, f in tp.model_fields.items()}
    if not parts:
        return set(fields)
    head, rest = str(parts[0]), parts[1:]
    if head in fields:
        return _fields_at(fields[head].annotation, rest)
    if head == tp.__name__ or head in _tags(tp):  # a union member's tag in pydantic's loc
        return _member_fields_at(tp, rest)
    return set()


def _tags(model: type[BaseModel]) -> set[str]:
    return {str(v) for f in model.model_fields.values() if get_origin(f.annotation) is Literal
            for v in get_args(f.annotation)}


def _unwrap(tp: Any) -> Any:
    while get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    if _is_union(tp):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return _unwrap(args[0])
    return tp


def _is_model(tp: Any) -> bool:
    tp = _unwrap(tp)
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _is_union(tp: Any) -> bool:
    return get_origin(tp) in (Union, types.UnionType)

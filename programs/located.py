"""YAML (and JSON, which YAML reads too) loaded with the line and column of every value, so that
validation errors can point at the exact spot in the coach's file.

Every scalar is kept as a string (`LStr`) and converted later by the field that reads it: YAML 1.1
would otherwise turn `8:00` into 480 and a choice labelled `Yes` into True.
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml


@dataclass(frozen=True)
class Loc:
    line: int  # 1-based
    column: int  # 1-based


class LStr(str):
    loc: Loc
    quoted: bool


class LDict(dict[str, "Node"]):
    loc: Loc
    key_locs: dict[str, Loc]


class LList(list["Node"]):
    loc: Loc


Node = LStr | LDict | LList


class LoadError(ValueError):
    def __init__(self, loc: Loc, message: str) -> None:
        super().__init__(message)
        self.loc = loc
        self.message = message


def _loc(mark: yaml.Mark | None) -> Loc:
    return Loc(mark.line + 1, mark.column + 1) if mark else Loc(1, 1)


def load(text: str) -> Node:
    """Parse YAML/JSON text into located nodes. Raises LoadError (syntax, duplicate keys,
    anchors/aliases or tags we do not allow)."""
    try:
        root = yaml.compose(text, Loader=yaml.BaseLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise LoadError(_loc(mark), f"not valid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise LoadError(Loc(1, 1), f"not valid YAML: {exc}") from None
    if root is None:
        raise LoadError(Loc(1, 1), "the file is empty")
    return _convert(root)


def _convert(node: yaml.Node) -> Node:
    loc = _loc(node.start_mark)
    if isinstance(node, yaml.ScalarNode):
        value = LStr(node.value)
        value.loc = loc
        value.quoted = node.style in ("'", '"')
        return value
    if isinstance(node, yaml.SequenceNode):
        items = LList(_convert(child) for child in node.value)
        items.loc = loc
        return items
    if isinstance(node, yaml.MappingNode):
        mapping = LDict()
        mapping.loc = loc
        mapping.key_locs = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise LoadError(_loc(key_node.start_mark), "keys must be plain names")
            key = key_node.value
            if key == "<<":
                raise LoadError(_loc(key_node.start_mark), "merge keys (<<) are not supported")
            if key in mapping:
                first = mapping.key_locs[key]
                raise LoadError(
                    _loc(key_node.start_mark),
                    f"duplicate key {key!r} (first defined on line {first.line})",
                )
            mapping.key_locs[key] = _loc(key_node.start_mark)
            mapping[key] = _convert(value_node)
        return mapping
    raise LoadError(loc, f"unsupported YAML node {type(node).__name__}")  # pragma: no cover


def loc_of(node: object, default: Loc) -> Loc:
    found = getattr(node, "loc", None)
    return found if isinstance(found, Loc) else default

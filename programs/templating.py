"""Templates and conditions in a jinja2 sandbox: `{{ contact.first_name }}` in texts, and
`metrics.mood.last < 5` in branches. Never Python `eval`.

Values are escaped for our Markdown subset as they are inserted, so a coachee called "*Bob*" does
not turn bold; the coach's own text keeps its markup.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any

from jinja2 import TemplateSyntaxError, meta, nodes
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.runtime import ChainableUndefined
from jinja2.sandbox import SandboxedEnvironment

log = logging.getLogger(__name__)

# Names every template and condition may use; program variables come on top.
CONTEXT_NAMES = frozenset(
    {
        "contact",
        "day",
        "program",
        "metrics",
        "streaks",
        "habits",
        "goals",
        "badges",
        "answer",
        "now",
        "vars",
    }
)

_MARKDOWN_SPECIAL = re.compile(r"([\\*_`\[\]])")


def escape_markdown(value: object) -> str:
    if value is None or isinstance(value, ChainableUndefined):
        return ""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", str(value))


@functools.lru_cache(maxsize=1)
def environment() -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        undefined=ChainableUndefined, autoescape=False, finalize=escape_markdown
    )
    env.globals.clear()  # no range(), lipsum(), dict() …: templates see only the context
    return env


def _undeclared(ast: nodes.Template, known: Iterable[str]) -> list[str]:
    return sorted(meta.find_undeclared_variables(ast) - set(known))


FACT_NAMES = frozenset({"metrics", "streaks", "habits", "goals", "badges"})


def names_used(source: str, *, condition: bool = False) -> set[str]:
    """The context names a template (or condition) reads; empty if it does not parse."""
    try:
        ast = environment().parse("{{ (" + source + ") }}" if condition else source)
    except TemplateSyntaxError:
        return set()
    return set(meta.find_undeclared_variables(ast))


def check_template(source: str, known: Iterable[str]) -> list[str]:
    """Problems in a text template: syntax errors and names that are not defined."""
    try:
        ast = environment().parse(source)
    except TemplateSyntaxError as exc:
        return [f"template syntax error: {exc.message} (template line {exc.lineno})"]
    return [f"unknown name {name!r} in template" for name in _undeclared(ast, known)]


def check_condition(source: str, known: Iterable[str]) -> list[str]:
    """Problems in a condition: it must be one jinja2 expression over known names."""
    if "{{" in source or "{%" in source:
        return ["write a condition as a bare expression, e.g. metrics.mood.last < 5"]
    try:
        ast = environment().parse("{{ (" + source + ") }}")
    except TemplateSyntaxError as exc:
        return [f"condition syntax error: {exc.message}"]
    return [f"unknown name {name!r} in condition" for name in _undeclared(ast, known)]


@functools.lru_cache(maxsize=4096)
def _compiled_template(source: str) -> Any:
    return environment().from_string(source)


@functools.lru_cache(maxsize=4096)
def _compiled_condition(source: str) -> Any:
    return environment().compile_expression(source, undefined_to_none=False)


def render(source: str, context: Mapping[str, Any]) -> str:
    try:
        return str(_compiled_template(source).render(context)).strip()
    except (UndefinedError, SecurityError, TypeError, ValueError) as exc:
        # Validation catches unknown names; what is left is data (e.g. comparing a check-in that
        # has no value yet). Send the plain text around the template logic rather than nothing,
        # and never the text of every branch of an `if`.
        log.warning("template failed to render", extra={"error": str(exc)})
        return fallback_text(source)


_BLOCK = re.compile(
    r"\{%-?\s*(if|for)\b.*?%\}(?:(?!\{%-?\s*(?:if|for)\b).)*?\{%-?\s*end\1\s*-?%\}", re.S
)


def fallback_text(source: str) -> str:
    """The template without its logic: if/for blocks (innermost first) and expressions go."""
    text, previous = source, None
    while text != previous:
        previous, text = text, _BLOCK.sub("", text)
    text = re.sub(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", "", text, flags=re.S)
    return re.sub(r"[ \t]{2,}", " ", text).strip()


def evaluate(condition: str, context: Mapping[str, Any]) -> bool:
    """Truth of a condition; a comparison with a missing value (no check-in yet) is false."""
    try:
        result = _compiled_condition(condition)(**context)
    except (UndefinedError, SecurityError, TypeError, ValueError, ZeroDivisionError):
        return False
    if isinstance(result, ChainableUndefined):
        return False
    return bool(result)

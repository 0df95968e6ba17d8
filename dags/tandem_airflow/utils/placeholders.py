"""
``{partition}``, ``{ds}``, ``{run_id}``, ``{dag_id}``, ``{task_id}`` in user strings (source paths,
URLs, commands, hand-off inputs), replaced as plain text: user text is never a Jinja template.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def fill_placeholders(template: str, partition: str | None, ds: str | None, **more: str | None) -> str:
    """
    ``{partition}`` / ``{ds}`` (and ``{name}`` for each of ``more``) by plain replacement. One
    pass, so a value that itself contains ``{ds}`` is not replaced again; a placeholder without a
    value (``None``) or that nobody named stays as written.
    """
    values = {"partition": partition, "ds": ds, **more}

    def value_of(match: re.Match[str]) -> str:
        value = values.get(match.group(1))
        return match.group(0) if value is None else value

    return _PLACEHOLDER.sub(value_of, template)


def fill_structure(value: Any, values: Mapping[str, str | None]) -> Any:
    """Placeholders replaced in every string value of a JSON-like structure (keys stay as written)."""
    if isinstance(value, str):
        return fill_placeholders(value, **values)
    if isinstance(value, Mapping):
        return {key: fill_structure(item, values) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [fill_structure(item, values) for item in value]
    return value

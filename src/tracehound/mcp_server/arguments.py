"""Tool arguments as models send them. LLMs often pass one value where the schema asks for a list
(`"failed"` for `["failed"]`): every list argument takes both, and its JSON schema says so. And an
argument the schema refuses is answered in a sentence the model can act on, not in pydantic's
report."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails


def listify(value: Any) -> Any:
    """One value stands for the list of it; anything else is left to the list's validation."""
    return [value] if isinstance(value, str) else value


def one_or_many(item: dict[str, Any], nullable: bool = True, **array: Any) -> dict[str, Any]:
    """The JSON schema of a list argument that also takes a single item: `item` or an array of
    them (with `array` constraints such as maxItems), or null when it is optional."""
    choices: list[dict[str, Any]] = [item, {"type": "array", "items": item, **array}]
    if nullable:
        choices.append({"type": "null"})
    return {"anyOf": choices}


def _one(error: ErrorDetails) -> str:
    where = ".".join(str(part) for part in error["loc"]) or "arguments"
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    got = error.get("input")
    kind = error["type"]
    if kind == "greater_than_equal":
        return f"{where} must be at least {ctx['ge']}, got {got!r}"
    if kind == "less_than_equal":
        return f"{where} must be at most {ctx['le']}, got {got!r}"
    if kind == "greater_than":
        return f"{where} must be more than {ctx['gt']}, got {got!r}"
    if kind == "less_than":
        return f"{where} must be less than {ctx['lt']}, got {got!r}"
    unit = "items" if isinstance(got, list) else "characters"
    if kind == "too_long":
        return f"{where} takes at most {ctx['max_length']} {unit}, got {ctx.get('actual_length')}"
    if kind == "too_short":
        return f"{where} takes at least {ctx['min_length']} {unit}, got {ctx.get('actual_length')}"
    if kind == "missing":
        return f"{where} is required"
    if kind == "literal_error":
        return f"{where} must be one of {ctx['expected']}, got {got!r}"
    if kind == "extra_forbidden":
        return f"{where} is not an argument of this tool"
    shown = "" if isinstance(got, dict | list) else f", got {got!r}"
    return f"{where}: {error['msg'].lower()}{shown}"


def describe(exc: ValidationError) -> str:
    return "invalid arguments: " + "; ".join(_one(e) for e in exc.errors(include_url=False))

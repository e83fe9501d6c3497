"""What every backend's span-summary read shares (pure Python, no SQL): facts in summary order,
which spans may have findings, and the findings paired with their spans."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from operator import itemgetter
from typing import Any

from tracehound.model import Finding
from tracehound.storage.types import SpanFacts

_BY_START = itemgetter(SpanFacts._fields.index("start_us"), SpanFacts._fields.index("span_id"))


def facts_by_start(rows: Iterable[Sequence[Any]]) -> list[SpanFacts]:
    """Rows of the facts' columns as SpanFacts, by start time then span id (sorted here rather
    than by the database, which would sort whole rows)."""
    spans = list(map(SpanFacts._make, rows))
    spans.sort(key=_BY_START)
    return spans


def scanned(spans: list[SpanFacts], findings: bool) -> dict[int, SpanFacts]:
    """The spans to look findings up for, by ref: only a span with a scanned text can have one."""
    return {s.ref: s for s in spans if s.texts_scanned} if findings else {}


def paired(by_ref: dict[int, SpanFacts], rows: Iterable[Sequence[Any]]) -> list[tuple[SpanFacts, Finding]]:
    """Rows (ref, source, idx, tool_name, pattern, severity, snippet) as (span, finding)."""
    return [(by_ref[ref], Finding(*finding)) for ref, *finding in rows]

"""Semantic errors: text that reads like a failure although no error was recorded ("❌ search
failed", "unknown tool", "rate limit"). The patterns and their severity scores are vLLora's data
agent's (reference §6.1), kept here as data; docs/analytics.md lists them.

The scan runs once per span, at ingest (`tracehound.conventions.normalize`), on the full
attribute values; the span summary reads its findings. For spans stored before that, the summary
runs the same `scan` on the stored attributes.

Each pattern has an anchor, a literal that every match contains. One Aho-Corasick pass over the
lower-cased text finds the anchors present, and only the patterns whose anchor is present are
tried as regular expressions: trying some fifty expressions on every text would cost more than
the rest of a summary."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol

import ahocorasick

from tracehound.conventions.texts import new_tool_results, output_text
from tracehound.model import KIND_TOOL, Finding

# Only this many characters of each text are scanned: errors are stated up front, and a long
# tool result (a page of search hits) would otherwise cost as much as a hundred short ones.
SCAN_CHARS = 1000
SNIPPET_BEFORE = 30
SNIPPET_CHARS = 160


@dataclass(frozen=True, slots=True)
class Pattern:
    """`name` is what a summary reports; `regex` (None: the anchor alone) is matched against the
    lower-cased text, so it is written in lower case; `anchor` occurs in every match."""

    name: str
    severity: int
    anchor: str
    regex: str | None = None


def _lit(text: str, severity: int) -> Pattern:
    return Pattern(text, severity, text.lower())


# vLLora's list, in its order. Ties in severity go to the earlier pattern. Changes from vLLora:
# `could not find|locate|retrieve|connect` is read as meant ("could not" and one of the verbs,
# not "locate" alone).
PATTERNS: tuple[Pattern, ...] = (
    _lit("not found", 10),
    _lit("does not exist", 10),
    _lit("cannot be found", 10),
    Pattern("no … found", 10, " found", r"no .{0,80} found"),
    _lit("failed to", 10),
    _lit("error:", 100),
    _lit("TypeError:", 100),
    _lit("unexpected keyword argument", 100),
    _lit("got an unexpected keyword argument", 100),
    _lit("failed:", 100),
    _lit("exception", 100),
    _lit("timeout", 80),
    _lit("rate limit", 80),
    _lit("unauthorized", 80),
    _lit("forbidden", 80),
    _lit("invalid", 60),
    _lit("missing", 60),
    _lit("null pointer", 60),
    _lit("undefined", 60),
    _lit("connection refused", 10),
    _lit("network error", 10),
    _lit("❌", 100),
    _lit("unknown tool", 100),
    Pattern("tool … not found", 100, "not found", r"tool .{0,80} not found"),
    _lit("unrecognized function", 100),
    Pattern("function … does not exist", 100, "does not exist", r"function .{0,80} does not exist"),
    Pattern(
        "could not find/locate/retrieve/connect",
        10,
        "could not ",
        r"could not (?:find|locate|retrieve|connect)",
    ),
    _lit("empty results", 10),
    _lit("no results", 10),
    _lit("service unavailable", 10),
    _lit("checksum mismatch", 10),
    _lit("may be corrupted", 10),
    _lit("may be outdated", 10),
    _lit("cached fallback", 10),
    _lit("stale cache", 10),
    Pattern("using … cache", 10, "cache", r"using.{0,80}cache"),
    Pattern("from … cache", 10, "cache", r"from.{0,80}cache"),
    _lit("degraded", 10),
    _lit("truncated", 10),
    _lit("data truncated", 10),
    Pattern("partial success", 10, "success", r"partial.success"),
    Pattern("quality … low/poor", 10, "quality", r"quality.*(?:low|poor)"),
    Pattern("confidence … low/below", 10, "confidence", r"confidence.*(?:low|below)"),
    _lit("cannot be verified", 10),
    _lit("unverified", 10),
    _lit("WARNING:", 10),
    _lit("INTERNAL NOTE:", 10),
    _lit("fallback", 10),
    Pattern("retry after", 10, "retry", r"retry.after"),
    Pattern("maximum … exceeded", 10, "exceeded", r"maximum.{0,80}exceeded"),
    Pattern("limit … exceeded", 10, "exceeded", r"limit.{0,80}exceeded"),
    _lit("malformed", 10),
    Pattern("primary … failed", 10, "primary", r"primary.{0,80}failed"),
    Pattern("connection … failed", 10, "connection", r"connection.{0,80}failed"),
    Pattern("must … never", 10, "never", r"must.{0,80}never|never.{0,80}must"),
    Pattern("always … don't", 10, "always", r"always.{0,80}don't|don't.{0,80}always"),
)


@dataclass(frozen=True, slots=True)
class Detection:
    pattern: str
    severity: int
    snippet: str


def _automaton() -> tuple[ahocorasick.Automaton, list[re.Pattern[str] | None]]:
    by_anchor: dict[str, list[int]] = {}
    for i, p in enumerate(PATTERNS):
        by_anchor.setdefault(p.anchor, []).append(i)
    automaton = ahocorasick.Automaton()
    for anchor, indexes in by_anchor.items():
        automaton.add_word(anchor, (len(anchor), tuple(indexes)))
    automaton.make_automaton()
    return automaton, [re.compile(p.regex) if p.regex else None for p in PATTERNS]


_AUTOMATON, _REGEXES = _automaton()
# Candidates are tried most severe first, then in list order.
_RANK = {i: (-p.severity, i) for i, p in enumerate(PATTERNS)}


def _snippet(text: str, start: int) -> str:
    a = max(0, start - SNIPPET_BEFORE)
    b = min(len(text), a + SNIPPET_CHARS)
    body = " ".join(text[a:b].split())
    return ("…" if a > 0 else "") + body + ("…" if b < len(text) else "")


def detect(text: str) -> Detection | None:
    """The most severe pattern in the first SCAN_CHARS characters of `text` (ties: the earlier
    pattern), with a snippet around its first match; None when no pattern matches."""
    head = text[:SCAN_CHARS]
    lowered = head.lower()
    if len(lowered) != len(head):  # a few characters lower-case to two: keep offsets aligned
        head = lowered
    first: dict[int, int] = {}  # pattern -> start of its anchor's first occurrence
    for end, (length, indexes) in _AUTOMATON.iter(lowered):
        for i in indexes:
            if i not in first:
                first[i] = end - length + 1
    for i in sorted(first, key=_RANK.__getitem__):
        regex = _REGEXES[i]
        if regex is None:
            start = first[i]
            return Detection(PATTERNS[i].name, PATTERNS[i].severity, _snippet(head, start))
        match = regex.search(lowered)
        if match is not None:
            return Detection(PATTERNS[i].name, PATTERNS[i].severity, _snippet(head, match.start()))
    return None


# The operation whose request carries the tool results handed back to the model (vLLora).
TOOL_RESULTS_OPERATION = "api_invoke"


class Scanned(Protocol):
    """The typed fields that say which texts of a span are scanned (a `Span` at ingest, a
    stored span's facts at query time)."""

    @property
    def is_llm_call(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def operation_name(self) -> str: ...
    @property
    def tool_name(self) -> str | None: ...


def texts_to_scan(span: Scanned) -> tuple[bool, bool]:
    """Whether the scan reads the span's output (LLM calls and tool spans) and the new tool
    results of its request (vLLora's `api_invoke`). Other spans carry no text it reads."""
    return bool(span.is_llm_call) or span.kind == KIND_TOOL, span.operation_name == TOOL_RESULTS_OPERATION


def scan(span: Scanned, attrs: dict[str, Any], output: bool, tool_results: bool) -> tuple[list[Finding], int]:
    """The patterns found in the span's output (when `output`) and in the tool results its
    request hands to the model for the first time (when `tool_results`), one finding per text at
    most; and how many texts were scanned."""
    found: list[Finding] = []
    texts = 0
    if output:
        text = output_text(attrs)
        if text is not None:
            texts += 1
            d = detect(text)
            if d is not None:
                tool = span.tool_name if span.kind == KIND_TOOL else None
                found.append(Finding("output", 0, tool, d.pattern, d.severity, d.snippet))
    if tool_results:
        for r in new_tool_results(attrs):
            texts += 1
            d = detect(r.text)
            if d is not None:
                found.append(Finding("tool_result", r.index, r.tool_name, d.pattern, d.severity, d.snippet))
    return found, texts

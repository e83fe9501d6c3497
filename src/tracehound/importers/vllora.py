"""Import a vLLora database (`tracehound import-vllora PATH`), so that a vLLora user keeps their
history.

vLLora keeps each span as a row of one SQLite table (reference §1.2): the trace id as a UUID,
span ids as decimal u64, times in µs, and the attributes as JSON text from which the
`vllora.run_id`, `vllora.thread_id` and `vllora.project_id` keys were moved into columns. Each
row is turned back into the span an OTLP export of it carried (those keys put back among the
attributes), and from there it takes OTLP ingest's own path: `conventions.normalize`, then the
store's writer, a batch per transaction. The writer skips spans it already holds, so importing a
file twice adds nothing, and an interrupted import is finished by running it again.

vLLora's file is not tracehound's store: it is opened read-only and read here with its own SQL.
"""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from tracehound.conventions import normalize
from tracehound.ids import decimal_span_hex, uuid_trace_hex
from tracehound.importers.vllora_schema import COLUMNS
from tracehound.model import RawSpan, Span
from tracehound.storage import StoreConfig, TraceStore, open_store
from tracehound.storage.errors import StoreError, StoreLocked

# Rows per transaction: large enough to amortise a commit, small enough for a lively progress bar.
BATCH_ROWS = 5_000

# A scan in table order: sequential reads of the file, and the order does not matter, because
# the writer accepts a trace's spans in any order and across batches.
_SELECT = f"SELECT {', '.join(COLUMNS)} FROM traces"

_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16

Progress = Callable[[int, int], None]


class ImportFailed(Exception):
    """The import cannot start or go on; the message is one line for the user."""


class RowError(ValueError):
    """A row that cannot become a span; the message is the reason, shared by all such rows."""


@dataclass(slots=True)
class ImportSummary:
    rows_read: int = 0
    imported: int = 0
    already_present: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    # After the import: runs per project the file's spans went to, and in the whole store.
    project_runs: dict[str, int] = field(default_factory=dict)
    store_runs: int = 0

    @property
    def rows_skipped(self) -> int:
        return sum(self.skipped.values())

    def skip_line(self) -> str | None:
        if not self.skipped:
            return None
        reasons = "; ".join(f"{reason} ({n:,})" for reason, n in self.skipped.most_common())
        return f"skipped {self.rows_skipped:,} rows: {reasons}"

    def line(self) -> str:
        projects = ", ".join(f"{p}: {n:,}" for p, n in sorted(self.project_runs.items()))
        return (
            f"{self.rows_read:,} rows read, {self.imported:,} spans imported, "
            f"{self.already_present:,} already present, {self.rows_skipped:,} rows skipped; "
            f"{self.store_runs:,} runs in the store" + (f" ({projects})" if projects else "")
        )


def import_vllora(
    path: Path,
    config: StoreConfig,
    *,
    project: str | None = None,
    batch_rows: int = BATCH_ROWS,
    on_progress: Progress | None = None,
) -> ImportSummary:
    """Import every row of vLLora's `traces` table at `path` into the store `config` opens.

    `project`, when given, puts every span in that project, as an `x-project-id` header would;
    otherwise a span keeps the project vLLora recorded (its slug), else `default`.
    `on_progress(rows_read, rows_total)` is called after each committed batch.
    Raises ImportFailed for a file that is not vLLora's, or a data directory in use.
    """
    source = open_source(path)
    try:
        total = _count(source, path)
        store = _open_store(config)
        try:
            summary = _copy(source, path, store, project, batch_rows, total, on_progress)
            runs = {p.id: p.run_count for p in store.list_projects()}
        finally:
            store.close()
    finally:
        source.close()
    summary.store_runs = sum(runs.values())
    summary.project_runs = {p: runs.get(p, 0) for p in summary.project_runs}
    return summary


def open_source(path: Path) -> sqlite3.Connection:
    """vLLora's database, read-only, once it is known to hold a `traces` table of vLLora's shape."""
    if not path.exists():
        raise ImportFailed(f"{path}: no such file")
    if not path.is_file():
        raise ImportFailed(f"{path} is not a file: give the vLLora database, usually ~/.vllora/vllora.db")
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise ImportFailed(f"cannot open {path}: {exc}") from None
    try:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(traces)")}
    except sqlite3.DatabaseError as exc:
        conn.close()
        if "not a database" in str(exc):
            raise ImportFailed(f"{path} is not a SQLite database") from None
        raise ImportFailed(f"cannot read {path}: {exc}") from None
    if not columns:
        conn.close()
        raise ImportFailed(f"{path} has no traces table: it is not a vLLora database")
    missing = [c for c in COLUMNS if c not in columns]
    if missing:
        conn.close()
        raise ImportFailed(
            f"{path}: the traces table lacks {', '.join(missing)}: it is not a vLLora database"
        )
    return conn


def _count(source: sqlite3.Connection, path: Path) -> int:
    try:
        (n,) = source.execute("SELECT COUNT(*) FROM traces").fetchone()
    except sqlite3.DatabaseError as exc:
        raise ImportFailed(f"cannot read {path}: {exc}") from None
    return int(n)


def _open_store(config: StoreConfig) -> TraceStore:
    try:
        return open_store(config)
    except StoreLocked as exc:
        raise ImportFailed(f"{exc}: stop it (a running `tracehound serve`?), then import again") from None
    except StoreError as exc:
        raise ImportFailed(str(exc)) from None
    except (OSError, sqlite3.Error) as exc:
        raise ImportFailed(f"cannot open the data directory {config.data_dir}: {exc}") from None


def _copy(
    source: sqlite3.Connection,
    path: Path,
    store: TraceStore,
    project: str | None,
    batch_rows: int,
    total: int,
    on_progress: Progress | None,
) -> ImportSummary:
    summary = ImportSummary()
    projects: set[str] = set()
    cursor = source.execute(_SELECT)
    while rows := _fetch(cursor, batch_rows, path, summary):
        spans = _spans(rows, project, summary)
        try:
            result = store.write(spans)
        except sqlite3.Error as exc:
            raise ImportFailed(
                f"writing to the store failed after {summary.rows_read:,} rows: {exc}"
            ) from None
        summary.rows_read += len(rows)
        summary.imported += result.inserted
        summary.already_present += result.duplicates
        projects.update(s.project_id for s in spans)
        if on_progress is not None:
            on_progress(summary.rows_read, max(total, summary.rows_read))
    summary.project_runs = dict.fromkeys(projects, 0)
    return summary


def _fetch(cursor: sqlite3.Cursor, batch_rows: int, path: Path, summary: ImportSummary) -> list[Any]:
    try:
        return cursor.fetchmany(batch_rows)
    except sqlite3.DatabaseError as exc:
        raise ImportFailed(
            f"reading {path} failed after {summary.rows_read:,} rows ({exc}); "
            "those are imported, and importing again skips them"
        ) from None


def _spans(rows: list[Any], project: str | None, summary: ImportSummary) -> list[Span]:
    now_us = int(time.time() * 1_000_000)
    spans: list[Span] = []
    for row in rows:
        try:
            raw = to_raw_span(row, project)
        except RowError as exc:
            summary.skipped[str(exc)] += 1
            continue
        # When vLLora received the span is not stored; it exported the span when the span ended.
        # Taking that as the arrival time keeps an old run without a root from looking like a
        # run still in flight (`running`) just because it was imported a moment ago.
        received_us = min(raw.finish_time_us, now_us)
        try:
            spans.append(normalize(raw, received_us))
        except Exception as exc:
            # Defensive: one span the mappers cannot read must not stop a long import.
            summary.skipped[f"convention mapping failed ({type(exc).__name__})"] += 1
    return spans


def to_raw_span(row: tuple[Any, ...], project: str | None) -> RawSpan:
    """One `traces` row (columns in COLUMNS order) as the span OTLP decoding would have made.
    Raises RowError for a row that cannot be one."""
    trace_id, span_id, thread_id, parent_id, name, start, finish, attribute, run_id, project_id = row
    trace_hex = uuid_trace_hex(trace_id) if isinstance(trace_id, str) else None
    if trace_hex is None or trace_hex == _ZERO_TRACE:
        raise RowError("trace_id is not a non-zero UUID")
    span_hex = _span_hex(span_id)
    if span_hex is None or span_hex == _ZERO_SPAN:
        raise RowError("span_id is not a non-zero decimal 64-bit id")
    parent_hex = None
    # vLLora stored an all-zero parent as "0" (§7.10): no parent, as OTLP means it.
    if parent_id is not None and parent_id != "0":
        parent_hex = _span_hex(parent_id)
        if parent_hex is None:
            raise RowError("parent_span_id is not a decimal 64-bit id")
    if not isinstance(name, str):
        raise RowError("operation_name is missing")
    if type(start) is not int or type(finish) is not int or start < 0:
        raise RowError("start_time_us or finish_time_us is not a time in µs")
    attributes = _attributes(attribute)
    # The attributes vLLora moved into columns (§1.6); it promoted only strings.
    for key, value in (
        ("vllora.run_id", run_id),
        ("vllora.thread_id", thread_id),
        ("vllora.project_id", project_id),
    ):
        if isinstance(value, str) and value:
            attributes[key] = value
    return RawSpan(
        trace_id=trace_hex,
        span_id=span_hex,
        parent_span_id=parent_hex,
        name=name,
        start_time_us=start,
        finish_time_us=finish if finish >= start else start,
        attributes=attributes,
        project_header=project,
    )


def _span_hex(value: Any) -> str | None:
    return decimal_span_hex(value) if isinstance(value, str) else None


def _attributes(text: Any) -> dict[str, Any]:
    if not isinstance(text, str | bytes):
        raise RowError("attribute is not JSON text")
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        # vLLora's own /runs fails on such a row (json_extract rejects malformed JSON), so there
        # is no reading of it to keep.
        raise RowError("attribute is not valid JSON") from None
    if not isinstance(value, dict):
        raise RowError("attribute is not a JSON object")
    return value

"""`tracehound check`: recompute every rollup from the spans and compare it with what is stored.

The rollups are rebuilt by replaying the stored spans, in arrival order, through the one writer
(`write_spans`) into a scratch database, so the check shares the ingest path's logic instead of
restating it in SQL. The two files are then compared table by table; `repair` replaces the stored
rollups with the rebuilt ones in one transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson

from tracehound.model import Span
from tracehound.storage.sqlite.schema import check_current, migrate
from tracehound.storage.sqlite.writer import write_spans
from tracehound.storage.types import MAX_LISTED, CheckReport, Progress, TableDiff

# Rollup tables and the columns that identify a row (`projects` last: see `repair`). `projects`
# is compared on its counters only: its creation time depends on how requests were batched.
ROLLUPS: dict[str, tuple[str, ...]] = {
    "runs": ("project_id", "run_id"),
    "threads": ("project_id", "thread_id"),
    "run_facets": ("project_id", "run_id", "facet", "value"),
    "thread_facets": ("project_id", "thread_id", "facet", "value"),
    "project_labels": ("project_id", "label"),
    "usage_hours": ("project_id", "hour_us", "model", "provider"),
    "llm_durations": ("project_id", "hour_us", "model", "provider", "duration_us", "trace_key", "span_key"),
    "projects": ("id",),
}
IGNORED = {"projects": {"created_at_us"}}

BATCH_SPANS = 5_000

# The typed columns under the names of Span's fields. `usage_counted` is the writer's to decide,
# and no rollup reads attributes, events or resources, so the replay leaves them out: the
# scratch file stays a fraction of the database's size.
SPAN_COLUMNS = """project_id, trace_id, span_id, parent_span_id, run_id, thread_id, operation_name,
    start_time_us, finish_time_us, kind, is_llm_call, status_code, status_message, is_error,
    error_message, model, request_model, provider, input_tokens, output_tokens, cached_tokens, cost,
    cost_source, label, tool_name, title, ttft_us, convention, COALESCE(scope_name, '') AS scope_name,
    received_us"""


# The spans in arrival order, with the columns above (any DB-API cursor).
SPANS_IN_ARRIVAL_ORDER = f"SELECT {SPAN_COLUMNS} FROM spans ORDER BY {{order}}"


def spans_of(cursor: Any) -> Iterator[list[Span]]:
    """Batches of Span from a cursor over SPANS_IN_ARRIVAL_ORDER (any backend's driver)."""
    names = [d[0] for d in cursor.description]
    while rows := cursor.fetchmany(BATCH_SPANS):
        batch = []
        for row in rows:
            values = dict(zip(names, row, strict=True))
            values["is_llm_call"] = bool(values["is_llm_call"])
            values["is_error"] = bool(values["is_error"])
            batch.append(Span(**values, attributes_json="{}"))
        yield batch


def replay(
    batches: Iterable[list[Span]], total: int, scratch: Path, progress: Progress | None = None
) -> None:
    """Write the spans through the one writer into a new SQLite database at `scratch`: the
    rollups every backend's writer should have made of them (they share storage/plan.py)."""
    target = sqlite3.connect(scratch, isolation_level=None)
    try:
        target.execute("PRAGMA journal_mode = OFF")
        target.execute("PRAGMA synchronous = OFF")
        migrate(target)
        done = 0
        for batch in batches:
            write_spans(target, batch)
            done += len(batch)
            if progress is not None:
                progress(done, total)
    finally:
        target.close()


def rebuild(source: sqlite3.Connection, scratch: Path, progress: Progress | None = None) -> int:
    """Replay `source`'s spans into a new database at `scratch`; returns the span count. Call
    inside a read transaction on `source`, so that the replay sees one snapshot."""
    (total,) = source.execute("SELECT COUNT(*) FROM spans").fetchone()
    cursor = source.execute(SPANS_IN_ARRIVAL_ORDER.format(order="rowid"))
    replay(spans_of(cursor), int(total), scratch, progress)
    return int(total)


def value_columns(table: str, names: Iterable[str]) -> list[str]:
    """The compared columns of a rollup table: all but its key and the ignored ones."""
    keys = ROLLUPS[table]
    return [n for n in names if n not in keys and n not in IGNORED.get(table, set())]


def keyed_rows(table: str, rows: Iterable[Sequence[object]]) -> dict[tuple[object, ...], tuple[object, ...]]:
    """Rows selected as key columns then value columns, by key, values made comparable."""
    n = len(ROLLUPS[table])
    return {tuple(row[:n]): tuple(_canonical(v) for v in row[n:]) for row in rows}


def _rows(conn: sqlite3.Connection, schema: str, table: str) -> dict[tuple[object, ...], tuple[object, ...]]:
    names = [r[1] for r in conn.execute(f"PRAGMA {schema}.table_info({table})")]
    columns = [*ROLLUPS[table], *value_columns(table, names)]
    return keyed_rows(table, conn.execute(f"SELECT {', '.join(columns)} FROM {schema}.{table}"))


def _canonical(value: object) -> object:
    """Display sets are JSON objects, compared as data rather than text; sums of floats are
    compared to 1e-9, since the order they were added in may differ."""
    if isinstance(value, str) and value.startswith("{"):
        try:
            return orjson.dumps(orjson.loads(value), option=orjson.OPT_SORT_KEYS)
        except orjson.JSONDecodeError:
            return value
    if isinstance(value, float):
        return round(value, 9)
    return value


# What retention made uncheckable (any backend; the table names are the same everywhere).
EXPIRED_RUNS = "SELECT project_id, run_id, finish_time_us FROM runs WHERE spans_expired_us IS NOT NULL"
RUN_THREADS = "SELECT project_id, run_id, value FROM run_facets WHERE facet = 'thread'"


class Expired:
    """What retention deleted spans from: the rollups it kept there can no longer be rebuilt
    from spans, so the check leaves them out (and counts them). `query` runs a statement on the
    stored database and returns its rows."""

    def __init__(self, query: Callable[[str], Iterable[Sequence[Any]]]) -> None:
        self.runs: set[tuple[object, ...]] = set()
        self.horizon: dict[object, int] = {}  # project -> latest finish of an expired run
        for project, run_id, finish in query(EXPIRED_RUNS):
            self.runs.add((project, run_id))
            self.horizon[project] = max(self.horizon.get(project, finish), finish)
        self.threads: set[tuple[object, ...]] = set()
        if self.runs:
            for project, run_id, thread_id in query(RUN_THREADS):
                if (project, run_id) in self.runs:
                    self.threads.add((project, thread_id))

    def covers(self, table: str, key: tuple[object, ...]) -> bool:
        if table in ("runs", "run_facets", "threads", "thread_facets"):
            return key[:2] in (self.runs if table.startswith("run") else self.threads)
        if table == "projects":
            return key[0] in self.horizon
        if table in ("usage_hours", "llm_durations"):
            horizon = self.horizon.get(key[0])
            return horizon is not None and int(key[1]) <= horizon  # type: ignore[call-overload]
        return False


def _compare_table(conn: sqlite3.Connection, table: str, expired: Expired) -> TableDiff:
    return compare_rows(table, _rows(conn, "main", table), _rows(conn, "rebuilt", table), expired)


Rows = dict[tuple[object, ...], tuple[object, ...]]


def wrong_keys(table: str, stored: Rows, rebuilt: Rows, expired: Expired) -> list[tuple[object, ...]]:
    """The keys whose stored row is missing, extra or different, retention's aside."""
    keys = (stored.keys() ^ rebuilt.keys()) | {
        k for k in stored.keys() & rebuilt.keys() if stored[k] != rebuilt[k]
    }
    return [k for k in keys if not expired.covers(table, k)]


def compare_rows(table: str, stored: Rows, rebuilt: Rows, expired: Expired) -> TableDiff:
    diff = TableDiff(table)
    for key in [k for k in stored.keys() | rebuilt.keys() if expired.covers(table, k)]:
        diff.skipped += 1
        stored.pop(key, None)
        rebuilt.pop(key, None)
    for key in sorted(rebuilt.keys() - stored.keys(), key=str):
        diff.missing += 1
        diff.note(f"missing {key}")
    for key in sorted(stored.keys() - rebuilt.keys(), key=str):
        diff.extra += 1
        diff.note(f"extra {key}")
    for key in sorted(stored.keys() & rebuilt.keys(), key=str):
        if stored[key] != rebuilt[key]:
            diff.different += 1
            diff.note(f"differs {key}: stored {stored[key]}, spans imply {rebuilt[key]}")
    return diff


_SAME_SPAN = """r.trace_key = m.trace_key AND r.project_id = m.project_id AND r.trace_id = m.trace_id
    AND r.span_id = m.span_id"""


def _compare_spans(conn: sqlite3.Connection) -> TableDiff:
    """The writer's per-span decision (whose cost counts), compared in SQL: a million span keys
    would not fit comfortably in two Python dicts."""
    diff = TableDiff("spans")
    (stored,) = conn.execute("SELECT COUNT(*) FROM main.spans").fetchone()
    (rebuilt,) = conn.execute("SELECT COUNT(*) FROM rebuilt.spans").fetchone()
    # Replay stores each (trace, span) once: more stored spans are duplicates the writer let in.
    diff.extra = max(0, stored - rebuilt)
    (diff.different,) = conn.execute(
        f"SELECT COUNT(*) FROM main.spans m JOIN rebuilt.spans r ON {_SAME_SPAN} "
        "WHERE r.usage_counted != m.usage_counted"
    ).fetchone()
    for project, trace, span, counted in conn.execute(
        f"SELECT m.project_id, m.trace_id, m.span_id, r.usage_counted FROM main.spans m "
        f"JOIN rebuilt.spans r ON {_SAME_SPAN} WHERE r.usage_counted != m.usage_counted LIMIT ?",
        (MAX_LISTED,),
    ):
        diff.note(f"differs {(project, trace, span)}: usage_counted should be {counted}")
    return diff


def compare(conn: sqlite3.Connection) -> list[TableDiff]:
    """Stored (`main`) against rebuilt (`rebuilt`, attached) rollups."""
    expired = Expired(lambda sql: conn.execute(sql.replace(" FROM ", " FROM main.")))
    return [*(_compare_table(conn, t, expired) for t in ROLLUPS), _compare_spans(conn)]


def _wrong_keys(conn: sqlite3.Connection, table: str, expired: Expired) -> list[tuple[object, ...]]:
    return wrong_keys(table, _rows(conn, "main", table), _rows(conn, "rebuilt", table), expired)


def repair(conn: sqlite3.Connection) -> None:
    """Replace each wrong stored rollup row with the rebuilt one (attached as `rebuilt`), in one
    transaction, leaving alone the rows retention made uncheckable. `projects` comes last in
    ROLLUPS: the triggers on runs and threads touch it."""
    expired = Expired(lambda sql: conn.execute(sql.replace(" FROM ", " FROM main.")))
    conn.execute("BEGIN IMMEDIATE")
    try:
        for table in ROLLUPS:
            match = " AND ".join(f"{column} = ?" for column in ROLLUPS[table])
            for key in _wrong_keys(conn, table, expired):
                conn.execute(f"DELETE FROM main.{table} WHERE {match}", key)
                conn.execute(f"INSERT INTO main.{table} SELECT * FROM rebuilt.{table} WHERE {match}", key)
        conn.execute(
            f"""UPDATE main.spans AS m SET usage_counted = r.usage_counted
                FROM rebuilt.spans AS r WHERE {_SAME_SPAN} AND r.usage_counted != m.usage_counted"""
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def check(path: Path, scratch: Path, *, fix: bool = False, progress: Progress | None = None) -> CheckReport:
    """Compare the rollups of the database at `path` with the spans; with `fix`, repair them.
    Without `fix` the file is only read (beside a running server: one snapshot); with it the
    caller must hold the store's write lock."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        if not fix:
            conn.execute("PRAGMA query_only = ON")
        check_current(conn)
        conn.execute("BEGIN")
        spans = rebuild(conn, scratch, progress)
        conn.execute("COMMIT")
        conn.execute("ATTACH DATABASE ? AS rebuilt", (str(scratch),))
        report = CheckReport(spans=spans, tables=compare(conn))
        if fix and not report.ok:
            repair(conn)
        return report
    finally:
        conn.close()

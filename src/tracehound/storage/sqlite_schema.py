"""SQLite schema and its versioned migrations.

Each migration is a list of statements applied in one transaction; `PRAGMA user_version` records
how far a file has come, so a newer tracehound opens and upgrades an older file in place.
"""

from __future__ import annotations

import sqlite3

# Rollup columns shared by `runs` and `threads`; the writer builds its upserts from this list.
ROLLUP_COLUMNS = """
    start_time_us INTEGER NOT NULL,
    finish_time_us INTEGER NOT NULL,
    duration_us INTEGER NOT NULL,
    root_start_us INTEGER,
    root_finish_us INTEGER,
    span_count INTEGER NOT NULL DEFAULT 0,
    root_count INTEGER NOT NULL DEFAULT 0,
    error_count INTEGER NOT NULL DEFAULT 0,
    llm_calls INTEGER NOT NULL DEFAULT 0,
    tool_calls INTEGER NOT NULL DEFAULT 0,
    mcp_calls INTEGER NOT NULL DEFAULT 0,
    cost REAL NOT NULL DEFAULT 0,
    input_tokens INTEGER,
    output_tokens INTEGER,
    cached_tokens INTEGER,
    last_seen_us INTEGER NOT NULL,
    sets TEXT NOT NULL DEFAULT '{}'
"""

MIGRATIONS: list[list[str]] = [
    # 1: spans with typed columns, per-run and per-thread rollups, their facets.
    [
        """CREATE TABLE projects (
            id TEXT PRIMARY KEY,
            created_at_us INTEGER NOT NULL,
            run_count INTEGER NOT NULL DEFAULT 0,
            error_run_count INTEGER NOT NULL DEFAULT 0,
            thread_count INTEGER NOT NULL DEFAULT 0,
            span_count INTEGER NOT NULL DEFAULT 0
        )""",
        # No UNIQUE index on (trace_id, span_id): random-order indexes are what make inserts
        # slow, so the single writer de-duplicates per trace instead (sqlite_writer.py) and the
        # random-key indexes are small integers.
        """CREATE TABLE spans (
            project_id TEXT NOT NULL,
            trace_key INTEGER NOT NULL,
            span_key INTEGER NOT NULL,
            thread_key INTEGER,
            trace_id TEXT NOT NULL,
            span_id TEXT NOT NULL,
            parent_span_id TEXT,
            run_id TEXT NOT NULL,
            thread_id TEXT,
            operation_name TEXT NOT NULL,
            kind TEXT NOT NULL,
            is_llm_call INTEGER NOT NULL,
            start_time_us INTEGER NOT NULL,
            finish_time_us INTEGER NOT NULL,
            status_code INTEGER NOT NULL,
            status_message TEXT,
            is_error INTEGER NOT NULL,
            error_message TEXT,
            model TEXT,
            request_model TEXT,
            provider TEXT,
            input_tokens INTEGER,
            output_tokens INTEGER,
            cached_tokens INTEGER,
            cost REAL,
            cost_source TEXT,
            has_usage INTEGER NOT NULL,
            usage_counted INTEGER NOT NULL,
            label TEXT,
            tool_name TEXT,
            title TEXT,
            ttft_us INTEGER,
            convention TEXT,
            attributes TEXT NOT NULL,
            events TEXT,
            resource_id INTEGER,
            scope_name TEXT,
            received_us INTEGER NOT NULL
        )""",
        # Resource attributes repeat on every span of a process: store each distinct set once.
        "CREATE TABLE resources (id INTEGER PRIMARY KEY, attributes TEXT NOT NULL)",
        "CREATE INDEX spans_trace ON spans(trace_key)",
        "CREATE INDEX spans_span ON spans(span_key)",
        "CREATE INDEX spans_thread ON spans(thread_key) WHERE thread_key IS NOT NULL",
        "CREATE INDEX spans_start ON spans(project_id, start_time_us)",
        "CREATE INDEX spans_op ON spans(project_id, operation_name, start_time_us)",
        "CREATE INDEX spans_label ON spans(project_id, label) WHERE label IS NOT NULL",
        # LLM calls by time: per-model latency and error figures read only these.
        "CREATE INDEX spans_llm ON spans(project_id, start_time_us) WHERE is_llm_call = 1",
        # The spans whose cost and tokens count (one per billed call), by time: cost by model.
        "CREATE INDEX spans_counted ON spans(project_id, start_time_us) WHERE usage_counted = 1",
        f"""CREATE TABLE runs (
            project_id TEXT NOT NULL,
            run_id TEXT NOT NULL,
            {ROLLUP_COLUMNS},
            PRIMARY KEY (project_id, run_id)
        )""",
        # Each sort order ends in run_id, the tie-breaker, so that a page is read straight off
        # the index with no sort step.
        # runs_start also covers the columns the time series sum, so a week of buckets reads
        # the index alone, never the rows.
        """CREATE INDEX runs_start ON runs(project_id, start_time_us, run_id, duration_us, cost,
            llm_calls, input_tokens, output_tokens, error_count, root_count, last_seen_us)""",
        "CREATE INDEX runs_duration ON runs(project_id, duration_us, run_id)",
        "CREATE INDEX runs_cost ON runs(project_id, cost, run_id)",
        "CREATE INDEX runs_llm_calls ON runs(project_id, llm_calls, run_id)",
        # Status is derived at query time from (error_count, root_count, last_seen_us). Failed
        # runs are listed off a partial index of runs with errors; running runs are the few
        # rootless runs seen within the idle timeout, found by last_seen_us.
        "CREATE INDEX runs_with_errors ON runs(project_id, start_time_us, run_id) WHERE error_count > 0",
        "CREATE INDEX runs_rootless ON runs(project_id, last_seen_us) WHERE root_count = 0",
        f"""CREATE TABLE threads (
            project_id TEXT NOT NULL,
            thread_id TEXT NOT NULL,
            title TEXT,
            {ROLLUP_COLUMNS},
            PRIMARY KEY (project_id, thread_id)
        )""",
        "CREATE INDEX threads_start ON threads(project_id, start_time_us)",
        # Set-valued rollup fields (models, tools, labels, errors, ...), one row per distinct value.
        """CREATE TABLE run_facets (
            project_id TEXT NOT NULL,
            run_id TEXT NOT NULL,
            facet TEXT NOT NULL,
            value TEXT NOT NULL,
            n INTEGER NOT NULL,
            PRIMARY KEY (project_id, run_id, facet, value)
        ) WITHOUT ROWID""",
        "CREATE INDEX run_facets_value ON run_facets(project_id, facet, value)",
        """CREATE TABLE thread_facets (
            project_id TEXT NOT NULL,
            thread_id TEXT NOT NULL,
            facet TEXT NOT NULL,
            value TEXT NOT NULL,
            n INTEGER NOT NULL,
            PRIMARY KEY (project_id, thread_id, facet, value)
        ) WITHOUT ROWID""",
        "CREATE INDEX thread_facets_value ON thread_facets(project_id, facet, value)",
        """CREATE TABLE project_labels (
            project_id TEXT NOT NULL,
            label TEXT NOT NULL,
            n INTEGER NOT NULL,
            PRIMARY KEY (project_id, label)
        ) WITHOUT ROWID""",
        """CREATE TRIGGER runs_count AFTER INSERT ON runs BEGIN
            UPDATE projects SET run_count = run_count + 1 WHERE id = NEW.project_id;
        END""",
        # Runs with at least one error, so that counting failed runs needs no scan.
        """CREATE TRIGGER runs_errors_new AFTER INSERT ON runs WHEN NEW.error_count > 0 BEGIN
            UPDATE projects SET error_run_count = error_run_count + 1 WHERE id = NEW.project_id;
        END""",
        """CREATE TRIGGER runs_errors_first AFTER UPDATE OF error_count ON runs
            WHEN OLD.error_count = 0 AND NEW.error_count > 0 BEGIN
            UPDATE projects SET error_run_count = error_run_count + 1 WHERE id = NEW.project_id;
        END""",
        """CREATE TRIGGER threads_count AFTER INSERT ON threads BEGIN
            UPDATE projects SET thread_count = thread_count + 1 WHERE id = NEW.project_id;
        END""",
    ],
    # Semantic findings made at ingest, so a span summary reads no attribute JSON. texts_scanned
    # stays NULL on spans stored before this migration: the summary scans those at query time.
    [
        "ALTER TABLE spans ADD COLUMN texts_scanned INTEGER",
        """CREATE TABLE span_findings (
            project_id TEXT NOT NULL,
            trace_key INTEGER NOT NULL,
            span_key INTEGER NOT NULL,
            trace_id TEXT NOT NULL,
            span_id TEXT NOT NULL,
            source TEXT NOT NULL,
            idx INTEGER NOT NULL,
            tool_name TEXT,
            pattern TEXT NOT NULL,
            severity INTEGER NOT NULL,
            snippet TEXT NOT NULL
        )""",
        "CREATE INDEX span_findings_span ON span_findings(span_key)",
    ],
]

SCHEMA_VERSION = len(MIGRATIONS)


class SchemaTooNew(RuntimeError):
    pass


class SchemaOutdated(RuntimeError):
    pass


def _version(conn: sqlite3.Connection) -> int:
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    if version > SCHEMA_VERSION:
        raise SchemaTooNew(
            f"database schema version {version} is newer than this tracehound supports "
            f"({SCHEMA_VERSION}); upgrade tracehound"
        )
    return int(version)


def check_current(conn: sqlite3.Connection) -> None:
    """A reader cannot migrate (it holds no write lock), so it refuses any file that is not at
    SCHEMA_VERSION rather than query columns that may not exist."""
    version = _version(conn)
    if version < SCHEMA_VERSION:
        raise SchemaOutdated(
            f"database schema version {version} is older than this tracehound's ({SCHEMA_VERSION}); "
            "start `tracehound serve` on it once to upgrade it"
        )


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the file up to SCHEMA_VERSION; returns the version it started at."""
    version = _version(conn)
    for number in range(version, SCHEMA_VERSION):
        with conn:
            conn.execute("BEGIN IMMEDIATE")
            for statement in MIGRATIONS[number]:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number + 1}")
    return version

"""SQLite schema and its versioned migrations.

Each migration is a list of statements applied in one transaction; `PRAGMA user_version` records
how far a file has come, so a newer tracehound opens and upgrades an older file in place.
"""

from __future__ import annotations

import sqlite3

from tracehound.storage.errors import SchemaOutdated, SchemaTooNew
from tracehound.storage.hourly import HOUR_SQL

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
    # 2: per-hour usage by model and a narrow store of LLM-call durations, kept at ingest, so
    # that /stats reads a day of calls as a few ranges instead of looking up each span; both are
    # backfilled from the stored spans, so an upgraded file answers as a fresh one does.
    [
        # One row per LLM call, clustered by hour and then by duration: a window's exact
        # latencies per model are one contiguous range, already sorted within each hour. A
        # missing model or provider is '' (conventions never give an empty name), because a
        # primary key column cannot be NULL.
        """CREATE TABLE llm_durations (
            project_id TEXT NOT NULL,
            hour_us INTEGER NOT NULL,
            model TEXT NOT NULL,
            provider TEXT NOT NULL,
            duration_us INTEGER NOT NULL,
            trace_key INTEGER NOT NULL,
            span_key INTEGER NOT NULL,
            start_time_us INTEGER NOT NULL,
            is_error INTEGER NOT NULL,
            PRIMARY KEY (project_id, hour_us, model, provider, duration_us, trace_key, span_key)
        ) WITHOUT ROWID""",
        f"""INSERT INTO llm_durations SELECT project_id, {HOUR_SQL}, COALESCE(model, ''),
            COALESCE(provider, ''), finish_time_us - start_time_us, trace_key, span_key,
            start_time_us, is_error
        FROM spans WHERE is_llm_call = 1""",
        # Sums of the spans whose usage counts (one per billed call), by the hour they started.
        """CREATE TABLE usage_hours (
            project_id TEXT NOT NULL,
            hour_us INTEGER NOT NULL,
            model TEXT NOT NULL,
            provider TEXT NOT NULL,
            spans INTEGER NOT NULL,
            cost REAL NOT NULL,
            input_tokens INTEGER NOT NULL,
            output_tokens INTEGER NOT NULL,
            cached_tokens INTEGER NOT NULL,
            unpriced INTEGER NOT NULL,
            PRIMARY KEY (project_id, hour_us, model, provider)
        ) WITHOUT ROWID""",
        f"""INSERT INTO usage_hours SELECT project_id, {HOUR_SQL}, COALESCE(model, ''),
            COALESCE(provider, ''), COUNT(*), TOTAL(cost), COALESCE(SUM(input_tokens), 0),
            COALESCE(SUM(output_tokens), 0), COALESCE(SUM(cached_tokens), 0),
            SUM(cost_source IS 'unpriced')
        FROM spans WHERE usage_counted = 1 GROUP BY 1, 2, 3, 4""",
        # The counted spans of the partial hours at a window's edges are read off this index
        # alone, without a table lookup per span.
        "DROP INDEX spans_counted",
        """CREATE INDEX spans_counted ON spans(project_id, start_time_us, model, provider, cost,
            input_tokens, output_tokens, cached_tokens, cost_source) WHERE usage_counted = 1""",
        # runs_start also covers cached_tokens, so /stats' run figures read the index alone.
        "DROP INDEX runs_start",
        """CREATE INDEX runs_start ON runs(project_id, start_time_us, run_id, duration_us, cost,
            llm_calls, input_tokens, output_tokens, cached_tokens, error_count, root_count,
            last_seen_us)""",
        # A file closed cleanly has planner statistics (PRAGMA optimize); an index rebuilt
        # without them looks more selective than it is, and the planner would take runs_start
        # for a run looked up by id. (Nothing is written for an empty table.)
        "ANALYZE spans_counted",
        "ANALYZE runs_start",
    ],
    # 3: retention. A project's own maximum age of raw spans (else the server's default), and
    # the runs whose spans it has deleted: their rollups stay, so stats and charts keep them.
    [
        """CREATE TABLE project_settings (
            project_id TEXT PRIMARY KEY,
            retention_days INTEGER CHECK (retention_days IS NULL OR retention_days > 0)
        )""",
        "ALTER TABLE runs ADD COLUMN spans_expired_us INTEGER",
    ],
    # 4: API keys. Only a SHA-256 of each key is kept; `api_key_state.version` moves
    # on every change of a key's validity, so a server notices a new or revoked key at once.
    [
        """CREATE TABLE api_keys (
            id TEXT PRIMARY KEY,
            name TEXT,
            key_hash TEXT NOT NULL,
            all_projects INTEGER NOT NULL DEFAULT 0,
            created_at_us INTEGER NOT NULL,
            last_used_at_us INTEGER,
            revoked_at_us INTEGER
        )""",
        """CREATE TABLE api_key_projects (
            key_id TEXT NOT NULL,
            project_id TEXT NOT NULL,
            PRIMARY KEY (key_id, project_id)
        ) WITHOUT ROWID""",
        "CREATE TABLE api_key_state (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL)",
        "INSERT INTO api_key_state (id, version) VALUES (1, 0)",
    ],
    # 5: semantic findings made at ingest, so a span summary reads no attribute JSON. texts_scanned
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

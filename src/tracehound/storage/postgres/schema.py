"""PostgreSQL schema and its versioned migrations.

The tables mirror SQLite's (storage/sqlite schema, all its migrations folded into version 1) with
the same table and column names, so that a query ports by changing its placeholders and a few
functions. Types: BIGINT for µs instants and counts, DOUBLE PRECISION for money, SMALLINT 0/1 for
flags (so `SUM(is_error)` and `is_llm_call = 1` read as in SQLite), TEXT COLLATE "C" for text
(ordering by code point, as SQLite's BINARY collation does, whatever the database's locale), and
attributes as JSON text that hot paths never parse.

What differs from SQLite, and why:
- `spans` has a UNIQUE key (project_id, trace_key, trace_id, span_id). Several processes write
  one database, so the database itself refuses a span stored twice; the same index serves the
  writer's per-trace skeleton read, which is why it leads with the trace key. `id` (an identity)
  stands for SQLite's rowid: a stable handle on a row (SpanFacts.ref) in insertion order.
- Counters in `projects` are kept by the writer (one UPDATE per project, last in the transaction)
  instead of triggers: a trigger would take the project's row lock at the first run insert and
  hold it through the rest of the transaction, serialising every writer of the project.
- `hour_versions` holds /stats' per-hour stamps (SQLite keeps them in process memory): every
  ingest transaction bumps the hours it touched, so any process reading the stamps in its own
  snapshot sees what the others wrote.
- Covering indexes use INCLUDE.

Time ranges at scale: B-tree indexes on (project_id, start_time_us, ...), as in SQLite, and no
partitioning. Every time-range read is per project, which a BRIN index cannot lead with, and spans
arrive out of time order (late parents, retries, imports), which is what BRIN's block ranges rely
on. Partitioning spans by time would make every partition's unique key carry start_time_us and,
worse, make the writer's skeleton read (by trace, with no time) probe every partition once per
trace; retention is per project and per run (a run's spans go together), which dropping a time
partition cannot express. docs/architecture.md ("PostgreSQL storage") gives the numbers and what
would change that decision.

Migrations: `schema_version` holds the version. Each migration runs in one transaction, under a
transaction-level advisory lock, re-reading the version under that lock, so two processes
starting at once migrate once: the second waits, then finds the work done.
"""

from __future__ import annotations

import psycopg

from tracehound.storage.errors import SchemaOutdated, SchemaTooNew

T = 'TEXT COLLATE "C"'

# The advisory lock every migration takes: the two-int form, so that it cannot meet the
# writer's per-trace locks (single bigint keys live in another lock space).
MIGRATION_LOCK = (0x74726163, 1)

ROLLUP_COLUMNS = f"""
    start_time_us BIGINT NOT NULL,
    finish_time_us BIGINT NOT NULL,
    duration_us BIGINT NOT NULL,
    root_start_us BIGINT,
    root_finish_us BIGINT,
    span_count BIGINT NOT NULL DEFAULT 0,
    root_count BIGINT NOT NULL DEFAULT 0,
    error_count BIGINT NOT NULL DEFAULT 0,
    llm_calls BIGINT NOT NULL DEFAULT 0,
    tool_calls BIGINT NOT NULL DEFAULT 0,
    mcp_calls BIGINT NOT NULL DEFAULT 0,
    cost DOUBLE PRECISION NOT NULL DEFAULT 0,
    input_tokens BIGINT,
    output_tokens BIGINT,
    cached_tokens BIGINT,
    last_seen_us BIGINT NOT NULL,
    sets {T} NOT NULL DEFAULT '{{}}'
"""

MIGRATIONS: list[list[str]] = [
    # 1: everything SQLite's migrations 1-5 hold, plus the per-hour stamps.
    [
        f"""CREATE TABLE projects (
            id {T} PRIMARY KEY,
            created_at_us BIGINT NOT NULL,
            run_count BIGINT NOT NULL DEFAULT 0,
            error_run_count BIGINT NOT NULL DEFAULT 0,
            thread_count BIGINT NOT NULL DEFAULT 0,
            span_count BIGINT NOT NULL DEFAULT 0
        )""",
        f"""CREATE TABLE spans (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            project_id {T} NOT NULL,
            trace_key BIGINT NOT NULL,
            span_key BIGINT NOT NULL,
            thread_key BIGINT,
            trace_id {T} NOT NULL,
            span_id {T} NOT NULL,
            parent_span_id {T},
            run_id {T} NOT NULL,
            thread_id {T},
            operation_name {T} NOT NULL,
            kind {T} NOT NULL,
            is_llm_call SMALLINT NOT NULL,
            start_time_us BIGINT NOT NULL,
            finish_time_us BIGINT NOT NULL,
            status_code INTEGER NOT NULL,
            status_message {T},
            is_error SMALLINT NOT NULL,
            error_message {T},
            model {T},
            request_model {T},
            provider {T},
            input_tokens BIGINT,
            output_tokens BIGINT,
            cached_tokens BIGINT,
            cost DOUBLE PRECISION,
            cost_source {T},
            has_usage SMALLINT NOT NULL,
            usage_counted SMALLINT NOT NULL,
            label {T},
            tool_name {T},
            title {T},
            ttft_us BIGINT,
            convention {T},
            attributes {T} NOT NULL,
            events {T},
            resource_id BIGINT,
            scope_name {T},
            received_us BIGINT NOT NULL,
            texts_scanned INTEGER
        )""",
        "CREATE UNIQUE INDEX spans_trace ON spans(project_id, trace_key, trace_id, span_id)",
        f"CREATE TABLE resources (id BIGINT PRIMARY KEY, attributes {T} NOT NULL)",
        "CREATE INDEX spans_span ON spans(span_key)",
        "CREATE INDEX spans_thread ON spans(thread_key) WHERE thread_key IS NOT NULL",
        "CREATE INDEX spans_start ON spans(project_id, start_time_us)",
        "CREATE INDEX spans_op ON spans(project_id, operation_name, start_time_us)",
        "CREATE INDEX spans_label ON spans(project_id, label) WHERE label IS NOT NULL",
        # Covering: series and filtered /stats read LLM calls by time, index-only after VACUUM.
        """CREATE INDEX spans_llm ON spans(project_id, start_time_us) INCLUDE (model, provider, is_error,
            finish_time_us) WHERE is_llm_call = 1""",
        """CREATE INDEX spans_counted ON spans(project_id, start_time_us) INCLUDE (model, provider,
            cost, input_tokens, output_tokens, cached_tokens, cost_source) WHERE usage_counted = 1""",
        f"""CREATE TABLE runs (
            project_id {T} NOT NULL,
            run_id {T} NOT NULL,
            {ROLLUP_COLUMNS},
            spans_expired_us BIGINT,
            PRIMARY KEY (project_id, run_id)
        )""",
        """CREATE INDEX runs_start ON runs(project_id, start_time_us, run_id) INCLUDE (duration_us,
            cost, llm_calls, input_tokens, output_tokens, cached_tokens, error_count, root_count,
            last_seen_us)""",
        "CREATE INDEX runs_duration ON runs(project_id, duration_us, run_id)",
        "CREATE INDEX runs_cost ON runs(project_id, cost, run_id)",
        "CREATE INDEX runs_llm_calls ON runs(project_id, llm_calls, run_id)",
        "CREATE INDEX runs_with_errors ON runs(project_id, start_time_us, run_id) WHERE error_count > 0",
        "CREATE INDEX runs_rootless ON runs(project_id, last_seen_us) WHERE root_count = 0",
        f"""CREATE TABLE threads (
            project_id {T} NOT NULL,
            thread_id {T} NOT NULL,
            title {T},
            {ROLLUP_COLUMNS},
            PRIMARY KEY (project_id, thread_id)
        )""",
        "CREATE INDEX threads_start ON threads(project_id, start_time_us)",
        f"""CREATE TABLE run_facets (
            project_id {T} NOT NULL,
            run_id {T} NOT NULL,
            facet {T} NOT NULL,
            value {T} NOT NULL,
            n BIGINT NOT NULL,
            PRIMARY KEY (project_id, run_id, facet, value)
        )""",
        "CREATE INDEX run_facets_value ON run_facets(project_id, facet, value)",
        f"""CREATE TABLE thread_facets (
            project_id {T} NOT NULL,
            thread_id {T} NOT NULL,
            facet {T} NOT NULL,
            value {T} NOT NULL,
            n BIGINT NOT NULL,
            PRIMARY KEY (project_id, thread_id, facet, value)
        )""",
        "CREATE INDEX thread_facets_value ON thread_facets(project_id, facet, value)",
        f"""CREATE TABLE project_labels (
            project_id {T} NOT NULL,
            label {T} NOT NULL,
            n BIGINT NOT NULL,
            PRIMARY KEY (project_id, label)
        )""",
        f"""CREATE TABLE llm_durations (
            project_id {T} NOT NULL,
            hour_us BIGINT NOT NULL,
            model {T} NOT NULL,
            provider {T} NOT NULL,
            duration_us BIGINT NOT NULL,
            trace_key BIGINT NOT NULL,
            span_key BIGINT NOT NULL,
            start_time_us BIGINT NOT NULL,
            is_error SMALLINT NOT NULL,
            PRIMARY KEY (project_id, hour_us, model, provider, duration_us, trace_key, span_key)
        )""",
        f"""CREATE TABLE usage_hours (
            project_id {T} NOT NULL,
            hour_us BIGINT NOT NULL,
            model {T} NOT NULL,
            provider {T} NOT NULL,
            spans BIGINT NOT NULL,
            cost DOUBLE PRECISION NOT NULL,
            input_tokens BIGINT NOT NULL,
            output_tokens BIGINT NOT NULL,
            cached_tokens BIGINT NOT NULL,
            unpriced BIGINT NOT NULL,
            PRIMARY KEY (project_id, hour_us, model, provider)
        )""",
        f"""CREATE TABLE hour_versions (
            project_id {T} NOT NULL,
            hour_us BIGINT NOT NULL,
            version BIGINT NOT NULL,
            PRIMARY KEY (project_id, hour_us)
        )""",
        f"""CREATE TABLE project_settings (
            project_id {T} PRIMARY KEY,
            retention_days INTEGER CHECK (retention_days IS NULL OR retention_days > 0)
        )""",
        f"""CREATE TABLE api_keys (
            id {T} PRIMARY KEY,
            name {T},
            key_hash {T} NOT NULL,
            all_projects SMALLINT NOT NULL DEFAULT 0,
            created_at_us BIGINT NOT NULL,
            last_used_at_us BIGINT,
            revoked_at_us BIGINT
        )""",
        f"""CREATE TABLE api_key_projects (
            key_id {T} NOT NULL,
            project_id {T} NOT NULL,
            PRIMARY KEY (key_id, project_id)
        )""",
        "CREATE TABLE api_key_state (id INTEGER PRIMARY KEY CHECK (id = 1), version BIGINT NOT NULL)",
        "INSERT INTO api_key_state (id, version) VALUES (1, 0)",
        f"""CREATE TABLE span_findings (
            project_id {T} NOT NULL,
            trace_key BIGINT NOT NULL,
            span_key BIGINT NOT NULL,
            trace_id {T} NOT NULL,
            span_id {T} NOT NULL,
            source {T} NOT NULL,
            idx INTEGER NOT NULL,
            tool_name {T},
            pattern {T} NOT NULL,
            severity INTEGER NOT NULL,
            snippet {T} NOT NULL
        )""",
        "CREATE INDEX span_findings_span ON span_findings(span_key)",
    ],
]

SCHEMA_VERSION = len(MIGRATIONS)

_VERSION_TABLE = """CREATE TABLE IF NOT EXISTS schema_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
)"""


def _too_new(version: int) -> SchemaTooNew:
    return SchemaTooNew(
        f"database schema version {version} is newer than this tracehound supports "
        f"({SCHEMA_VERSION}); upgrade tracehound"
    )


def read_version(conn: psycopg.Connection[tuple[object, ...]]) -> int:
    """The database's schema version; 0 for a database tracehound has never written."""
    (exists,) = conn.execute("SELECT to_regclass('schema_version') IS NOT NULL").fetchone() or (False,)
    if not exists:
        return 0
    row = conn.execute("SELECT version FROM schema_version WHERE id = 1").fetchone()
    return 0 if row is None else int(str(row[0]))


def check_current(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    """A read-only store does not migrate: it refuses a database not at SCHEMA_VERSION."""
    version = read_version(conn)
    if version > SCHEMA_VERSION:
        raise _too_new(version)
    if version < SCHEMA_VERSION:
        raise SchemaOutdated(
            f"database schema version {version} is older than this tracehound's ({SCHEMA_VERSION}); "
            "start `tracehound serve` on it once to upgrade it"
        )


def migrate(conn: psycopg.Connection[tuple[object, ...]]) -> int:
    """Bring the database up to SCHEMA_VERSION, one transaction per migration; returns the
    version it started at. `conn` is in autocommit mode."""
    start: int | None = None
    while True:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", MIGRATION_LOCK)
            conn.execute(_VERSION_TABLE)
            conn.execute("INSERT INTO schema_version (id, version) VALUES (1, 0) ON CONFLICT (id) DO NOTHING")
            version = read_version(conn)
            if start is None:
                start = version
            if version > SCHEMA_VERSION:
                raise _too_new(version)
            if version == SCHEMA_VERSION:
                return start
            for statement in MIGRATIONS[version]:
                conn.execute(statement.encode())
            conn.execute("UPDATE schema_version SET version = %s WHERE id = 1", (version + 1,))

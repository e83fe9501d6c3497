"""`tracehound check` on PostgreSQL: the stored rollups against what the spans imply.

The spans are read in one REPEATABLE READ snapshot, in arrival order (`spans.id`), and replayed
through the shared plan step into a scratch SQLite database (storage/sqlite/check.py `replay`):
both writers fold spans through storage/plan.py, so the scratch file holds exactly the rollups a
correct PostgreSQL writer would have made, and the check restates none of the ingest logic. The
rollup tables have the same names and columns on both backends, so they are compared row by row
with the SQLite check's own comparison.

Beside serving processes, the check only reads (one snapshot: writes committed after it are not
seen, and cannot make it report a difference). `repair` must replace rows that the writers also
change, so it first locks every rollup table and `spans` in SHARE ROW EXCLUSIVE mode, which
conflicts with the writers' ROW EXCLUSIVE: ingest waits (and its exporters keep their spans
unacknowledged) until the repair commits, and the snapshot the repair rebuilds from is taken
after the lock, so no write can fall between what was compared and what is replaced. Every hour
of a repaired project is stamped in `hour_versions`, so the processes' /stats caches re-read them.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from tracehound.storage.hourly import HOUR_US
from tracehound.storage.postgres.connect import Conn, startup
from tracehound.storage.postgres.schema import check_current
from tracehound.storage.sqlite.check import (
    ROLLUPS,
    SPANS_IN_ARRIVAL_ORDER,
    Expired,
    Rows,
    compare_rows,
    keyed_rows,
    replay,
    spans_of,
    value_columns,
    wrong_keys,
)
from tracehound.storage.types import MAX_LISTED, CheckReport, Progress, TableDiff

_SPAN_KEY = ("project_id", "trace_id", "span_id")


def _columns(conn: Conn, table: str) -> list[str]:
    rows = conn.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = %s ORDER BY ordinal_position",
        (table,),
    )
    return [name for (name,) in rows]


def _tables(conn: Conn, scratch: sqlite3.Connection) -> dict[str, tuple[list[str], Rows, Rows]]:
    """Per rollup table: its compared columns, the stored rows and the rebuilt ones."""
    out = {}
    for table in ROLLUPS:
        columns = [*ROLLUPS[table], *value_columns(table, _columns(conn, table))]
        select = f"SELECT {', '.join(columns)} FROM {table}"
        out[table] = (
            columns,
            keyed_rows(table, conn.execute(select)),
            keyed_rows(table, scratch.execute(select)),
        )
    return out


def _counted(rows: Iterable[Sequence[Any]]) -> set[tuple[object, ...]]:
    return {tuple(r) for r in rows}


def _spans_diff(conn: Conn, scratch: sqlite3.Connection) -> tuple[TableDiff, list[tuple[object, ...]]]:
    """Whose usage counts, span by span; also the spans whose flag must flip."""
    diff = TableDiff("spans")
    (stored,) = conn.execute("SELECT COUNT(*) FROM spans").fetchone() or (0,)
    (rebuilt,) = scratch.execute("SELECT COUNT(*) FROM spans").fetchone()
    diff.extra = max(0, int(stored) - int(rebuilt))
    select = f"SELECT {', '.join(_SPAN_KEY)} FROM spans WHERE usage_counted = 1"
    here, there = _counted(conn.execute(select)), _counted(scratch.execute(select))
    flips = sorted(here ^ there, key=str)
    diff.different = len(flips)
    for key in flips[:MAX_LISTED]:
        diff.note(f"differs {key}: usage_counted should be {int(key in there)}")
    return diff, flips


def _repair(
    conn: Conn,
    tables: dict[str, tuple[list[str], Rows, Rows]],
    scratch: sqlite3.Connection,
    flips: list[tuple[object, ...]],
    expired: Expired,
) -> None:
    projects: set[object] = set()
    cur = conn.cursor()
    for table, (columns, stored, rebuilt) in tables.items():
        keys = ROLLUPS[table]
        match = " AND ".join(f"{k} = %s" for k in keys)
        wrong = wrong_keys(table, stored, rebuilt, expired)
        projects.update(k[0] for k in wrong)
        if table == "projects":
            # Keep each project's creation time (not compared): replace its counters only.
            sets = ", ".join(f"{c} = %s" for c in columns if c not in keys)
            cur.executemany(
                f"UPDATE projects SET {sets} WHERE {match}",
                [(*rebuilt[k], *k) for k in wrong if k in rebuilt],
            )
            cur.executemany(f"DELETE FROM projects WHERE {match}", [k for k in wrong if k not in rebuilt])
            continue
        cur.executemany(f"DELETE FROM {table} WHERE {match}", wrong)
        sqlite_match = " AND ".join(f"{k} = ?" for k in keys)
        rows = [
            scratch.execute(f"SELECT {', '.join(columns)} FROM {table} WHERE {sqlite_match}", k).fetchone()
            for k in wrong
            if k in rebuilt
        ]
        cur.executemany(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})", rows
        )
    cur.executemany(
        "UPDATE spans SET usage_counted = 1 - usage_counted "
        "WHERE project_id = %s AND trace_id = %s AND span_id = %s",
        flips,
    )
    projects.update(k[0] for k in flips)
    # Every hour a repaired project has data in: /stats' cached parts of those hours are stale.
    cur.executemany(
        f"""INSERT INTO hour_versions (project_id, hour_us, version)
            SELECT project_id, hour_us, 1 FROM (
                SELECT project_id,
                    start_time_us - ((start_time_us %% {HOUR_US}) + {HOUR_US}) %% {HOUR_US} AS hour_us
                FROM runs WHERE project_id = %s
                UNION SELECT project_id, hour_us FROM usage_hours WHERE project_id = %s
                UNION SELECT project_id, hour_us FROM llm_durations WHERE project_id = %s) AS h
            ON CONFLICT (project_id, hour_us) DO UPDATE SET version = hour_versions.version + 1""",
        [(p, p, p) for p in sorted(projects, key=str)],
    )


def check(url: str, *, repair: bool = False, progress: Progress | None = None) -> CheckReport:
    """Compare the database's rollups with its spans; with `repair`, replace the wrong ones."""
    with startup(url) as conn:
        check_current(conn)
        with tempfile.TemporaryDirectory(prefix="tracehound-check-") as scratch_dir:
            path = Path(scratch_dir) / "rebuilt.db"
            with conn.transaction():
                mode = "REPEATABLE READ" if repair else "REPEATABLE READ, READ ONLY"
                conn.execute(f"SET TRANSACTION ISOLATION LEVEL {mode}")
                if repair:
                    conn.execute(f"LOCK TABLE spans, {', '.join(ROLLUPS)} IN SHARE ROW EXCLUSIVE MODE")
                (total,) = conn.execute("SELECT COUNT(*) FROM spans").fetchone() or (0,)
                with conn.cursor(name="tracehound_check_spans") as spans:
                    spans.execute(SPANS_IN_ARRIVAL_ORDER.format(order="id"))
                    replay(spans_of(spans), int(total), path, progress)
                scratch = sqlite3.connect(path)
                try:
                    expired = Expired(lambda sql: conn.execute(sql).fetchall())
                    tables = _tables(conn, scratch)
                    diffs = [
                        compare_rows(t, stored, rebuilt, expired)
                        for t, (_, stored, rebuilt) in tables.items()
                    ]
                    span_diff, flips = _spans_diff(conn, scratch)
                    report = CheckReport(spans=int(total), tables=[*diffs, span_diff])
                    if repair and not report.ok:
                        _repair(conn, tables, scratch, flips, expired)
                finally:
                    scratch.close()
        return report

"""LLM calls and billed spans of a span selection, per key (model, provider, label or thread):
the usage records of `storage.usage`, groups in SQLite's order (key, then provider, NULL first)."""

from __future__ import annotations

from tracehound.storage.postgres.connect import Conn
from tracehound.storage.postgres.where import Where
from tracehound.storage.usage import Billed, Calls, Usage, UsageKey

# Breakdown keys to span columns: the only names formatted into a statement from a request.
KEY_COLUMNS: dict[UsageKey, str] = {
    "model": "model",
    "provider": "provider",
    "label": "label",
    "thread": "thread_id",
}


def span_usage(conn: Conn, key: UsageKey, where: Where) -> Usage:
    column = KEY_COLUMNS[key]
    calls = [
        Calls(key=k, provider=p, errors=int(e), durations_us=sorted(d))
        for k, p, e, d in conn.execute(
            f"""SELECT {column}, provider, SUM(is_error), array_agg(finish_time_us - start_time_us)
            FROM spans WHERE {where.sql()} AND is_llm_call = 1
            GROUP BY 1, 2 ORDER BY 1 NULLS FIRST, 2 NULLS FIRST""",
            where.params,
        )
    ]
    billed = [
        Billed(k, p, int(n), float(c), int(i), int(o), int(ca), int(u))
        for k, p, n, c, i, o, ca, u in conn.execute(
            f"""SELECT {column}, provider, COUNT(*), COALESCE(SUM(cost), 0)::float8,
                COALESCE(SUM(input_tokens), 0)::bigint, COALESCE(SUM(output_tokens), 0)::bigint,
                COALESCE(SUM(cached_tokens), 0)::bigint, COUNT(*) FILTER (WHERE cost_source = 'unpriced')
            FROM spans WHERE {where.sql()} AND usage_counted = 1
            GROUP BY 1, 2 ORDER BY 1 NULLS FIRST, 2 NULLS FIRST""",
            where.params,
        )
    ]
    return Usage(calls=calls, billed=billed)

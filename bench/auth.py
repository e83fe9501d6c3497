"""What checking an API key costs a request: `Authenticator.authenticate` on a real database
file, with keys off (no key on record) and on (a valid key, a wrong one), against what a
`GET /runs` costs end to end (docs/benchmarks.md).

    python bench/auth.py              # 20,000 checks each
    python bench/auth.py --checks 1000

Each check reads the key version from SQLite (so a revoked key fails on the next request), then
hashes the offered key and compares it with the cached hash.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tracehound.auth import Authenticator, Unauthenticated, create_key
from tracehound.storage import SqliteStore
from tracehound.storage.sqlite.keys import SqliteKeyStore


def _per_call_us(fn: Callable[[], object], checks: int, repeats: int = 5) -> float:
    """The median over `repeats` of the mean µs per call of `checks` calls."""
    means = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(checks):
            fn()
        means.append((time.perf_counter() - t0) / checks * 1e6)
    return statistics.median(means)


def _refused(auth: Authenticator, offered: list[str]) -> Callable[[], object]:
    def check() -> object:
        try:
            return auth.authenticate(offered)
        except Unauthenticated:
            return None

    return check


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checks", type=int, default=20_000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tracehound-bench-auth-") as tmp:
        data_dir = Path(tmp)
        # The server's own store holds the file, as in `tracehound serve`.
        store = SqliteStore(data_dir)
        auth = Authenticator(SqliteKeyStore(data_dir), SqliteKeyStore(data_dir))
        try:
            off = _per_call_us(lambda: auth.authenticate([]), args.checks)
            keys = SqliteKeyStore(data_dir)
            _, key = create_key(keys, ["default"], all_projects=False, name="bench", now_us=0)
            keys.close()
            valid = _per_call_us(lambda: auth.authenticate([key]), args.checks)
            wrong = _per_call_us(_refused(auth, [key[:-4] + "AAAA"]), args.checks)
        finally:
            auth.close()
            store.close()
    print(f"checks per case: {args.checks:,} (median of 5 means)")
    print(f"keys off (no key on record):   {off:6.1f} µs per request")
    print(f"valid key:                     {valid:6.1f} µs per request")
    print(f"wrong key (401):               {wrong:6.1f} µs per request")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

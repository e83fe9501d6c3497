"""API keys: their format, who a request is, and which projects it may touch. The rules live here
once; the HTTP middleware (api/auth.py) and the gRPC interceptor (otlp/grpc_auth.py) only carry
headers in and map the exceptions below to their status codes.

Keys are `th_<id>_<secret>`: the id is public (it names the key in `tracehound keys list`), the
secret is 32 random bytes. Only SHA-256 of the whole key is stored. A slow password hash (bcrypt,
argon2) exists to make guessing a low-entropy password expensive; a 256-bit random secret cannot
be guessed however fast the hash, and a per-request slow hash would cost milliseconds.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from tracehound.conventions import DEFAULT_PROJECT
from tracehound.storage.protocols import KeyStore
from tracehound.storage.types import KeyRecord

log = logging.getLogger(__name__)

KEY_PREFIX = "th_"
_ID_CHARS = 8
# last_used_at is written at most this often per key, off the request path.
USE_RECORD_INTERVAL_US = 60_000_000
# The headers that may carry a key; the MCP tools pass them on to their in-process API calls.
CREDENTIAL_HEADERS = ("x-api-key", "authorization")


class Unauthenticated(Exception):
    """No valid key: HTTP 401, gRPC UNAUTHENTICATED."""


class Forbidden(Exception):
    """A valid key writing outside its projects: HTTP 403, gRPC PERMISSION_DENIED."""


class NotVisible(Exception):
    """A valid key reading outside its projects: answered as not found (HTTP 404), so that it
    learns nothing about other projects."""


def new_key() -> tuple[str, str]:
    """A fresh (id, key)."""
    key_id = secrets.token_hex(_ID_CHARS // 2)
    return key_id, f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def key_id(key: str) -> str | None:
    """The public id inside a key, or None when `key` is not shaped like one of ours."""
    body = key.removeprefix(KEY_PREFIX)
    if body == key or body[_ID_CHARS : _ID_CHARS + 1] != "_":
        return None
    return body[:_ID_CHARS]


def credentials(header: Callable[[str], str | None]) -> list[str]:
    """The keys a request offers: `x-api-key`, then `Authorization: Bearer`. Both are read,
    because the vLLora SDK sends its own `x-api-key`; a key of ours in either one counts."""
    found = []
    api_key = (header("x-api-key") or "").strip()
    if api_key:
        found.append(api_key)
    scheme, _, token = (header("authorization") or "").strip().partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        found.append(token.strip())
    return found


def is_loopback(host: str) -> bool:
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request is: a key, and the projects it covers (None: every project)."""

    key_id: str
    projects: frozenset[str] | None

    def allows(self, project: str) -> bool:
        return self.projects is None or project in self.projects

    @property
    def only_project(self) -> str | None:
        if self.projects is not None and len(self.projects) == 1:
            return next(iter(self.projects))
        return None


def read_project(principal: Principal | None, named: str | None) -> str:
    """The project a read is about: the one named (`x-project-id`), else the key's only project,
    else `default`. Outside the key's projects it does not exist for this request."""
    project = named or (principal.only_project if principal else None) or DEFAULT_PROJECT
    if principal is not None and not principal.allows(project):
        hint = "" if named else "; name one of the key's projects with the X-Project-Id header"
        raise NotVisible(f"no project {project!r} for this API key{hint}")
    return project


def ingest_project(principal: Principal | None, named: str | None) -> str | None:
    """The project header to ingest with: the one named, which the key must cover, else the key's
    only project (it outranks a span's `vllora.project_id`), else none (spans say)."""
    if named:
        if principal is not None and not principal.allows(named):
            raise Forbidden(f"this API key may not write to project {named!r}")
        return named
    return principal.only_project if principal else None


def check_ingest(principal: Principal | None, projects: Iterable[str]) -> None:
    """Spans that chose their own project (`vllora.project_id`) must stay in the key's projects;
    one outside refuses the whole request, since a partial write would be hard to retry."""
    if principal is None or principal.projects is None:
        return
    outside = sorted({p for p in projects if not principal.allows(p)})
    if outside:
        raise Forbidden(f"this API key may not write to project {outside[0]!r}")


@dataclass(frozen=True, slots=True)
class _Cached:
    key_hash: str
    principal: Principal
    revoked: bool


class Authenticator:
    """Checks keys against the store. The keys are cached in memory and re-read whenever the
    store's key version moves, which is checked on every request (one indexed read of one row), so
    a key created or revoked by `tracehound keys` counts from the next request on."""

    def __init__(self, reader: KeyStore, recorder: KeyStore, clock: Callable[[], float] = time.time) -> None:
        self._reader = reader
        self._recorder = recorder
        self._clock = clock
        self._version = -1
        self._keys: dict[str, _Cached] = {}
        self._used: dict[str, int] = {}
        self._lock = threading.Lock()
        self._writes = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tracehound-key-use")

    def _refresh(self) -> dict[str, _Cached]:
        with self._lock:
            if self._reader.version() != self._version:
                self._version, records = self._reader.load()
                self._keys = {r.id: _cached(r) for r in records}
            return self._keys

    def enabled(self) -> bool:
        """Whether keys are required: once any key exists, revoked ones included, so revoking
        every key locks the server rather than opening it."""
        return bool(self._refresh())

    def authenticate(self, offered: list[str]) -> Principal | None:
        """The principal of a request offering these keys; None when no key exists (open mode).
        Raises Unauthenticated."""
        keys = self._refresh()
        if not keys:
            return None
        if not offered:
            raise Unauthenticated(
                "this tracehound requires an API key: send it as `Authorization: Bearer <key>`"
            )
        for key in offered:
            found = keys.get(key_id(key) or "")
            if found is not None and hmac.compare_digest(found.key_hash, hash_key(key)):
                if found.revoked:
                    raise Unauthenticated(f"API key {found.principal.key_id} has been revoked")
                self._note_use(found.principal.key_id)
                return found.principal
        raise Unauthenticated("invalid API key")

    def _note_use(self, key: str) -> None:
        now = int(self._clock() * 1_000_000)
        if now - self._used.get(key, 0) < USE_RECORD_INTERVAL_US:
            return
        self._used[key] = now
        self._writes.submit(self._record, {key: now})

    def _record(self, used: dict[str, int]) -> None:
        try:
            self._recorder.record_use(used)
        except Exception:
            # Last use is informational: a busy database must not fail requests.
            log.warning("could not record an API key's last use", exc_info=True)

    def close(self) -> None:
        self._writes.shutdown(wait=True)
        self._reader.close()
        self._recorder.close()


def _cached(r: KeyRecord) -> _Cached:
    projects = None if r.all_projects else frozenset(r.projects)
    return _Cached(r.key_hash, Principal(r.id, projects), r.revoked_at_us is not None)


def create_key(
    store: KeyStore, projects: Iterable[str], *, all_projects: bool, name: str | None, now_us: int
) -> tuple[str, str]:
    """Store a new key's hash and scope; return (id, key). The key exists nowhere else."""
    while True:
        kid, key = new_key()
        record = KeyRecord(
            id=kid,
            name=name,
            key_hash=hash_key(key),
            projects=() if all_projects else tuple(sorted(set(projects))),
            all_projects=all_projects,
            created_at_us=now_us,
        )
        if store.add(record):
            return kid, key

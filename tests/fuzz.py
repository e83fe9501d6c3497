"""The fuzz budget shared by the fuzz tests: small in `make test`, large under `make fuzz`.

`TRACEHOUND_FUZZ_EXAMPLES` sets how many examples Hypothesis (and Schemathesis, per operation)
tries; when it is set, Schemathesis also runs its coverage phase (boundary values and missing
parameters for every parameter, a few hundred requests per operation). Runs are derandomized, so
a failure in CI fails the same way on a laptop.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

CI_EXAMPLES = 10


def long_run() -> bool:
    return bool(os.environ.get("TRACEHOUND_FUZZ_EXAMPLES"))


def examples(ci: int = CI_EXAMPLES) -> int:
    """Examples per property (or per API operation); `ci` is the budget of `make test`, scaled
    by `TRACEHOUND_FUZZ_EXAMPLES` / CI_EXAMPLES when that is set."""
    if not long_run():
        return ci
    return max(1, ci * int(os.environ["TRACEHOUND_FUZZ_EXAMPLES"]) // CI_EXAMPLES)


def fuzz_settings(ci: int = CI_EXAMPLES) -> settings:
    return settings(
        max_examples=examples(ci),
        derandomize=True,
        # Loopback requests on two shared cores vary too much for a per-example deadline.
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


def protobuf_field(number: int, payload: bytes) -> bytes:
    """One length-delimited protobuf field, written by hand: to send what the protobuf API
    refuses to build (messages nested past its limit, fields cut short)."""
    size, length = len(payload), b""
    while True:
        byte, size = size & 0x7F, size >> 7
        length += bytes([byte | (0x80 if size else 0)])
        if not size:
            return bytes([number << 3 | 2]) + length + payload

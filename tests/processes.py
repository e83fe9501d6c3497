"""Processes of a server, read from /proc: which it started, and which of them still run."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

# A process is (pid, start time in clock ticks): a pid alone may be reused once it has exited.
Process = tuple[int, int]


def children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        out += [int(c) for c in (task / "children").read_text().split()]
    return out


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The name, in parentheses, may hold spaces: the fields after it are split safely.
    return text[text.rindex(")") + 2 :].split()


def descendants(pid: int) -> list[Process]:
    found: list[Process] = []
    todo = children(pid)
    while todo:
        child = todo.pop()
        stat = _stat(child)
        if stat is not None:
            found.append((child, int(stat[19])))
            todo += children(child)
    return found


def running(processes: list[Process]) -> list[Process]:
    """Those still running: not exited, not a zombie waiting to be reaped, not a new process
    that was given the same pid."""
    alive = []
    for pid, started in processes:
        stat = _stat(pid)
        if stat is not None and stat[0] != "Z" and int(stat[19]) == started:
            alive.append((pid, started))
    return alive


def wait_gone(processes: list[Process], timeout_s: float = 20) -> list[Process]:
    """Those still running after up to `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while running(processes) and time.monotonic() < deadline:
        time.sleep(0.1)
    return running(processes)


def outlived(processes: list[Process], timeout_s: float = 20) -> list[Process]:
    """Those still running after up to `timeout_s`, which are then SIGKILLed, so that a test
    that fails on them leaves nothing running either."""
    left = wait_gone(processes, timeout_s)
    for pid, _ in left:
        os.kill(pid, signal.SIGKILL)
    return left

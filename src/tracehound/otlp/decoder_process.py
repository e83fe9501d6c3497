"""What a decoding process does first: tie its life to the server's, and leave Ctrl-C to it.

A decoding process waits on a pipe whose writing end it holds itself (multiprocessing passes
both ends of its queue), so a server killed with SIGKILL would leave it waiting forever, and
with it multiprocessing's resource tracker, which exits only once every process holding its pipe
is gone. So each decoding process asks Linux to kill it when the server dies (PR_SET_PDEATHSIG),
and, where that is not available or the server died before the request was made, a watchdog
thread sees that its parent changed and exits. The resource tracker then reads the end of its
pipe and exits too."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
WATCH_EVERY_S = 1.0


def bind_to_parent(parent: int) -> None:
    """Run in the child, first thing: `parent` is the server's pid, read before the child was
    started (so a parent that dies before this runs is noticed too)."""
    # A terminal's Ctrl-C reaches the whole process group; the server shuts its decoders down
    # itself, and a KeyboardInterrupt here would only print a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _ask_for_death_signal()
    if os.getppid() != parent:
        os._exit(0)
    threading.Thread(target=_watch, args=(parent,), name="tracehound-parent-watch", daemon=True).start()


def _ask_for_death_signal() -> None:
    # Linux sends it when the *thread* that started the child ends: the server starts decoders
    # from its event loop's thread, which lives as long as the server.
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # the watchdog still catches it


def _watch(parent: int) -> None:
    # Orphans are re-parented (to init or a subreaper), so the parent pid changes when it dies.
    while os.getppid() == parent:
        time.sleep(WATCH_EVERY_S)
    os._exit(0)

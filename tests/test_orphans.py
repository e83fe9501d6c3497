"""A decoding process ends when its server does, however the server ends: on Linux by the death
signal it asks for, elsewhere (or when the server died before it asked) by its watchdog. Real
processes: a middle one stands for the server and is killed with SIGKILL."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from tests.processes import descendants, outlived

# The middle process starts a child that binds itself to it the way a decoder does, prints
# "ready" once the child runs, then waits to be killed.
MIDDLE = textwrap.dedent(
    """
    import subprocess, sys
    child = subprocess.Popen([sys.executable, "-c", sys.argv[1], str(__import__("os").getpid())],
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    print(child.stdout.readline().strip(), flush=True)
    __import__("time").sleep(120)
    """
)
WHOLE = (
    "import sys, time; from tracehound.otlp.decoder_process import bind_to_parent; "
    "bind_to_parent(int(sys.argv[1])); print('ready', flush=True); time.sleep(120)"
)
WATCHDOG_ONLY = (
    "import sys, threading, time; from tracehound.otlp import decoder_process; "
    "threading.Thread(target=decoder_process._watch, args=(int(sys.argv[1]),), daemon=True).start(); "
    "print('ready', flush=True); time.sleep(120)"
)


@pytest.mark.parametrize("child", [WHOLE, WATCHDOG_ONLY], ids=["death-signal", "watchdog"])
def test_the_child_ends_with_its_killed_parent(child: str) -> None:
    middle = subprocess.Popen([sys.executable, "-c", MIDDLE, child], stdout=subprocess.PIPE, text=True)
    try:
        assert middle.stdout is not None
        assert middle.stdout.readline().strip() == "ready"
        started = descendants(middle.pid)
        assert len(started) == 1
    finally:
        middle.kill()
        middle.wait(timeout=30)
    assert outlived(started, timeout_s=10) == []


def test_a_child_whose_parent_is_already_gone_exits_at_once() -> None:
    # Its parent is this test, not the pid it is told: as if the server had died before the
    # child got to run.
    done = subprocess.run([sys.executable, "-c", WHOLE, "1"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert done.stdout == ""

"""Runs a command in a process group of its own that holds the terminal: `make run`'s Ctrl-C.

A terminal's Ctrl-C signals every process of its foreground process group. Started from make
in make's group, `tools/run.sh` would stop cleanly and exit 0, but make, interrupted too,
would report the interruption and exit with a failure whatever its recipe did. Here the
command gets the terminal, so that Ctrl-C reaches it alone; make sees how it ended. Without a
terminal, a SIGINT, SIGTERM or SIGHUP sent to this process is passed on to the command's group.
    python tools/foreground.py bash tools/run.sh
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys


def open_terminal() -> int | None:
    """The controlling terminal, where this process is in its foreground group; else None."""
    try:
        terminal = os.open("/dev/tty", os.O_RDWR)
    except OSError:
        return None
    try:
        if os.tcgetpgrp(terminal) == os.getpgrp():
            return terminal
    except OSError:
        pass
    os.close(terminal)
    return None


def give_terminal(terminal: int | None, group: int) -> None:
    """Make `group` the terminal's foreground group (SIGTTOU would stop a background caller)."""
    if terminal is None:
        return
    previous = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    try:
        os.tcsetpgrp(terminal, group)
    except OSError:
        pass
    finally:
        signal.signal(signal.SIGTTOU, previous)


def main(command: list[str]) -> int:
    terminal = open_terminal()
    child = os.fork()
    if child == 0:
        # Started in the background by a script, this process may have inherited SIGINT and
        # SIGQUIT ignored, and the command could not stop on them.
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGQUIT, signal.SIG_DFL)
        os.setpgid(0, 0)
        give_terminal(terminal, os.getpgrp())
        os.execvp(command[0], command)
    # Also here, in case the child has not run yet (an error: it has exec'ed in its own group).
    with contextlib.suppress(OSError):
        os.setpgid(child, child)

    def pass_on(signum, _frame) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child, signum)

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, pass_on)
    while True:
        try:
            _, status = os.waitpid(child, 0)
            break
        except ChildProcessError:
            return 0
        except InterruptedError:
            continue
    give_terminal(terminal, os.getpgrp())
    code = os.waitstatus_to_exitcode(status)
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

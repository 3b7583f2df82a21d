"""An overall deadline for a whole command, like the per-check timeouts of `check`.

Each check has its timeout, every command and socket its own; still, `fix` and `snapshot` do
more than run the checks (plan fixes, capture files), and a person or a fleet tool needs to
know that the command as a whole ends. A real-time interval timer (SIGALRM) raises
DeadlineExceeded in the main thread wherever it waits, so `finally` blocks and atexit still
clean up (temporary files, an unpacked --root archive) and the exit is one line.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

from gpudoctor import TYPE_CHECKING
from gpudoctor.errors import GpudoctorError

if TYPE_CHECKING:
    from typing import Any

#: The overall deadline is this many check timeouts plus SLACK seconds: the checks (a check
#: may wait for the one it requires), the report, the plans or the capture after them.
CHECK_TIMEOUTS = 6
SLACK = 30.0


class DeadlineExceeded(GpudoctorError):
    """The command did not finish within its overall deadline (exit 1: nothing was changed)."""

    exit_code = 1


def overall_seconds(check_timeout: float) -> float:
    return CHECK_TIMEOUTS * check_timeout + SLACK


@contextlib.contextmanager
def overall_deadline(seconds: float, what: str) -> Iterator[None]:
    """Raise DeadlineExceeded in this (main) thread when the block runs past `seconds`.

    Outside the main thread it does nothing (signals are only delivered there).
    """
    if threading.current_thread() is not threading.main_thread() or seconds <= 0:
        yield
        return

    def expired(signum: int, frame: Any) -> None:
        raise DeadlineExceeded(
            f"{what} did not finish within {seconds:g} s (its overall deadline, "
            f"{CHECK_TIMEOUTS} x --timeout + {SLACK:g} s): something it asks (a command, the "
            "Docker daemon, a file) is not answering. Nothing was changed")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)

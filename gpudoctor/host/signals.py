"""Turning SIGINT/SIGTERM into an exception, except while a step must not be cut short.

`gpudoctor fix` (a package manager running) and `gpudoctor verify` (a container being created
or removed) both need the same thing: a signal becomes an exception so every `finally` cleans
up, but inside `critical()` it waits until the step ends. One class serves both.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterable, Iterator

from gpudoctor import TYPE_CHECKING
from gpudoctor.host.termination import held_back

if TYPE_CHECKING:
    from typing import Any


class SignalHold:
    """Signals raise `interrupt(signum)`; inside `critical()` they wait.

    raise_after_critical: raise a held signal as soon as the critical section ends (fix);
    otherwise the caller asks with `check()` when it is ready (verify).
    """

    def __init__(self, signals: Iterable[int] = (signal.SIGINT, signal.SIGTERM),
                 raise_after_critical: bool = True) -> None:
        self.signals = tuple(signals)
        self.raise_after_critical = raise_after_critical
        #: the first signal that arrived (held or raised)
        self.signum: int | None = None
        self._pending: int | None = None
        self._depth = 0
        self._previous: dict[int, Any] = {}

    def interrupt(self, signum: int) -> BaseException:
        """The exception a signal becomes."""
        return KeyboardInterrupt(signal.Signals(signum).name)

    def handle(self, signum: int, frame: Any) -> None:
        if held_back(signum):  # a temporary folder being made: raised again in a moment
            return
        if self.signum is None:
            self.signum = signum
        if self._depth:
            if self._pending is None:
                self._pending = signum
            return
        raise self.interrupt(signum)

    def install(self) -> None:
        """Handle the signals from now on (a no-op outside the main thread)."""
        for sig in self.signals:
            with contextlib.suppress(ValueError, OSError):  # not the main thread (TUI workers)
                self._previous.setdefault(sig, signal.signal(sig, self.handle))

    @contextlib.contextmanager
    def installed(self) -> Iterator[SignalHold]:
        """Handle the signals inside the block, then put the previous handlers back."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        self.install()
        try:
            yield self
        finally:
            for sig, handler in self._previous.items():
                signal.signal(sig, handler)
            self._previous.clear()

    @contextlib.contextmanager
    def critical(self) -> Iterator[None]:
        """Hold signals back while a step that must not be cut short runs."""
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            if not self._depth and self.raise_after_critical and self._pending is not None:
                signum, self._pending = self._pending, None
                raise self.interrupt(signum)

    def check(self) -> None:
        """Raise now if a signal arrived."""
        if self.signum is not None:
            raise self.interrupt(self.signum)

"""Holding a termination signal back while a short step must finish first.

A private temporary folder must be registered for removal in the same breath as it is made: a
SIGTERM in between would unwind with the folder made and known to nobody. Masking the signal
(pthread_sigmask) does not do it in Python: another thread may take the signal, and the
interpreter runs the handler in the main thread all the same. So gpudoctor's own handlers
(cli's, and SignalHold's for fix and verify) ask `held_back` first; a signal that arrives inside
`with hold():` is kept and raised again when the block ends. This module imports only `signal`
because cli's handler uses it on every run, `--json` included.
"""

from __future__ import annotations

import signal

_depth = 0
_pending: int | None = None


def held_back(signum: int) -> bool:
    """For a signal handler: True, with the signal kept for later, while a hold is on."""
    global _pending
    if _depth:
        if _pending is None:
            _pending = signum
        return True
    return False


class hold:
    """`with hold():` termination signals that arrive inside wait until the block ends."""

    def __enter__(self) -> None:
        global _depth
        _depth += 1

    def __exit__(self, *exc: object) -> None:
        global _depth, _pending
        _depth -= 1
        if not _depth and _pending is not None:
            signum, _pending = _pending, None
            signal.raise_signal(signum)  # the handler acts on it now

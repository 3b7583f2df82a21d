"""The only code besides safefile that acts on the machine gpudoctor runs on.

Reads of the diagnosed host go through a Host (facts.host); file changes go through safefile.
Everything else that has an effect here lives in this module: running the commands fixes use
to change the host (package managers, systemctl, gpasswd) and the docker CLI `gpudoctor
verify` drives, signalling a daemon, and gpudoctor's own scratch folders (an unpacked
--bundle, a generated compose file, a file nvidia-ctk is asked about).

Every command has a timeout. A command that outlives it is killed together with whatever it
started (it runs in its own session, so its process group is all of it), and so is a command
whose wait is cut short by an exception such as Ctrl-C: nothing gpudoctor starts keeps running
after gpudoctor stopped waiting for it.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Iterator

from gpudoctor import TYPE_CHECKING
from gpudoctor.errors import GpudoctorError
from gpudoctor.host.base import CommandResult

if TYPE_CHECKING:
    from typing import IO

#: How long a killed command is given to let go of its output pipes.
REAP_TIMEOUT = 5.0


class SignalFailed(GpudoctorError):
    """A signal could not be delivered (exit 1: the process was not touched)."""

    exit_code = 1

    def __init__(self, pid: int, message: str):
        super().__init__(message)
        self.pid = pid


class ProcessGone(SignalFailed):
    """The process to signal is no longer running."""


class SignalRefused(SignalFailed):
    """The kernel does not let this process signal that one (not root, other user)."""


# ----- commands -----------------------------------------------------------------------------------
def _text(data: bytes | None) -> str:
    return (data or b"").decode("utf-8", errors="replace")


def _kill(proc: subprocess.Popen[bytes], whole_group: bool) -> None:
    """SIGKILL the command, and everything it started when it leads its own session."""
    if whole_group:
        # Not reaped yet, so its pid (= its process group id) cannot have been reused.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()


def execute(argv: list[str], timeout: float, *, input: str | None = None,
            env: dict[str, str] | None = None, new_session: bool = True) -> CommandResult:
    """Run a command here and wait at most `timeout` seconds for it; never raises for it.

    stdin is /dev/null unless `input` is given; output is captured as text (UTF-8, bad bytes
    replaced). `env` None keeps gpudoctor's own environment. With `new_session` the command
    gets its own session, so a Ctrl-C meant for gpudoctor does not reach it and a timeout
    kills all it started. Not installed (or not executable): `missing` with the reason in
    stderr; too slow: `timed_out` with what it printed so far. An exception raised while
    waiting (a signal handler's KeyboardInterrupt) kills the command, then propagates.
    """
    command = tuple(argv)
    try:
        proc = subprocess.Popen(
            list(argv), stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
            start_new_session=new_session)
    except FileNotFoundError:
        return CommandResult(command, None, missing=True)
    except OSError as exc:  # not executable, a folder, ...
        return CommandResult(command, None, stderr=exc.strerror or str(exc), missing=True)
    data = input.encode("utf-8") if input is not None else None
    try:
        out, err = proc.communicate(data, timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill(proc, new_session)
        try:
            out, err = proc.communicate(timeout=REAP_TIMEOUT)
        except subprocess.TimeoutExpired:
            out, err = b"", b""
        return CommandResult(command, None, _text(out), _text(err), timed_out=True,
                             timeout=timeout)
    except BaseException:
        _kill(proc, new_session)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.communicate(timeout=REAP_TIMEOUT)
        raise
    return CommandResult(command, proc.returncode, _text(out), _text(err))


# ----- signals ------------------------------------------------------------------------------------
def send_signal(pid: int, sig: int) -> None:
    """Send `sig` to one process; ProcessGone or SignalRefused (one-line messages) if not."""
    try:
        name = signal.Signals(sig).name
    except ValueError:
        name = f"signal {sig}"
    try:
        os.kill(pid, sig)
    except ProcessLookupError as exc:
        raise ProcessGone(pid, f"process {pid} is no longer running") from exc
    except PermissionError as exc:
        raise SignalRefused(pid, f"not allowed to send {name} to process {pid}") from exc


# ----- gpudoctor's own scratch folders ------------------------------------------------------------
_scratch: set[str] = set()
_scratch_lock = threading.Lock()


def _remove_all_scratch() -> None:
    with _scratch_lock:
        folders = list(_scratch)
        _scratch.clear()
    for folder in folders:
        _rmtree(folder)


def _rmtree(folder: str) -> None:
    import shutil

    shutil.rmtree(folder, ignore_errors=True)


atexit.register(_remove_all_scratch)


def scratch_dir(prefix: str) -> str:
    """A new private (0700) folder in the temporary area, removed at exit at the latest (and
    by the next run when this one was killed: leftovers.py)."""
    from gpudoctor.host.leftovers import private_temp_dir

    return private_temp_dir(prefix, remember_scratch)


def remember_scratch(folder: str) -> None:
    """Remove a private temporary folder made elsewhere (an unpacked bundle) at exit."""
    with _scratch_lock:
        _scratch.add(folder)


def remove_scratch(folder: str) -> None:
    """Remove a folder scratch_dir made, now (unknown folders are left alone)."""
    with _scratch_lock:
        if folder not in _scratch:
            return
        _scratch.discard(folder)
    _rmtree(folder)


@contextlib.contextmanager
def scratch(prefix: str) -> Iterator[str]:
    """A scratch folder for the duration of a block."""
    folder = scratch_dir(prefix)
    try:
        yield folder
    finally:
        remove_scratch(folder)


def write_scratch(folder: str, name: str, content: bytes | str | IO[bytes]) -> str:
    """Create the file `name` in a scratch folder from bytes, text or a binary stream.

    Returns its path. Refuses folders scratch_dir did not make, names with a slash and names
    that already exist, so it can never overwrite anything.
    """
    with _scratch_lock:
        known = folder in _scratch
    if not known:
        raise ValueError(f"{folder} is not one of gpudoctor's scratch folders")
    if not name or "/" in name or name in (".", ".."):
        raise ValueError(f"{name!r} is not a plain file name")
    path = os.path.join(folder, name)
    with open(path, "xb") as out:
        if isinstance(content, str):
            out.write(content.encode("utf-8"))
        elif isinstance(content, bytes):
            out.write(content)
        else:
            import shutil

            shutil.copyfileobj(content, out)
    return path

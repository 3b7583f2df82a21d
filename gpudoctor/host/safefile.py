"""Changing host files so that no interruption can leave them half-written.

Every file a fix changes goes through here: a timestamped backup beside it, the new content
written to a temporary file in the same folder, flushed to disk, given the old file's mode,
owner and extended attributes, then renamed over the old one (rename(2) is atomic, so a
reader or a crash sees the old file or the new one, never a mix), and the folder synced.
A lock keeps two `gpudoctor fix` runs from interleaving.

Tests drive interruptions through `checkpoint()`: with GPUDOCTOR_TEST_PAUSE_AT set, the run
stops at that checkpoint (its number, counting from 1, or its name) and waits until the file
named by GPUDOCTOR_TEST_PAUSE_FILE (which it writes) is removed, so a test can kill it there.
GPUDOCTOR_TEST_CHECKPOINTS=FILE appends every checkpoint's name to FILE.
GPUDOCTOR_LOCK_FILE moves the lock (tests give each run its own; a fleet can share one path).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import stat as stat_mod
import time
from collections.abc import Iterator

from gpudoctor.errors import GpudoctorError
from gpudoctor.record import record

#: Where the lock lives: a folder under /run that only root may enter (see lock_path).
LOCK_DIR = "/run/gpudoctor"
LOCK_NAME = "fix.lock"
DEFAULT_LOCK_WAIT = 5.0
BACKUP_TAG = "gpudoctor"
#: Temporary files of FILE and of FILE's backups: `.FILE[.gpudoctor-STAMP.bak].gpudoctor-PID-X.tmp`
_TEMP_RE_TEMPLATE = r"^\.{name}(?:\.{tag}-[0-9-]+\.bak)?\.{tag}-(\d+)-[A-Za-z0-9_]+\.tmp$"


class LockBusy(GpudoctorError):
    """Another gpudoctor fix holds the lock (exit 1: nothing was changed)."""

    exit_code = 1


class UnsafeWrite(GpudoctorError):
    """A file cannot be replaced safely (not a regular file, folder not writable...)."""

    exit_code = 1


@record(frozen=True)
class WriteResult:
    """What atomic_write did: the file written (links resolved) and the backup it kept."""

    path: str
    backup: str | None
    created: bool


# ----- test hook ----------------------------------------------------------------------------------
_checkpoint_count = 0


def checkpoint(name: str) -> None:
    """A point where an interrupted run must still leave every file old or new (see above)."""
    global _checkpoint_count
    _checkpoint_count += 1
    trace = os.environ.get("GPUDOCTOR_TEST_CHECKPOINTS")
    if trace:
        with open(trace, "a", encoding="utf-8") as fh:
            fh.write(f"{_checkpoint_count} {name}\n")
    target = os.environ.get("GPUDOCTOR_TEST_PAUSE_AT")
    marker = os.environ.get("GPUDOCTOR_TEST_PAUSE_FILE")
    if not target or not marker:
        return
    if target != name and target != str(_checkpoint_count):
        return
    with open(marker, "w", encoding="utf-8") as fh:
        fh.write(f"{_checkpoint_count} {name} {os.getpid()}\n")
    deadline = time.monotonic() + 600
    while os.path.exists(marker) and time.monotonic() < deadline:
        time.sleep(0.02)


# ----- reading and diffing ------------------------------------------------------------------------
def read_current(path: str, limit: int = 64 * 1024 * 1024) -> bytes | None:
    """The file's bytes now, or None when it does not exist."""
    from gpudoctor.host.regular import read_regular

    try:
        data = read_regular(path, limit)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise UnsafeWrite(f"cannot read {path}: {exc.strerror or exc}") from exc
    if len(data) > limit:
        raise UnsafeWrite(f"{path} is larger than {limit} bytes")
    return data


def _text(data: str | bytes | None) -> str:
    if data is None:
        return ""
    if isinstance(data, bytes):
        return data.decode("utf-8", errors="replace")
    return data


def unified_diff(old: str | bytes | None, new: str | bytes | None, path: str,
                 context: int = 3) -> str:
    """A `diff -u` of one file; '/dev/null' stands for a file that does not exist."""
    import difflib

    old_text, new_text = _text(old), _text(new)
    if old is not None and new is not None and old_text == new_text:
        return ""
    a = old_text.splitlines(keepends=True)
    b = new_text.splitlines(keepends=True)
    out: list[str] = []
    for line in difflib.unified_diff(a, b, fromfile=path if old is not None else "/dev/null",
                                     tofile=path if new is not None else "/dev/null",
                                     n=context):
        if line.endswith("\n"):
            out.append(line)
        else:
            out.append(line + "\n\\ No newline at end of file\n")
    return "".join(out)


# ----- backups ------------------------------------------------------------------------------------
def backup_name(path: str, when: float | None = None) -> str:
    """`FILE.gpudoctor-YYYYmmdd-HHMMSS.bak` beside FILE, with -2, -3... if that exists."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(when if when is not None else
                                                          time.time()))
    base = f"{path}.{BACKUP_TAG}-{stamp}"
    candidate, n = f"{base}.bak", 2
    while os.path.lexists(candidate):
        candidate = f"{base}-{n}.bak"
        n += 1
    return candidate


def make_backup(path: str) -> str | None:
    """Copy FILE (following links) to a timestamped backup beside it; None if it is absent.

    The copy is itself written atomically and keeps the mode and owner, so a backup is
    never partial either.
    """
    data = read_current(path)
    if data is None:
        return None
    real = os.path.realpath(path)
    st = os.stat(real)
    target = backup_name(path)
    _write_replace(target, data, st.st_mode & 0o7777, st.st_uid, st.st_gid, source=real)
    return target


# ----- atomic replacement -------------------------------------------------------------------------
def _fsync_dir(folder: str) -> None:
    try:
        fd = os.open(folder or ".", os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _copy_xattrs(source: str, fd: int) -> None:
    """Carry SELinux labels and other extended attributes over to the new file."""
    if not hasattr(os, "listxattr"):
        return
    try:
        names = os.listxattr(source)
    except OSError:
        return
    for name in names:
        try:
            os.setxattr(fd, name, os.getxattr(source, name))
        except OSError:
            continue


def remove_stale_temps(path: str) -> list[str]:
    """Delete temporary files an earlier, killed run left beside FILE or its backups (their
    writer is gone)."""
    from gpudoctor.host.leftovers import pid_alive

    folder, name = os.path.split(path)
    pattern = re.compile(_TEMP_RE_TEMPLATE.format(name=re.escape(name), tag=BACKUP_TAG))
    removed: list[str] = []
    try:
        entries = os.listdir(folder or ".")
    except OSError:
        return removed
    for entry in entries:
        match = pattern.match(entry)
        if not match or pid_alive(int(match.group(1))):
            continue
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(folder, entry))
            removed.append(os.path.join(folder, entry))
    return removed


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _write_replace(real: str, data: bytes, mode: int, uid: int | None, gid: int | None,
                   source: str | None = None) -> None:
    """Temporary file beside `real`, fsync, mode/owner/xattrs, rename over it, fsync folder."""
    import tempfile

    folder, name = os.path.split(real)
    remove_stale_temps(real)
    if source is not None and source != real:  # a backup: clean the original's leftovers too
        remove_stale_temps(source)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.{BACKUP_TAG}-{os.getpid()}-", suffix=".tmp",
                               dir=folder or ".")
    try:
        half = len(data) // 2
        _write_all(fd, data[:half])
        checkpoint(f"partly-written {real}")
        _write_all(fd, data[half:])
        os.fsync(fd)
        if source is not None:
            _copy_xattrs(source, fd)
        os.fchmod(fd, mode)
        if os.geteuid() == 0 and uid is not None and gid is not None:
            os.fchown(fd, uid, gid)
        os.fsync(fd)
        os.close(fd)
        fd = -1
        checkpoint(f"temp-complete {real}")
        os.replace(tmp, real)
        tmp = ""
        _fsync_dir(folder)
    finally:
        if fd >= 0:
            os.close(fd)
        if tmp:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def make_parents_like_their_parent(folder: str) -> None:
    """Create `folder` and the missing folders above it, each owned like the nearest folder
    that exists (root creating ~/.config/docker for a person leaves it the person's, not
    root's; /etc/docker stays root's)."""
    missing: list[str] = []
    current = os.path.abspath(folder)
    while not os.path.isdir(current):
        missing.append(current)
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    try:
        owner = os.stat(current)
    except OSError:
        owner = None
    for created in reversed(missing):
        try:
            os.mkdir(created, 0o755)
        except FileExistsError:
            continue
        if owner is not None and os.geteuid() == 0 and (owner.st_uid, owner.st_gid) != (0, 0):
            os.chown(created, owner.st_uid, owner.st_gid)


def atomic_write(path: str, data: bytes, *, backup: bool = True, mode: int | None = None,
                 uid: int | None = None, gid: int | None = None,
                 new_file_mode: int = 0o644, make_parents: bool = True) -> WriteResult:
    """Replace FILE with `data` atomically, keeping its mode and owner, after a backup.

    A symbolic link is followed: the file it points to is replaced and the link stays.
    A new file gets `new_file_mode` and root's ownership (or uid/gid when given).
    Raises UnsafeWrite when the path is a folder, a device or another non-regular file.
    """
    real = os.path.realpath(path)
    try:
        st: os.stat_result | None = os.stat(real)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise UnsafeWrite(f"cannot stat {path}: {exc.strerror or exc}") from exc
    if st is not None and not stat_mod.S_ISREG(st.st_mode):
        raise UnsafeWrite(f"{path} is not a regular file; gpudoctor replaces only plain files")
    folder = os.path.dirname(real)
    if st is None and make_parents and folder and not os.path.isdir(folder):
        make_parents_like_their_parent(folder)
    backup_path = make_backup(path) if (backup and st is not None) else None
    if backup_path:
        checkpoint(f"backed-up {real}")
    if st is not None:
        keep_mode = mode if mode is not None else st.st_mode & 0o7777
        keep_uid = uid if uid is not None else st.st_uid
        keep_gid = gid if gid is not None else st.st_gid
    else:
        keep_mode = mode if mode is not None else new_file_mode
        keep_uid, keep_gid = uid, gid  # type: ignore[assignment]
    try:
        _write_replace(real, data, keep_mode, keep_uid, keep_gid,
                       source=real if st is not None else None)
    except OSError as exc:
        if backup_path:  # the file is unchanged: a backup of it would only be clutter
            with contextlib.suppress(OSError):
                os.unlink(backup_path)
        if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise UnsafeWrite(f"cannot write {path}: {exc.strerror}") from exc
        raise UnsafeWrite(f"writing {path} failed: {exc.strerror or exc}") from exc
    checkpoint(f"replaced {real}")
    return WriteResult(path=real, backup=backup_path, created=st is None)


def restore(path: str, backup: str | None) -> None:
    """Put FILE back as it was: the backup's content (atomically), or no file when there was
    none before (backup None)."""
    if backup is None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.realpath(path))
        return
    data = read_current(backup)
    if data is None:
        raise UnsafeWrite(f"the backup {backup} has disappeared; {path} was left as it is")
    real = os.path.realpath(path)
    st = os.stat(backup)
    _write_replace(real, data, st.st_mode & 0o7777, st.st_uid, st.st_gid, source=backup)


# ----- the lock -----------------------------------------------------------------------------------
def lock_path() -> str:
    """The fix lock: GPUDOCTOR_LOCK_FILE, else LOCK_FILE in root's private LOCK_DIR.

    Not /run/lock (world-writable): there any user could open the lock file and hold a shared
    lock on it, and so keep every `gpudoctor fix` from running.
    """
    override = os.environ.get("GPUDOCTOR_LOCK_FILE")
    if override:
        return override
    return os.path.join(LOCK_DIR, LOCK_NAME)


def private_lock_dir(folder: str) -> None:
    """Make (or accept) `folder` as a 0700 folder owned by this user and nobody else.

    Raises LockBusy, with what is wrong, for a link, a non-folder, another owner or a folder
    others may write to: the lock must live where only root can reach it.
    """
    try:
        os.mkdir(folder, 0o700)
    except FileExistsError:
        pass
    except OSError as exc:  # no /run (a minimal container), a read-only /run
        raise LockBusy(f"cannot make the lock folder {folder}: {exc.strerror or exc}; set "
                       "GPUDOCTOR_LOCK_FILE to a path in a folder only root may write") from exc
    try:
        st = os.lstat(folder)
    except OSError as exc:
        raise LockBusy(f"cannot use the lock folder {folder}: {exc.strerror or exc}") from exc
    if not stat_mod.S_ISDIR(st.st_mode):
        raise LockBusy(f"refusing the lock folder {folder}: it is not a folder (a link or a "
                       "file is there); remove it and run again")
    if st.st_uid != os.geteuid():
        raise LockBusy(f"refusing the lock folder {folder}: it is owned by UID {st.st_uid}, not "
                       f"{os.geteuid()}; remove it and run again")
    if st.st_mode & 0o077:
        os.chmod(folder, 0o700)


def _lock_holders(fd: int) -> list[int]:
    """PIDs holding a flock on the open file `fd`, from /proc/locks (empty when unknown)."""
    try:
        st = os.fstat(fd)
        with open("/proc/locks", encoding="ascii", errors="replace") as fh:
            lines = fh.read(1024 * 1024).splitlines()
    except OSError:
        return []
    wanted = (os.major(st.st_dev), os.minor(st.st_dev), st.st_ino)
    pids = []
    for line in lines:
        parts = line.split()
        # "3: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF"; waiters are "3: -> FLOCK ..."
        if len(parts) < 6 or parts[1] == "->" or parts[1] != "FLOCK":
            continue
        try:
            major, minor, inode = parts[5].split(":")
            where = (int(major, 16), int(minor, 16), int(inode))
            pid = int(parts[4])
        except ValueError:
            continue
        if where == wanted and pid != os.getpid() and pid not in pids:
            pids.append(pid)
    return pids


def _holder(fd: int) -> str:
    """Who holds the lock, when that is known for sure: 'pid N: COMMAND'; else ''."""
    for pid in _lock_holders(fd):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                argv = fh.read(4096).split(b"\0")
        except OSError:
            continue  # gone meanwhile
        command = " ".join(a.decode("utf-8", "replace") for a in argv if a)
        if len(command) > 120:
            command = command[:117] + "..."
        return f"pid {pid}: {command}" if command else f"pid {pid}"
    return ""


@contextlib.contextmanager
def fix_lock(path: str | None = None, wait: float = DEFAULT_LOCK_WAIT,
             on_wait: object = None) -> Iterator[bool]:
    """Hold the gpudoctor fix lock (fcntl.flock) for the duration of the block.

    Waits up to `wait` seconds for another run to finish, calling `on_wait(holder)` once when
    it has to wait; raises LockBusy after that. Yields True when it had to wait (the host may
    have changed meanwhile). The kernel drops the lock when the process dies, even on SIGKILL.
    The default lock file is 0600 in a 0700 folder of root's, so no other user can open it;
    the holder is named only from the kernel's own list of locks, never from a stale note.
    """
    target = path or lock_path()
    folder = os.path.dirname(target)
    if path is None and not os.environ.get("GPUDOCTOR_LOCK_FILE"):
        private_lock_dir(folder)
    elif folder and not os.path.isdir(folder):
        os.makedirs(folder, mode=0o700, exist_ok=True)
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(target, flags, 0o600)
    except OSError as exc:
        raise LockBusy(f"cannot open the lock file {target}: {exc.strerror or exc}") from exc
    waited = False
    locked = False
    try:
        deadline = time.monotonic() + max(wait, 0.0)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                locked = True
                break
            except BlockingIOError:
                holder = _holder(fd)
                if not waited and callable(on_wait):
                    on_wait(holder)
                waited = True
                if time.monotonic() >= deadline:
                    who = f" ({holder})" if holder else ""
                    raise LockBusy(
                        f"another gpudoctor fix is running{who}; waited {wait:g} s for it. "
                        f"Run again when it has finished (the lock is {target}).") from None
                time.sleep(0.1)
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        started = time.strftime("%Y-%m-%d %H:%M:%S")
        os.write(fd, f"pid {os.getpid()}, started {started}\n".encode())
        checkpoint("locked")
        yield waited
    finally:
        if locked:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)  # no note of a run that is over is left behind
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

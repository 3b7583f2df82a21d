"""Opening a file to read it without ever blocking on what is not a plain file.

`open(path)` on a FIFO waits for a writer forever, and a character device may never give an
end of file: a daemon.json or host.json that is a FIFO hung gpudoctor until it was killed.
Every read of a host file goes through `read_regular`: it opens with O_NONBLOCK (which returns
at once for a FIFO), asks fstat what it opened, and refuses anything but a regular file before
a single byte is read.
"""

from __future__ import annotations

import os
import stat as stat_mod


class NotRegular(OSError):
    """The path is a FIFO, socket, device or folder, which gpudoctor never reads."""

    def __init__(self, path: str, kind: str):
        super().__init__(f"{path} is {kind}, not a regular file")
        self.path = path
        self.kind = kind
        self.strerror = f"is {kind}, not a regular file"


def describe_kind(mode: int) -> str:
    """'a FIFO (named pipe)', 'a socket', ... for a st_mode that is not a regular file."""
    if stat_mod.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat_mod.S_ISSOCK(mode):
        return "a socket"
    if stat_mod.S_ISCHR(mode):
        return "a character device"
    if stat_mod.S_ISBLK(mode):
        return "a block device"
    if stat_mod.S_ISDIR(mode):
        return "a folder"
    return "not a regular file"


def open_regular(path: str) -> int:
    """A read-only descriptor of `path`, which must be a regular file (links followed).

    Raises FileNotFoundError, PermissionError... as open() does, and NotRegular for a FIFO,
    socket, device or folder. The descriptor is blocking again when returned.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno is not None and os.path.exists(path):
            try:
                mode = os.stat(path).st_mode
            except OSError:
                raise exc from None
            if not stat_mod.S_ISREG(mode) and not stat_mod.S_ISDIR(mode):
                raise NotRegular(path, describe_kind(mode)) from exc  # a socket: ENXIO
        raise
    try:
        mode = os.fstat(fd).st_mode
        if not stat_mod.S_ISREG(mode):
            raise NotRegular(path, describe_kind(mode))
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_regular(path: str, limit: int, offset: int = 0) -> bytes:
    """Up to limit + 1 bytes of a regular file from `offset` (callers check the size)."""
    fd = open_regular(path)
    with os.fdopen(fd, "rb") as fh:
        if offset:
            fh.seek(offset)
        return fh.read(limit + 1)


def replaceable(path: str) -> None:
    """Nothing, when `path` does not exist or is a regular file that may be replaced.

    Raises NotRegular for a device, FIFO, socket, folder or symbolic link: renaming a new file
    over /dev/null would replace the system's null device.
    """
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if stat_mod.S_ISREG(mode):
        return
    if stat_mod.S_ISLNK(mode):
        raise NotRegular(path, "a symbolic link")
    raise NotRegular(path, describe_kind(mode))

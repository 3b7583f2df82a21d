"""Opening the host to diagnose: the live machine, a root folder, or a snapshot archive."""

from __future__ import annotations

import atexit
import os

from gpudoctor.errors import UserError
from gpudoctor.host.base import CommandResult, FileStat, Host, ProcessInfo, UserInfo

__all__ = ["CommandResult", "FileStat", "Host", "ProcessInfo", "UserInfo", "open_host"]


def open_host(root: str | None) -> Host:
    """The live host when root is None or "/", else a RootHost (unpacking archives first)."""
    if root is None or (os.path.abspath(root) == "/" and os.path.isdir(root)):
        from gpudoctor.host.live import LiveHost

        return LiveHost()
    from gpudoctor.host.rootfs import RootHost

    if os.path.isdir(root):
        return RootHost(root)
    if not os.path.exists(root):
        raise UserError(f"--root {root}: no such folder or archive")
    if not os.path.isfile(root):
        raise UserError(f"--root {root}: neither a folder nor an archive")
    import shutil  # only an archive needs it (with bz2 and lzma, ~2 ms on every start)

    from gpudoctor.host.archive import unpack

    folder = unpack(root, lambda unpacked: atexit.register(shutil.rmtree, unpacked, True))
    return RootHost(folder, archive=os.path.abspath(root))

"""Unpacking a snapshot archive safely, so a hostile archive cannot write outside a temp folder."""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile

from gpudoctor.errors import UserError

#: A snapshot holds no file over 4 MiB; a whole archive unpacks to far less than this.
MAX_UNPACKED = 512 * 1024 * 1024
MAX_MEMBERS = 200_000


def _check_member(member: tarfile.TarInfo, dest: str) -> None:
    name = member.name
    if name.startswith("/") or os.path.isabs(name):
        raise UserError(f"refusing archive member {name!r}: absolute path")
    if ".." in name.split("/"):
        raise UserError(f"refusing archive member {name!r}: `..` climbs out of the root")
    if member.isdev() or member.isfifo():
        raise UserError(f"refusing archive member {name!r}: device or fifo")
    if member.islnk():
        raise UserError(f"refusing archive member {name!r}: hard link")
    if member.issym():
        target = member.linkname
        base = os.path.dirname(name)
        # Absolute targets are fine: inside a root they mean root/target (chroot semantics).
        resolved = os.path.normpath(os.path.join("/", target) if target.startswith("/")
                                    else os.path.join("/", base, target))
        depth_ok = not os.path.relpath(resolved, "/").startswith("..")
        if not depth_ok or _climbs(base, target):
            raise UserError(f"refusing archive member {name!r}: link to {target!r} leaves the root")


def _climbs(base: str, target: str) -> bool:
    """True when a relative link target climbs above the root at any point."""
    if target.startswith("/"):
        return False
    depth = len([p for p in base.split("/") if p and p != "."])
    for part in target.split("/"):
        if part == "..":
            depth -= 1
            if depth < 0:
                return True
        elif part and part != ".":
            depth += 1
    return False


def unpack(archive: str) -> str:
    """Unpack a .tar.gz snapshot into a fresh temp folder and return it.

    Every member is vetted first (no absolute names, no `..`, no links leaving the root, no
    devices, bounded total size), then extracted with Python's `data` filter as a second line.
    """
    try:
        tar = tarfile.open(archive, "r:*")  # noqa: SIM115 - closed by the `with tar` below
    except FileNotFoundError as exc:
        raise UserError(f"snapshot {archive} does not exist") from exc
    except IsADirectoryError as exc:
        raise UserError(f"snapshot {archive} is a folder; pass it as --root DIR") from exc
    except PermissionError as exc:
        raise UserError(f"cannot read snapshot {archive}: permission denied") from exc
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise UserError(f"cannot read snapshot {archive}: it is not a tar archive "
                        "(plain, gzip, bzip2 or xz)") from exc
    dest = tempfile.mkdtemp(prefix="gpudoctor-root-")
    try:
        with tar:
            total = 0
            members = []
            try:
                for count, member in enumerate(tar, 1):
                    if count > MAX_MEMBERS:
                        raise UserError(f"snapshot {archive} has more than {MAX_MEMBERS} members")
                    _check_member(member, dest)
                    total += max(member.size, 0)
                    if total > MAX_UNPACKED:
                        raise UserError(f"snapshot {archive} unpacks to more than "
                                        f"{MAX_UNPACKED // (1024 * 1024)} MiB; refusing it")
                    members.append(member)
                for member in members:
                    tar.extract(member, dest, filter="data")
            except (tarfile.TarError, OSError, EOFError, ValueError) as exc:
                raise UserError(f"snapshot {archive} is corrupt: {exc}") from exc
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    return dest

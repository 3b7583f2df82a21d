"""Unpacking an archive safely, so a hostile archive cannot write outside a temp folder.

Snapshots (`--root ARCHIVE`) and the toolkit's offline bundle (`fix --bundle FILE.tar.gz`)
both come through here: one vetted extraction, not two."""

from __future__ import annotations

import os
import shutil
import tarfile

from gpudoctor import TYPE_CHECKING
from gpudoctor.errors import UserError

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

#: A snapshot holds no file over 4 MiB; a whole archive unpacks to far less than this.
MAX_UNPACKED = 512 * 1024 * 1024
#: A snapshot of an 8-GPU host has a few thousand members; tarfile needs ~50 us per header.
MAX_MEMBERS = 50_000
#: Bound on the decompressed stream (data plus headers): a gzip bomb stops here.
MAX_STREAM = MAX_UNPACKED + 64 * 1024 * 1024
#: tarfile reads member data in 16 KiB chunks; only a pax or GNU long-name header is read in
#: one call, and a header declaring more than this is an attack, not a snapshot.
MAX_SINGLE_READ = 1024 * 1024
#: Unpacked snapshots are `gpudoctor-root-<pid>-XXXXXX` folders (see host/leftovers.py).
UNPACK_PREFIX = "gpudoctor-root-"


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


def _chroot_link(name: str, target: str) -> str:
    """An absolute link target as the same target relative to the link (chroot semantics).

    Python's data filter refuses absolute targets; inside a root `/x` means `<root>/x`.
    """
    depth = len([p for p in os.path.dirname(name).split("/") if p and p != "."])
    parts = [p for p in target.split("/") if p and p != "."]
    while parts and parts[0] == "..":
        parts.pop(0)  # `..` at the root stays at the root
    return "/".join([".."] * depth + parts) or "."


class _BoundedStream:
    """The decompressed tar stream, refusing to produce more than MAX_STREAM bytes.

    Without it a small archive whose pax header declares gigabytes makes tarfile read them all
    into memory before any member can be vetted.
    """

    def __init__(self, raw: Any, archive: str, what: str = "snapshot"):
        self._raw = raw
        self._archive = archive
        self._what = what

    def _refuse(self) -> None:
        raise UserError(f"refusing {self._what} {self._archive}: it unpacks to more than "
                        f"{MAX_STREAM // (1024 * 1024)} MiB or declares an oversized header "
                        "(a decompression bomb)")

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0 or size > MAX_SINGLE_READ or \
                self._raw.tell() + size > MAX_STREAM:
            self._refuse()
        return self._raw.read(size)

    def seek(self, offset: int, whence: int = 0) -> int:
        target = offset if whence == 0 else self._raw.tell() + offset if whence == 1 else None
        if target is None or target > MAX_STREAM:
            self._refuse()
        return self._raw.seek(offset, whence)

    def tell(self) -> int:
        return self._raw.tell()

    def close(self) -> None:
        self._raw.close()


def _open_stream(archive: str) -> Any:
    """The archive's decompressed bytes (gzip, bzip2, xz or a plain tar), from its magic."""
    with open(archive, "rb") as fh:
        magic = fh.read(6)
    if magic[:2] == b"\x1f\x8b":
        import gzip

        return gzip.GzipFile(archive, "rb")
    if magic[:3] == b"BZh":
        import bz2

        return bz2.BZ2File(archive, "rb")
    if magic == b"\xfd7zXZ\x00":
        import lzma

        return lzma.LZMAFile(archive, "rb")
    return open(archive, "rb")  # unpack closes it


def unpack(archive: str, remember: Callable[[str], object], what: str = "snapshot",
           prefix: str = "gpudoctor-root-") -> str:
    """Unpack a .tar.gz snapshot (or another archive: `what` names it) into a fresh temp
    folder and return it.

    Every member is vetted first (no absolute names, no `..`, no links leaving the root, no
    devices, bounded member count, total size and decompressed stream), then extracted with
    Python's `data` filter as a second line. On any refusal the temp folder is removed;
    `remember(folder)` registers it for removal later, before anything can interrupt.
    """
    try:
        raw = _open_stream(archive)
    except FileNotFoundError as exc:
        raise UserError(f"{what} {archive} does not exist") from exc
    except IsADirectoryError as exc:
        raise UserError(f"{what} {archive} is a folder; pass it as --root DIR") from exc
    except PermissionError as exc:
        raise UserError(f"cannot read {what} {archive}: permission denied") from exc
    except OSError as exc:
        raise UserError(f"cannot read {what} {archive}: {exc.strerror or exc}") from exc
    dest = None
    try:
        try:
            tar = tarfile.open(fileobj=_BoundedStream(raw, archive, what),  # type: ignore[call-overload]  # noqa: SIM115
                               mode="r:")
        except UserError:
            raise
        except Exception as exc:  # tarfile, gzip, zlib, lzma errors: not an archive
            raise UserError(f"cannot read {what} {archive}: it is not a tar archive "
                            "(plain, gzip, bzip2 or xz)") from exc
        from gpudoctor.host.leftovers import private_temp_dir

        dest = private_temp_dir(prefix, remember)
        with tar:
            _extract_vetted(tar, archive, dest, what)
    except BaseException:
        if dest is not None:
            shutil.rmtree(dest, ignore_errors=True)
        raise
    finally:
        raw.close()
    return dest


def _extract_vetted(tar: tarfile.TarFile, archive: str, dest: str, what: str) -> None:
    total = 0
    members = []
    try:
        for count, member in enumerate(tar, 1):
            if count > MAX_MEMBERS:
                raise UserError(f"refusing {what} {archive}: it has more than "
                                f"{MAX_MEMBERS} members")
            _check_member(member, dest)
            total += max(member.size, 0)
            if total > MAX_UNPACKED:
                raise UserError(f"refusing {what} {archive}: it unpacks to more than "
                                f"{MAX_UNPACKED // (1024 * 1024)} MiB")
            if member.issym() and member.linkname.startswith("/"):
                member.linkname = _chroot_link(member.name, member.linkname)
            members.append(member)
        if not members:
            raise UserError(f"{what} {archive} holds no files"
                            + (": it is not a host root" if what == "snapshot" else ""))
        for member in members:
            tar.extract(member, dest, filter="data")
    except tarfile.FilterError as exc:
        name = exc.tarinfo.name if exc.tarinfo is not None else "?"
        raise UserError(f"refusing archive member {name!r}: {exc}") from exc
    except UserError:
        raise
    except Exception as exc:  # truncated gzip, bad headers, disk full
        raise UserError(f"{what} {archive} is corrupt: {exc}") from exc

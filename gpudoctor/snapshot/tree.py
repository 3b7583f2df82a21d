"""The tree of files a snapshot holds: members at their real locations, links kept as links."""

from __future__ import annotations

import posixpath

from gpudoctor import TYPE_CHECKING
from gpudoctor.errors import HostError
from gpudoctor.host.base import FileStat, Host
from gpudoctor.record import record
from gpudoctor.snapshot.limits import MAX_FILE, MAX_LINKS, MAX_LISTING, MAX_MEMBERS, MAX_TOTAL

if TYPE_CHECKING:
    from typing import Any


@record
class Member:
    """One archive entry at its real location (no link among its parent folders)."""

    path: str
    kind: str  # "dir", "file", "link"
    mode: int = 0o644
    mtime: float = 0.0
    uid: int = 0
    gid: int = 0
    data: bytes | None = None  # None: an empty placeholder
    target: str = ""


def relative_target(link: str, target: str) -> str:
    """The same link target, relative and never climbing above the root.

    Under chroot semantics `/x` from a link in `/a/b` is `../x`, and `..` at the root stays at
    the root, so this changes nothing about where the link leads, and archive.unpack (Python's
    data filter) accepts it.
    """
    base_depth = len([p for p in posixpath.dirname(link).split("/") if p])
    absolute = target.startswith("/")
    depth = 0 if absolute else base_depth
    parts: list[str] = []
    for comp in target.split("/"):
        if comp in ("", "."):
            continue
        if comp == "..":
            if depth == 0:
                continue
            depth -= 1
        else:
            depth += 1
        parts.append(comp)
    prefix = [".."] * base_depth if absolute else []
    return "/".join(prefix + parts) or "."


class Tree:
    """Builds the archive's files from the paths a diagnosis asked about."""

    def __init__(self, host: Host, contents: dict[str, bytes] | None = None):
        self.host = host
        self.contents = contents or {}
        self.members: dict[str, Member] = {}
        self.device_nodes: dict[str, dict[str, Any]] = {}
        self.special: dict[str, dict[str, Any]] = {}
        self.unreadable: dict[str, str] = {}
        self.omitted: dict[str, tuple[int, str]] = {}
        self.truncated: list[str] = []
        self.total = 0
        self._lstat: dict[str, FileStat | HostError | None] = {}

    # ----- primitives -----------------------------------------------------------------------
    def lstat(self, path: str) -> FileStat | None:
        cached = self._lstat.get(path, False)
        if cached is False:
            try:
                cached = self.host.stat(path, follow=False)
            except HostError as exc:
                cached = exc
            self._lstat[path] = cached
        if isinstance(cached, HostError):
            raise cached
        return cached  # type: ignore[return-value]

    def _room(self) -> bool:
        if len(self.members) < MAX_MEMBERS:
            return True
        if "members" not in self.truncated:
            self.truncated.append("members")
        return False

    def add_dir(self, path: str, st: FileStat | None) -> None:
        if path == "/" or (path in self.members and self.members[path].kind == "dir"):
            return
        if not self._room():
            return
        self.members[path] = Member(path, "dir", mode=st.mode if st else 0o755,
                                    mtime=st.mtime if st else 0.0,
                                    uid=st.uid if st else 0, gid=st.gid if st else 0)

    def add_link(self, path: str, target: str, st: FileStat) -> None:
        if path in self.members or not self._room():
            return
        self.members[path] = Member(path, "link", mode=0o777, mtime=st.mtime, uid=st.uid,
                                    gid=st.gid, target=relative_target(path, target))

    def add_file(self, path: str, st: FileStat, data: bytes | None) -> None:
        existing = self.members.get(path)
        if existing is not None and (existing.kind != "file" or existing.data is not None):
            return
        if existing is None and not self._room():
            return
        if data is not None:
            if self.total + len(data) > MAX_TOTAL:
                self.omitted[path] = (len(data), "the archive's total size limit was reached")
                data = None
            else:
                self.total += len(data)
        self.members[path] = Member(path, "file", mode=st.mode, mtime=st.mtime, uid=st.uid,
                                    gid=st.gid, data=data)

    def add_device(self, path: str, st: FileStat) -> None:
        self.device_nodes[path] = {"type": st.kind, "major": st.major, "minor": st.minor,
                                   "mode": st.mode_octal, "uid": st.uid, "gid": st.gid}

    # ----- walking ----------------------------------------------------------------------------
    def resolve(self, path: str) -> tuple[str, FileStat | None]:
        """Walk a path as the kernel does, keeping every folder and link met on the way.

        Returns the real location and its lstat (None when the path does not exist).
        """
        stack = [p for p in reversed(path.split("/")) if p]
        current: list[str] = []
        hops = 0
        while stack:
            comp = stack.pop()
            if comp == ".":
                continue
            if comp == "..":
                if current:
                    current.pop()
                continue
            candidate = "/" + "/".join([*current, comp])
            st = self.lstat(candidate)
            if st is None:
                return candidate, None
            if st.kind == "link":
                target = self.host.readlink(candidate)
                if target is None:
                    return candidate, None
                self.add_link(candidate, target, st)
                hops += 1
                if hops > MAX_LINKS:
                    raise HostError(path, "too many levels of links")
                if target.startswith("/"):
                    current = []
                stack.extend(reversed([t for t in target.split("/") if t]))
                continue
            if stack and st.kind != "dir":
                return candidate, None
            if st.kind == "dir":
                self.add_dir(candidate, st)
            current.append(comp)
        real = "/" + "/".join(current)
        return real, self.lstat(real)

    def capture(self, path: str, how: set[str]) -> None:
        """Add one asked-about path: its links and folders, and the object it leads to."""
        try:
            real, st = self.resolve(path)
        except HostError as exc:
            self.unreadable.setdefault(exc.path, exc.reason)
            return
        if st is None:
            return
        if st.kind == "dir":
            self.add_dir(real, st)
            if "list" in how:
                self.list_folder(real)
        elif st.kind == "file":
            device = self._root_device(real)
            if device is not None:
                self.add_device(real, device)
                self.add_file(real, st, None)
            elif "read" in how:
                self.add_file(real, st, self._content(path, real, st))
            else:
                self.add_file(real, st, None)
        elif st.kind in ("char", "block"):
            self.add_device(real, st)
            self.add_file(real, st, None)
        else:
            self.special[real] = {"type": "socket or fifo", "mode": st.mode_octal,
                                  "uid": st.uid, "gid": st.gid}

    def _root_device(self, real: str) -> FileStat | None:
        """In a root, a device node is a placeholder file described by host.json."""
        if self.host.live or not real.startswith("/dev/"):
            return None
        try:
            st = self.host.device_node(real)
        except HostError:
            return None
        return st if st is not None and st.kind in ("char", "block") else None

    def _content(self, asked: str, real: str, st: FileStat) -> bytes | None:
        data = self.contents.get(asked)
        if data is None:
            data = self.contents.get(real)
        if data is not None:
            return data
        if st.size > MAX_FILE:
            self.omitted[real] = (st.size, f"larger than {MAX_FILE // (1024 * 1024)} MiB")
            return None
        try:
            return self.host.read_bytes(real, MAX_FILE)
        except HostError as exc:
            if "larger than" in exc.reason:
                self.omitted[real] = (st.size, f"larger than {MAX_FILE // (1024 * 1024)} MiB")
            else:
                self.unreadable.setdefault(real, exc.reason)
            return None

    def list_folder(self, real: str) -> None:
        """Recreate a listed folder's entries so a root lists the same names."""
        try:
            names = self.host.listdir(real)
        except HostError as exc:
            self.unreadable.setdefault(real, exc.reason)
            return
        if len(names) > MAX_LISTING:
            self.truncated.append(real)
            names = names[:MAX_LISTING]
        for name in names:
            child = f"{real.rstrip('/')}/{name}"
            if child in self.members:
                continue
            try:
                st = self.lstat(child)
            except HostError as exc:
                self.unreadable.setdefault(child, exc.reason)
                continue
            if st is None:
                continue
            if st.kind == "link":
                target = self.host.readlink(child)
                if target is not None:
                    self.add_link(child, target, st)
            elif st.kind == "dir":
                self.add_dir(child, st)
            elif st.kind == "file":
                device = self._root_device(child)
                if device is not None:
                    self.add_device(child, device)
                self.add_file(child, st, None)
            elif st.kind in ("char", "block"):
                self.add_device(child, st)
                self.add_file(child, st, None)
            else:
                self.special[child] = {"type": "socket or fifo", "mode": st.mode_octal,
                                       "uid": st.uid, "gid": st.gid}

    def finish(self) -> list[Member]:
        """Members sorted so each folder comes before what it holds, parents filled in."""
        for path in list(self.members):
            parent = posixpath.dirname(path)
            while parent not in ("/", "") and parent not in self.members:
                self.members[parent] = Member(parent, "dir", mode=0o755)
                parent = posixpath.dirname(parent)
        return [self.members[p] for p in sorted(self.members)]

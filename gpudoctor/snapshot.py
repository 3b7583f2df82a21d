"""`gpudoctor snapshot`: capture what a diagnosis reads as a host-root archive (host-root.md).

Whoever helps with a GPU container problem needs the facts of the host, not a screenshot. The
diagnosis runs once against a `RecordingHost`, which passes every question on to the real host
(the live machine, or a root being re-captured) and writes down what was asked: files read,
folders listed, paths stat'ed or resolved, commands run, Docker Engine API paths, environment
variables. The archive then holds exactly that, so `gpudoctor --root ARCHIVE` elsewhere gives
the same diagnosis:

- files the checks read, with their content (sysfs and procfs attributes as plain files);
  files only stat'ed or seen in a listing are empty placeholders with the real mode and mtime
  (a 100 MB dockerd binary adds nothing when only its existence and age matter);
- every symbolic link on the way to every path, kept as a link (targets made relative, which
  under chroot semantics is the same link), so a root resolves paths as the host did;
- listed folders with all their entries; device nodes as empty files plus `device_nodes`;
- `.gpudoctor/host.json` with the user, processes, the daemon's answers, command output, and
  what could not be captured (`unreadable`, `omitted`), nothing over 4 MiB.

Redaction (on unless `--no-redact`) replaces the machine's hostnames, serial numbers, GPU UUIDs,
credentials in URLs and environment values before anything is written, and lists what kind of
value it replaced where (never the value) in host.json `redacted`. Identifiers are replaced
consistently (the same UUID gets the same stand-in everywhere, a `unique_id` keeps its number
format) so that checks matching them across files still reach the same verdict.
"""

from __future__ import annotations

import io
import json
import os
import posixpath
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from gpudoctor import __version__
from gpudoctor.credentials import (
    is_docker_client_config,
    redact_fields,
    redact_json_value,
    reduce_docker_client_config,
)
from gpudoctor.errors import DockerUnavailable, HostError, UserError
from gpudoctor.host.base import (
    MAX_READ,
    CommandResult,
    FileStat,
    Host,
    ProcessInfo,
    UserInfo,
)
from gpudoctor.host.rootfs import api_key

#: No file in a snapshot is larger than this (host-root.md).
MAX_FILE = MAX_READ
#: All file content together; far below what archive.unpack accepts.
MAX_TOTAL = 256 * 1024 * 1024
#: Members in one archive; far below archive.MAX_MEMBERS.
MAX_MEMBERS = 40_000
#: Entries kept of one listed folder.
MAX_LISTING = 10_000
MAX_LINKS = 40
HOST_JSON = ".gpudoctor/host.json"

#: Environment variables whose values the diagnosis depends on and that name paths or the
#: daemon's endpoint, not secrets (credentials and hostnames inside them are still redacted).
#: Every other variable's value is replaced.
KEPT_ENV = frozenset({"PATH", "HOME", "XDG_CONFIG_HOME", "XDG_RUNTIME_DIR", "DOCKER_HOST",
                      "DOCKER_CONTEXT", "DOCKER_CONFIG"})


# ----- recording ---------------------------------------------------------------------------------
class RecordingHost(Host):
    """Passes every question to another host and writes down what was asked and answered.

    A wrapper rather than Host.access_log: it also records what listings, resolutions,
    Docker API answers and environment variables were asked, and it records a root being
    re-captured as well as the live host.
    """

    access_log = None

    def __init__(self, inner: Host):
        self.inner = inner
        self.root = inner.root
        self.live = inner.live
        self.lock = threading.Lock()
        self._once = threading.Lock()
        #: host path -> how it was asked: read, list, stat, lstat, resolve, device
        self.paths: dict[str, set[str]] = {}
        #: what read_bytes returned, per path asked (files up to MAX_FILE)
        self.contents: dict[str, bytes] = {}
        self.devices: dict[str, FileStat] = {}
        self.commands: dict[str, CommandResult] = {}
        self.docker: dict[str, Any] = {}
        self.docker_errors: list[str] = []
        self.env: dict[str, str] = {}
        self._processes: tuple[list[ProcessInfo] | None] | None = None
        self._user: tuple[UserInfo | None] | None = None

    def __getattr__(self, name: str) -> Any:
        # Optional extras of the inner host (RootHost.has_docker_capture...) stay visible.
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    def _note(self, path: str, how: str) -> None:
        with self.lock:
            self.paths.setdefault(path, set()).add(how)

    # ----- files -----------------------------------------------------------------------------
    def read_bytes(self, path: str, limit: int = MAX_READ) -> bytes:
        self._note(path, "read")
        data = self.inner.read_bytes(path, limit)
        if len(data) <= MAX_FILE:
            with self.lock:
                self.contents[path] = data
        return data

    def listdir(self, path: str) -> list[str]:
        self._note(path, "list")
        return self.inner.listdir(path)

    def readlink(self, path: str) -> str | None:
        self._note(path, "lstat")
        return self.inner.readlink(path)

    def realpath(self, path: str) -> str:
        self._note(path, "resolve")
        return self.inner.realpath(path)

    def stat(self, path: str, follow: bool = True) -> FileStat | None:
        self._note(path, "stat" if follow else "lstat")
        return self.inner.stat(path, follow)

    def device_node(self, path: str) -> FileStat | None:
        self._note(path, "device")
        st = self.inner.device_node(path)
        if st is not None and st.kind in ("char", "block"):
            with self.lock:
                self.devices[path] = st
        return st

    # ----- everything else --------------------------------------------------------------------
    def processes(self) -> list[ProcessInfo] | None:
        # One answer per run: what the checks saw is what the archive holds.
        with self._once:
            if self._processes is None:
                self._processes = (self.inner.processes(),)
            return self._processes[0]

    def run(self, name: str, argv: list[str], timeout: float = 10.0) -> CommandResult | None:
        result = self.inner.run(name, argv, timeout)
        if result is not None:
            with self.lock:
                self.commands[name] = result
        return result

    def docker_api(self, path: str, endpoint: str | None = None, timeout: float = 5.0) -> Any:
        try:
            answer = self.inner.docker_api(path, endpoint, timeout)
        except DockerUnavailable as exc:
            with self.lock:
                self.docker_errors.append(str(exc))
            raise
        with self.lock:
            self.docker.setdefault(api_key(path), answer)
        return answer

    def user(self) -> UserInfo | None:
        with self._once:
            if self._user is None:
                self._user = (self.inner.user(),)
            return self._user[0]

    def getenv(self, name: str) -> str | None:
        value = self.inner.getenv(name)
        if value is not None:
            with self.lock:
                self.env[name] = value
        return value

    def now(self) -> float:
        return self.inner.now()

    def meta(self) -> dict[str, Any]:
        return self.inner.meta()

    def describe(self) -> str:
        return self.inner.describe()


# ----- the tree of files -------------------------------------------------------------------------
@dataclass
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


# ----- redaction ---------------------------------------------------------------------------------
_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)([^\s/?#\"'<>`]*@)")
_GPU_UUID = re.compile(
    r"(?i)\b(GPU|MIG)-([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\b")
#: ROCm's `GPU-<unique_id in hex>` (rocm-smi, amd-smi).
_AMD_GPU_ID = re.compile(r"(?i)\bGPU-([0-9a-f]{16})\b")
_SERIAL_VALUE = re.compile(
    r"(?im)(?<![a-z0-9])(?:board|product|chassis|module|system|gpu)?[ _-]?serial"
    r"(?:[ _-]?(?:number|num|no\.?))?[\"']?[ \t]*[:=][ \t]*[\"']?([^\"'\n,;<>{}\[\]]*)")
_SERIAL_XML = re.compile(r"(?i)<(?:serial|board_serial|serial_number)>([^<]*)</")
_UNIQUE_ID_LINE = re.compile(r"(?im)^(unique_id[ \t]+)(\d+)[ \t]*$")
_UNIQUE_ID_VALUE = re.compile(r"(?i)(unique[ _]?id[ \t]*[:=][ \t]*)(0x[0-9a-f]+|\d+)\b")
#: Files named like this hold nothing but a serial number or a machine's UUID.
SERIAL_FILES = frozenset({"serial", "serial_number", "product_serial", "board_serial",
                          "chassis_serial", "product_uuid", "board_serial_number"})
#: Where the host's firmware keeps its serials (root-only); scrubbed wherever they appear.
DMI_SERIALS = tuple(f"/sys/class/dmi/id/{n}" for n in ("product_serial", "board_serial",
                                                       "chassis_serial", "product_uuid"))
#: Values firmware and tools print instead of a serial.
NOT_SERIALS = frozenset({"", "n/a", "[n/a]", "na", "none", "null", "not specified",
                         "to be filled by o.e.m.", "default string", "unknown",
                         "not available", "not applicable", "system serial number",
                         "chassis serial number", "0123456789", "not supported",
                         "[not supported]", "redacted"})
#: Files where a word equal to the hostname is something else (a user, group, module, package
#: or distribution name); changing it there would change the diagnosis.
HOSTNAME_EXEMPT = frozenset({"/etc/passwd", "/etc/group", "/etc/os-release",
                             "/usr/lib/os-release", "/proc/modules", "/proc/devices",
                             "/var/lib/dpkg/status", "/var/log/dpkg.log"})
#: Names the machine did not choose for itself.
GENERIC_HOSTNAMES = frozenset({"localhost", "localhost.localdomain", "localdomain", "(none)",
                               "docker-desktop", "redacted-hostname"})
#: Stand-ins start with this, so re-capturing a snapshot keeps them as they are.
STAND_IN_UUID = "00000000-0000-0000-0000-"
#: Real unique_ids are 64-bit chip identifiers; small numbers are stand-ins or none.
MIN_UNIQUE_ID = 0x10000
REDACTED = "REDACTED"
REDACTED_HOSTNAME = "REDACTED-HOSTNAME"


def _is_serial(value: str) -> bool:
    """A value worth hiding: a token with a digit, not a placeholder such as `N/A`."""
    value = value.strip()
    if len(value) < 4 or value.lower() in NOT_SERIALS or value.startswith(REDACTED):
        return False
    if any(c.isspace() for c in value) or not any(c.isdigit() for c in value):
        return False
    return len(set(value.replace("-", "").replace(":", ""))) > 1


class Redactor:
    """Finds the host's identities and secrets, and replaces them everywhere consistently."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self.hostnames: set[str] = set()
        self.serials: dict[str, str] = {}
        self.uuids: dict[str, str] = {}
        self.unique_ids: dict[int, int] = {}
        self.found: set[tuple[str, str]] = set()
        self._hostname_re: re.Pattern[str] | None = None
        self._serial_re: re.Pattern[str] | None = None
        self._compiled = False

    # ----- learning -----------------------------------------------------------------------------
    def learn_hostname(self, name: str | None) -> None:
        name = (name or "").strip().rstrip(".")
        if not name or name.lower() in GENERIC_HOSTNAMES or len(name) < 2:
            return
        self.hostnames.add(name)
        short = name.split(".", 1)[0]
        if short != name and len(short) >= 2 and short.lower() not in GENERIC_HOSTNAMES:
            self.hostnames.add(short)

    def learn_serial(self, value: str | None) -> None:
        value = (value or "").strip()
        if _is_serial(value) and value not in self.serials:
            self.serials[value] = f"{REDACTED}-SERIAL-{len(self.serials) + 1}"

    def learn_unique_id(self, value: int) -> None:
        if value >= MIN_UNIQUE_ID and value not in self.unique_ids:
            self.unique_ids[value] = len(self.unique_ids) + 1

    def learn_from_text(self, text: str, name: str = "") -> None:
        """Serials and unique ids a file or an output states about itself."""
        if name in SERIAL_FILES:
            self.learn_serial(text)
        elif name == "unique_id":
            try:
                self.learn_unique_id(int(text.strip(), 16))
            except ValueError:
                pass
        if "erial" in text:
            for match in _SERIAL_VALUE.finditer(text):
                self.learn_serial(match.group(1))
            for match in _SERIAL_XML.finditer(text):
                self.learn_serial(match.group(1))
        if "nique" in text:
            for match in _UNIQUE_ID_LINE.finditer(text):
                self.learn_unique_id(int(match.group(2)))
            for match in _UNIQUE_ID_VALUE.finditer(text):
                raw = match.group(2)
                self.learn_unique_id(int(raw, 16) if raw.lower().startswith("0x") else int(raw))
        for match in _AMD_GPU_ID.finditer(text):
            self.learn_unique_id(int(match.group(1), 16))

    def learn_json(self, value: Any) -> None:
        for text in _strings(value):
            self.learn_from_text(text)

    def _compile(self) -> None:
        """Build the patterns of what was learnt; learning ends with the first replacement."""
        self._compiled = True
        names = sorted(self.hostnames, key=len, reverse=True)
        self._hostname_re = re.compile(
            r"(?i)(?<![A-Za-z0-9_-])(?:" + "|".join(map(re.escape, names)) + r")(?![A-Za-z0-9_-])"
        ) if names else None
        serials = sorted(self.serials, key=len, reverse=True)
        self._serial_re = re.compile(
            r"(?<![A-Za-z0-9])(?:" + "|".join(map(re.escape, serials)) + r")(?![A-Za-z0-9])"
        ) if serials else None

    # ----- replacing ----------------------------------------------------------------------------
    def _gpu_uuid(self, match: re.Match[str], where: str) -> str:
        prefix, key = match.group(1), match.group(2).lower()
        if key.startswith(STAND_IN_UUID):
            return match.group(0)
        if key not in self.uuids:
            self.uuids[key] = f"{STAND_IN_UUID}{len(self.uuids) + 1:012x}"
        return self._hit("GPU UUID", where, f"{prefix}-{self.uuids[key]}")

    def _amd_gpu_id(self, match: re.Match[str], where: str) -> str:
        value = int(match.group(1), 16)
        if value < MIN_UNIQUE_ID:
            return match.group(0)
        return self._hit("GPU UUID", where, f"GPU-{self._unique(value):016x}")

    def _unique(self, value: int) -> int:
        self.learn_unique_id(value)
        return self.unique_ids.get(value, value)

    def text(self, text: str, where: str, name: str = "", hostnames: bool = True) -> str:
        """Redact one text (a file's content, an output, a JSON string)."""
        if not self.enabled or not text:
            return text
        if not self._compiled:
            self._compile()
        out = text
        if "://" in out:
            out = _URL_CREDENTIALS.sub(lambda m: self._creds(m, where), out)
        out = redact_fields(out, lambda: self._hit("credentials", where, ""))
        if "-" in out:
            out = _GPU_UUID.sub(lambda m: self._gpu_uuid(m, where), out)
            out = _AMD_GPU_ID.sub(lambda m: self._amd_gpu_id(m, where), out)
        if name == "unique_id" and out.strip():
            try:
                value = int(out.strip(), 16)
            except ValueError:
                value = 0
            if value >= MIN_UNIQUE_ID:
                width = len(out.strip())
                out = f"{self._unique(value):0{width}x}" + out[len(out.rstrip()):]
                self._hit("serial number", where, "")
        if "unique" in out.lower():
            out = _UNIQUE_ID_LINE.sub(lambda m: self._unique_line(m, where), out)
            out = _UNIQUE_ID_VALUE.sub(lambda m: self._unique_value(m, where), out)
        if self._serial_re is not None:
            out = self._serial_re.sub(lambda m: self._hit("serial number", where,
                                                          self.serials[m.group(0)]), out)
        if hostnames and self._hostname_re is not None:
            out = self._hostname_re.sub(lambda m: self._hit("hostname", where,
                                                            REDACTED_HOSTNAME), out)
        return out

    def _hit(self, what: str, where: str, replacement: str) -> str:
        self.found.add((what, where))
        return replacement

    def _creds(self, match: re.Match[str], where: str) -> str:
        if match.group(2) == f"{REDACTED}@":
            return match.group(0)
        return self._hit("URL credentials", where, f"{match.group(1)}{REDACTED}@")

    def _unique_line(self, match: re.Match[str], where: str) -> str:
        value = int(match.group(2))
        if value < MIN_UNIQUE_ID:
            return match.group(0)
        return self._hit("serial number", where, f"{match.group(1)}{self._unique(value)}")

    def _unique_value(self, match: re.Match[str], where: str) -> str:
        raw = match.group(2)
        is_hex = raw.lower().startswith("0x")
        value = int(raw, 16) if is_hex else int(raw)
        if value < MIN_UNIQUE_ID:
            return match.group(0)
        new = self._unique(value)
        shown = f"0x{new:0{len(raw) - 2}x}" if is_hex else str(new)
        return self._hit("serial number", where, f"{match.group(1)}{shown}")

    def json(self, value: Any, where: str) -> Any:
        """Redact every string (keys included) of a JSON value."""
        if not self.enabled:
            return value
        if isinstance(value, str):
            return self.text(value, where)
        if isinstance(value, list):
            return [self.json(v, where) for v in value]
        if isinstance(value, dict):
            out = {}
            for k, v in value.items():
                secret, v = redact_json_value(str(k), v)
                if secret:
                    self._hit("credentials", where, "")
                out[self.text(str(k), where)] = v if secret else self.json(v, where)
            return out
        return value

    def env_value(self, name: str, value: str, where: str) -> str:
        """Environment values are replaced, except the few that only name paths or endpoints."""
        if not self.enabled:
            return value
        if name not in KEPT_ENV:
            return self._hit("environment value", f"{where} {name}", REDACTED)
        return self.text(value, f"{where} {name}")

    def path(self, path: str, near: str | None = None) -> str:
        """A member name (or a link target beside `near`): identities in it are replaced.

        Hostnames are left alone in the kernel's trees, whose names the kernel chose.
        """
        if not self.enabled:
            return path
        kernel = (near or path).startswith(("/sys/", "/proc/", "/dev/"))
        return self.text(path, near or path, hostnames=not kernel)

    def report(self) -> list[dict[str, str]]:
        return [{"what": what, "where": where} for what, where in sorted(self.found)]


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)


# ----- capture -----------------------------------------------------------------------------------
@dataclass
class Snapshot:
    """What `gpudoctor snapshot` wrote."""

    path: str
    size: int
    members: int
    seconds: float
    host_json: dict[str, Any]
    statuses: dict[str, str] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        doc = self.host_json
        return {
            "archive": self.path, "size_bytes": self.size, "members": self.members,
            "seconds": round(self.seconds, 3), "captured_at": doc.get("captured_at"),
            "captured_by": doc.get("captured_by"), "redaction": doc.get("redaction"),
            "redacted": doc.get("redacted", []), "unreadable": doc.get("unreadable", []),
            "omitted": doc.get("omitted", []), "checks": dict(self.statuses),
        }


def default_output(now: float | None = None, folder: str = ".") -> str:
    """gpudoctor-snapshot-DATE-TIME.tar.gz in folder (never the hostname), not overwriting."""
    stamp = datetime.fromtimestamp(now if now is not None else time.time())
    base = os.path.join(folder, f"gpudoctor-snapshot-{stamp:%Y%m%d-%H%M}")
    candidate, n = f"{base}.tar.gz", 2
    while os.path.lexists(candidate):
        candidate, n = f"{base}-{n}.tar.gz", n + 1
    return candidate


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _bounded(fn: Callable[[], Any], seconds: float) -> None:
    """Run fn in a daemon thread, giving up after seconds (a hung plan must not hang capture)."""
    done = threading.Event()

    def target() -> None:
        try:
            fn()
        except Exception:  # best effort: the plans are extra material for the archive
            pass
        finally:
            done.set()

    threading.Thread(target=target, daemon=True, name="snapshot:extra").start()
    done.wait(seconds)


def diagnose(recorder: RecordingHost, options: Any) -> tuple[Any, dict[str, str]]:
    """Run every check (and the planning of offered fixes) through the recorder."""
    from gpudoctor.report import Doctor

    doctor = Doctor(host=recorder, options=options)
    outcomes = doctor.run()
    doctor.report()  # the report's gpus and docker_run_args read facts of their own
    statuses = {o.id: o.result.status.value for o in outcomes}
    facts = doctor.facts
    limit = float(getattr(options, "check_timeout", 20.0) or 20.0)

    def daemon_state() -> None:
        # The daemon's info, version and containers belong in every snapshot (bug reports
        # ask for them), even when no check needed them.
        daemon = facts.docker
        if daemon.reachable and "containers" not in recorder.docker:
            try:
                recorder.docker_api("/containers/json?all=1", daemon.endpoint, 5.0)
            except DockerUnavailable:
                pass

    def plans() -> None:
        # `gpudoctor fix --dry-run --root SNAPSHOT` plans from the archive: planning is
        # read-only by the Fix contract, so record what it reads too.
        from gpudoctor.fixer import plan_fixes

        plan_fixes(doctor)

    if facts is not None:
        _bounded(daemon_state, limit)
        _bounded(plans, limit)
    return doctor, statuses


def _process_doc(proc: ProcessInfo, redactor: Redactor) -> dict[str, Any]:
    where = f"process {proc.pid} ({proc.name})"
    env = {k: redactor.env_value(k, v, f"{where} environment")
           for k, v in sorted(proc.env.items())}
    return {
        "pid": proc.pid, "ppid": proc.ppid, "uid": proc.uid,
        "name": redactor.text(proc.name, where), "exe": redactor.text(proc.exe, where),
        "cmdline": [redactor.text(a, where) for a in proc.cmdline],
        "env_path": redactor.text(proc.env_path, where) if proc.env_path is not None else None,
        "create_time": proc.create_time, "env": env,
    }


def _command_doc(name: str, result: CommandResult, redactor: Redactor) -> dict[str, Any]:
    where = f"command {name}"
    doc: dict[str, Any] = {
        "argv": [redactor.text(a, where) for a in result.argv],
        "returncode": result.returncode,
        "stdout": redactor.text(result.stdout, where),
        "stderr": redactor.text(result.stderr, where),
    }
    if result.missing:
        doc["missing"] = True
    if result.timed_out:
        doc["timed_out"] = True
        doc["timeout"] = result.timeout
    return doc


def _learn_identities(inner: Host, tree: Tree, recorder: RecordingHost,
                      redactor: Redactor) -> None:
    """Collect the values to replace before replacing anything, so all places agree."""
    for path in ("/proc/sys/kernel/hostname", "/etc/hostname"):
        text = inner.read_attr(path)
        if text:
            lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
            if lines and not lines[0].startswith("#"):
                redactor.learn_hostname(lines[0])
    info = recorder.docker.get("info")
    if isinstance(info, dict) and isinstance(info.get("Name"), str):
        redactor.learn_hostname(info["Name"])
    for path in DMI_SERIALS:
        redactor.learn_serial(inner.read_attr(path))
    for member in tree.members.values():
        if member.data is None or _public_data(member.path):
            continue
        try:
            text = member.data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        redactor.learn_from_text(text, posixpath.basename(member.path))
    for result in recorder.commands.values():
        redactor.learn_from_text(result.stdout)
        redactor.learn_from_text(result.stderr)
    redactor.learn_json(recorder.docker)


def _keep_read_fields_only(tree: Tree, recorder: RecordingHost, redactor: Redactor) -> None:
    """~/.docker/config.json keeps only what gpudoctor reads (logins, helpers and HTTP headers
    are not a host's facts and never leave it, even with --no-redact)."""
    docker_config = recorder.env.get("DOCKER_CONFIG")
    for member in tree.members.values():
        if member.kind == "file" and member.data is not None and \
                is_docker_client_config(member.path, docker_config):
            reduced = reduce_docker_client_config(member.data)
            if redactor.enabled and json.loads(reduced) != _json_or_none(member.data):
                redactor.found.add(("credentials", member.path))
            member.data = reduced


def _json_or_none(data: bytes) -> Any:
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        return None


def _public_data(path: str) -> bool:
    """Account, module, package and device-name tables: their words are not identities."""
    return path in HOSTNAME_EXEMPT or posixpath.basename(path) == "pci.ids"


def _redact_tree(tree: Tree, redactor: Redactor) -> list[Member]:
    members = []
    for member in tree.finish():
        name = redactor.path(member.path)
        if member.kind == "link":
            member.target = redactor.path(member.target, near=member.path)
        elif member.kind == "file" and member.data:
            try:
                text = member.data.decode("utf-8")
            except UnicodeDecodeError:
                text = None
            if text is not None:
                new = redactor.text(text, member.path, posixpath.basename(member.path),
                                    hostnames=not _public_data(member.path))
                if new != text:
                    member.data = new.encode("utf-8")
        member.path = name
        members.append(member)
    return members


def build_host_json(inner: Host, recorder: RecordingHost, tree: Tree, redactor: Redactor,
                    captured_at: float, statuses: dict[str, str]) -> dict[str, Any]:
    doc: dict[str, Any] = {"format": 1, "captured_at": _iso(captured_at),
                           "captured_by": f"gpudoctor {__version__}"}
    user = recorder.user()
    if user is not None:
        doc["user"] = {"name": user.name, "uid": user.uid, "gid": user.gid,
                       "groups": list(user.groups)}
        if user.home:
            doc["user"]["home"] = user.home
    if recorder.env:
        doc["env"] = {k: redactor.env_value(k, v, "environment")
                      for k, v in sorted(recorder.env.items())}
    nodes = dict(tree.device_nodes)
    for asked, st in recorder.devices.items():
        try:
            real = inner.realpath(asked)
        except HostError:
            real = asked
        if real not in nodes:
            nodes[asked] = {"type": st.kind, "major": st.major, "minor": st.minor,
                            "mode": st.mode_octal, "uid": st.uid, "gid": st.gid}
    doc["device_nodes"] = {redactor.path(p): nodes[p] for p in sorted(nodes)}
    procs = recorder.processes()
    if procs is not None:
        doc["processes"] = [_process_doc(p, redactor) for p in procs]
    captured_elsewhere = getattr(inner, "has_docker_capture", None)
    if inner.live or not callable(captured_elsewhere) or captured_elsewhere():
        if recorder.docker:
            doc["docker"] = {k: redactor.json(v, f"docker {k}")
                             for k, v in sorted(recorder.docker.items())}
        elif recorder.docker_errors:
            doc["docker"] = {"error": redactor.text(recorder.docker_errors[0], "docker error")}
    doc["commands"] = {name: _command_doc(name, res, redactor)
                       for name, res in sorted(recorder.commands.items())}
    doc["statuses"] = dict(statuses)
    doc["redaction"] = redactor.enabled
    doc["unreadable"] = [{"path": redactor.path(p), "reason": r}
                         for p, r in sorted(tree.unreadable.items())]
    doc["omitted"] = [{"path": redactor.path(p), "size": s, "reason": r}
                      for p, (s, r) in sorted(tree.omitted.items())]
    if tree.special:
        doc["special_files"] = {redactor.path(p): v for p, v in sorted(tree.special.items())}
    if tree.truncated:
        doc["truncated"] = list(tree.truncated)
    doc["redacted"] = redactor.report()
    return doc


def write_archive(output: str, members: list[Member], host_json: dict[str, Any],
                  mtime: float) -> int:
    """Write the gzip'd tar atomically (temp file beside it, then rename); returns its size."""
    import gzip
    import tarfile
    import tempfile

    folder = os.path.dirname(os.path.abspath(output))
    try:
        fd, tmp = tempfile.mkstemp(prefix=".gpudoctor-snapshot-", suffix=".partial", dir=folder)
    except OSError as exc:
        raise UserError(f"cannot write {output}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "wb") as raw, \
                gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=int(mtime)) as gz, \
                tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for member in members:
                info = tarfile.TarInfo(member.path.lstrip("/"))
                info.mtime = member.mtime
                info.uid, info.gid = max(member.uid, 0), max(member.gid, 0)
                payload = None
                if member.kind == "dir":
                    info.type, info.mode = tarfile.DIRTYPE, member.mode & 0o7777 or 0o755
                elif member.kind == "link":
                    info.type, info.linkname, info.mode = tarfile.SYMTYPE, member.target, 0o777
                else:
                    data = member.data or b""
                    info.mode, info.size, payload = member.mode & 0o777, len(data), io.BytesIO(data)
                tar.addfile(info, payload)
            body = (json.dumps(host_json, indent=1, sort_keys=False) + "\n").encode("utf-8")
            folder_info = tarfile.TarInfo(".gpudoctor")
            folder_info.type, folder_info.mode, folder_info.mtime = tarfile.DIRTYPE, 0o755, mtime
            tar.addfile(folder_info)
            info = tarfile.TarInfo(HOST_JSON)
            info.size, info.mode, info.mtime = len(body), 0o644, mtime
            tar.addfile(info, io.BytesIO(body))
        _replaceable(output)
        os.replace(tmp, output)
    except OSError as exc:
        _remove(tmp)
        raise UserError(f"cannot write {output}: {exc.strerror or exc}") from exc
    except BaseException:
        _remove(tmp)
        raise
    return os.path.getsize(output)


def _replaceable(output: str) -> None:
    """Refuse, at the last moment too, to rename the archive over a device, FIFO or folder."""
    from gpudoctor.host.regular import NotRegular, replaceable

    try:
        replaceable(output)
    except NotRegular as exc:
        raise UserError(f"refusing to write the snapshot to {output}: it is {exc.kind}") from None


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def take_snapshot(inner: Host, options: Any, output: str, redact: bool = True) -> Snapshot:
    """Diagnose `inner` once while recording, then write what was read to `output`."""
    started = time.monotonic()
    captured_at = inner.now()
    recorder = RecordingHost(inner)
    _doctor, statuses = diagnose(recorder, options)
    with recorder.lock:
        asked = {p: set(h) for p, h in recorder.paths.items()}
        contents = dict(recorder.contents)
    tree = Tree(inner, contents)
    # Reads first, so a file both read and merely listed keeps its content.
    for path in sorted(asked, key=lambda p: ("read" not in asked[p], p)):
        tree.capture(path, asked[path])
    redactor = Redactor(enabled=redact)
    _keep_read_fields_only(tree, recorder, redactor)
    if redact:
        _learn_identities(inner, tree, recorder, redactor)
    members = _redact_tree(tree, redactor)
    host_json = build_host_json(inner, recorder, tree, redactor, captured_at, statuses)
    size = write_archive(output, members, host_json, captured_at)
    return Snapshot(path=os.path.abspath(output), size=size, members=len(members) + 2,
                    seconds=time.monotonic() - started, host_json=host_json, statuses=statuses)

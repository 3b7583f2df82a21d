"""The one layer through which gpudoctor learns anything about a host.

Checks and facts never open host paths, run commands or list processes themselves: they ask
a Host, which answers the same questions from the live machine or from a host root (see
shared/design/host-root.md). Paths are always host-absolute strings such as "/sys/class/drm".
"""

from __future__ import annotations

import stat as stat_mod
from abc import ABC, abstractmethod

from gpudoctor import TYPE_CHECKING
from gpudoctor.errors import HostError
from gpudoctor.host.regular import NotRegular, read_regular
from gpudoctor.record import field, record

if TYPE_CHECKING:
    from typing import Any

#: Files larger than this are never read whole (snapshots copy nothing bigger either).
MAX_READ = 4 * 1024 * 1024


@record(frozen=True)
class FileStat:
    """What stat() says about a path, reduced to what the checks need."""

    kind: str  # "char", "block", "file", "dir", "link", "other"
    mode: int  # permission bits only (0o7777)
    uid: int
    gid: int
    size: int
    mtime: float
    major: int = 0
    minor: int = 0

    @property
    def mode_octal(self) -> str:
        return f"{self.mode:04o}"


@record(frozen=True)
class ProcessInfo:
    """A process that matters to the diagnosis (container engines and their helpers)."""

    pid: int
    ppid: int
    uid: int
    name: str
    exe: str
    cmdline: tuple[str, ...]
    env_path: str | None
    create_time: float | None
    env: dict[str, str] = field(default_factory=dict)


@record(frozen=True)
class CommandResult:
    """The outcome of running (or replaying) one command."""

    argv: tuple[str, ...]
    returncode: int | None
    stdout: str = ""
    stderr: str = ""
    missing: bool = False  # the executable is not installed
    timed_out: bool = False
    timeout: float | None = None

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.missing and not self.timed_out

    def describe_failure(self) -> str:
        """One line a person can read about why the command did not succeed."""
        cmd = " ".join(self.argv)
        if self.missing:
            return f"`{self.argv[0]}` is not installed"
        if self.timed_out:
            return f"`{cmd}` did not finish within {self.timeout:g} s"
        err = (self.stderr or self.stdout).strip().splitlines()
        tail = err[-1] if err else "no output"
        return f"`{cmd}` exited with status {self.returncode}: {tail}"


@record(frozen=True)
class UserInfo:
    """The person being diagnosed for (the invoking user, or SUDO_USER under sudo)."""

    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]
    home: str | None = None

    @property
    def is_root(self) -> bool:
        return self.uid == 0


def read_file(real: str, shown: str, limit: int) -> bytes:
    """Read `real` (a path on this machine) for the host path `shown`, as HostError on failure.

    Both host kinds read through here, so a missing, unreadable or oversized file is described
    the same way whether it comes from the live host or a root.
    """
    try:
        data = read_regular(real, limit)
    except FileNotFoundError as exc:
        raise HostError(shown, "does not exist") from exc
    except PermissionError as exc:
        raise HostError(shown, "permission denied") from exc
    except IsADirectoryError as exc:
        raise HostError(shown, "is a folder, not a file") from exc
    except NotRegular as exc:
        if exc.kind == "a folder":
            raise HostError(shown, "is a folder, not a file") from exc
        raise HostError(shown, f"is {exc.kind}, not a regular file: gpudoctor does not read "
                               "it (reading could wait forever)") from exc
    except OSError as exc:
        raise HostError(shown, exc.strerror or str(exc)) from exc
    if len(data) > limit:
        raise HostError(shown, f"is larger than {limit} bytes")
    return data


def kind_of(mode: int) -> str:
    """Name the file type bits of a st_mode."""
    if stat_mod.S_ISCHR(mode):
        return "char"
    if stat_mod.S_ISBLK(mode):
        return "block"
    if stat_mod.S_ISREG(mode):
        return "file"
    if stat_mod.S_ISDIR(mode):
        return "dir"
    if stat_mod.S_ISLNK(mode):
        return "link"
    return "other"


class Host(ABC):
    """Answers questions about one host, live or from a root."""

    #: "/" for the live host, else the root directory (or archive) being read.
    root: str
    #: True only for the machine gpudoctor runs on; fixes apply only there.
    live: bool

    # ----- files -------------------------------------------------------------------------------
    @abstractmethod
    def read_bytes(self, path: str, limit: int = MAX_READ) -> bytes:
        """Read a file; raise HostError when it is missing, unreadable or too large."""

    def read_text(self, path: str, limit: int = MAX_READ) -> str:
        return self.read_bytes(path, limit).decode("utf-8", errors="replace")

    def read_attr(self, path: str) -> str | None:
        """Read a small sysfs/procfs attribute, stripped; None when absent or unreadable."""
        try:
            return self.read_text(path, 65536).strip()
        except HostError:
            return None

    def read_optional(self, path: str, limit: int = MAX_READ) -> str | None:
        """Read a text file, or None when it does not exist (other errors still raise)."""
        if not self.exists(path) and not self.is_link(path):
            return None
        return self.read_text(path, limit)

    @abstractmethod
    def listdir(self, path: str) -> list[str]:
        """Names in a folder, sorted; [] when the folder does not exist."""

    @abstractmethod
    def readlink(self, path: str) -> str | None:
        """The target of a symbolic link, or None when path is not a link."""

    @abstractmethod
    def realpath(self, path: str) -> str:
        """The host-absolute path with every link resolved (inside the root for roots)."""

    @abstractmethod
    def stat(self, path: str, follow: bool = True) -> FileStat | None:
        """stat() of a path, or None when it does not exist."""

    def exists(self, path: str) -> bool:
        return self.stat(path) is not None

    def is_dir(self, path: str) -> bool:
        st = self.stat(path)
        return st is not None and st.kind == "dir"

    def is_link(self, path: str) -> bool:
        return self.readlink(path) is not None

    def device_node(self, path: str) -> FileStat | None:
        """What a device file really is: host.json's record in a root, else stat()."""
        return self.stat(path)

    def which(self, name: str, path_env: str | None = None) -> str | None:
        """Find an executable the way a shell would, in the given PATH or the host's."""
        search = path_env if path_env is not None else (self.getenv("PATH") or DEFAULT_PATH)
        for folder in search.split(":"):
            if not folder:
                continue
            candidate = f"{folder.rstrip('/')}/{name}"
            st = self.stat(candidate)
            if st is not None and st.kind == "file" and st.mode & 0o111:
                return candidate
        return None

    def find_program(self, program: str, path_env: str | None = None) -> str | None:
        """Where a configured program is, as exec would find it: a path with a slash is that
        file if it exists; a bare name is looked up in `path_env` (default: the host's PATH)."""
        if "/" in program:
            return program if self.exists(program) else None
        return self.which(program, path_env)

    # ----- everything that is not a file --------------------------------------------------------
    @abstractmethod
    def processes(self) -> list[ProcessInfo] | None:
        """Container engine processes and helpers; None when not captured."""

    @abstractmethod
    def run(self, name: str, argv: list[str], timeout: float = 10.0) -> CommandResult | None:
        """Run a read-only command (name is its stable key in host.json `commands`).

        Returns None when a root did not record it.
        """

    @abstractmethod
    def docker_api(self, path: str, endpoint: str | None = None, timeout: float = 5.0) -> Any:
        """GET a Docker Engine API path (/info, /version, /containers/json?all=1...).

        Raises DockerUnavailable with the client's message when the daemon cannot be asked.
        """

    @abstractmethod
    def user(self) -> UserInfo | None:
        """The person being diagnosed for; None when a root did not capture it."""

    @abstractmethod
    def getenv(self, name: str) -> str | None:
        """An environment variable of the person's session (None when unknown)."""

    @abstractmethod
    def now(self) -> float:
        """The time the diagnosis is about: now, or when a snapshot was captured."""

    def meta(self) -> dict[str, Any]:
        """Where the facts come from, for the report's `host` object."""
        return {"root": self.root}

    def describe(self) -> str:
        return "this host" if self.live else f"the host root {self.root}"

    # ----- concrete helpers both host kinds inherit (the fixes use them) ------------------------
    def link_target(self, path: str) -> str | None:
        """Where a symbolic link finally leads (every link resolved); None when `path` is not
        a link or cannot be followed."""
        try:
            if self.readlink(path) is None:
                return None
            return self.realpath(path)
        except HostError:
            return None

    def read_range(self, path: str, offset: int, limit: int = MAX_READ) -> bytes:
        """Up to `limit` bytes of a file from byte `offset` on: the new part of a growing log.

        Raises HostError like read_bytes. A host root's (unchanging) file goes through
        read_bytes; the live one is read from `offset` without reading what comes before.
        """
        if not self.live:
            st = self.stat(path)
            whole = max(st.size if st is not None else 0, offset + limit)
            return self.read_bytes(path, whole)[offset:offset + limit]
        try:
            return read_regular(path, limit, offset)[:limit]
        except FileNotFoundError as exc:
            raise HostError(path, "does not exist") from exc
        except OSError as exc:
            raise HostError(path, exc.strerror or str(exc)) from exc

    def read_only_mount(self, path: str) -> bool | None:
        """Whether the filesystem holding `path` is mounted read-only; None when unknown (a
        host root records no mounts)."""
        if not self.live:
            return None
        import os

        try:
            return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
        except OSError:
            return None

    def writable(self, path: str) -> bool | None:
        """Whether gpudoctor itself may write to `path` (access(2)); None for a host root."""
        if not self.live:
            return None
        import os

        return os.access(path, os.W_OK)


DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

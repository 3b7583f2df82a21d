"""RecordingHost: passes every question to the real host and writes down what was asked."""

from __future__ import annotations

import threading

from gpudoctor import TYPE_CHECKING
from gpudoctor.errors import DockerUnavailable
from gpudoctor.host.base import MAX_READ, CommandResult, FileStat, Host, ProcessInfo, UserInfo
from gpudoctor.host.rootfs import api_key

if TYPE_CHECKING:
    from typing import Any


class RecordingHost(Host):
    """Passes every question to another host and writes down what was asked and answered.

    A wrapper: it records files read, listings, resolutions, Docker API answers and
    environment variables asked, of a root being re-captured as well as of the live host.
    """


    def __init__(self, inner: Host):
        self.inner = inner
        self.root = inner.root
        self.live = inner.live
        self.lock = threading.Lock()
        self._once = threading.Lock()
        #: host path -> how it was asked: read, list, stat, lstat, resolve, device
        self.paths: dict[str, set[str]] = {}
        #: what read_bytes returned, per path asked (files up to MAX_READ)
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
        if len(data) <= MAX_READ:
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

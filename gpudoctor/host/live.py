"""The live host: the machine gpudoctor runs on."""

from __future__ import annotations

import os
import pwd
import time

from gpudoctor import TYPE_CHECKING
from gpudoctor.errors import DockerUnavailable, HostError
from gpudoctor.host import dockerapi
from gpudoctor.host.base import (
    MAX_READ,
    CommandResult,
    FileStat,
    Host,
    ProcessInfo,
    UserInfo,
    kind_of,
    read_file,
)

if TYPE_CHECKING:
    from typing import Any

#: Process names that matter to the diagnosis: container engines and what wraps them.
INTERESTING_PROCESSES = frozenset({
    "dockerd", "rootlesskit", "dockerd-rootless.sh", "containerd", "com.docker.backend",
    "com.docker.dev-envs", "docker-desktop", "qemu-system-x86_64", "podman",
    "nvidia-persistenced", "snapd", "crio", "kubelet",
})


def _stat_to_filestat(st: os.stat_result) -> FileStat:
    kind = kind_of(st.st_mode)
    major = minor = 0
    if kind in ("char", "block"):
        major, minor = os.major(st.st_rdev), os.minor(st.st_rdev)
    return FileStat(kind=kind, mode=st.st_mode & 0o7777, uid=st.st_uid, gid=st.st_gid,
                    size=st.st_size, mtime=st.st_mtime, major=major, minor=minor)


class LiveHost(Host):
    """Reads the real filesystem, runs real commands, asks the real daemon."""

    root = "/"
    live = True

    def __init__(self, env: dict[str, str] | None = None):
        self._env = dict(os.environ if env is None else env)

    def read_bytes(self, path: str, limit: int = MAX_READ) -> bytes:
        return read_file(path, path, limit)

    def listdir(self, path: str) -> list[str]:
        try:
            return sorted(os.listdir(path))
        except (FileNotFoundError, NotADirectoryError):
            return []
        except PermissionError as exc:
            raise HostError(path, "permission denied") from exc
        except OSError as exc:
            raise HostError(path, exc.strerror or str(exc)) from exc

    def readlink(self, path: str) -> str | None:
        try:
            return os.readlink(path)
        except OSError:
            return None

    def realpath(self, path: str) -> str:
        return os.path.realpath(path)

    def stat(self, path: str, follow: bool = True) -> FileStat | None:
        try:
            st = os.stat(path) if follow else os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise HostError(path, exc.strerror or str(exc)) from exc
        return _stat_to_filestat(st)

    def processes(self) -> list[ProcessInfo] | None:
        import psutil  # only the live host pays for psutil

        found: list[ProcessInfo] = []
        attrs = ["pid", "ppid", "uids", "name", "exe", "cmdline", "create_time"]
        for proc in psutil.process_iter(attrs, ad_value=None):
            info = proc.info
            name = info.get("name") or ""
            cmdline = tuple(info.get("cmdline") or ())
            base = os.path.basename(cmdline[0]) if cmdline else ""
            if name not in INTERESTING_PROCESSES and base not in INTERESTING_PROCESSES:
                continue
            env: dict[str, str] = {}
            try:
                env = proc.environ()
            except (psutil.Error, OSError):
                env = {}
            uids = info.get("uids")
            found.append(ProcessInfo(
                pid=info["pid"], ppid=info.get("ppid") or 0,
                uid=uids.real if uids is not None else -1,
                name=name or base, exe=info.get("exe") or "", cmdline=cmdline,
                env_path=env.get("PATH"), create_time=info.get("create_time"),
                env={k: v for k, v in env.items() if k in ("PATH", "XDG_CONFIG_HOME",
                                                           "XDG_RUNTIME_DIR", "HOME",
                                                           "DOCKER_HOST")},
            ))
        return found

    def run(self, name: str, argv: list[str], timeout: float = 10.0) -> CommandResult | None:
        from gpudoctor.host.changes import execute

        return execute(argv, timeout, env=self._env)

    def docker_api(self, path: str, endpoint: str | None = None, timeout: float = 5.0) -> Any:
        return dockerapi.get_json(endpoint or dockerapi.DEFAULT_ENDPOINT, path, timeout)

    def user(self) -> UserInfo | None:
        uid = os.getuid()
        sudo_user = self._env.get("SUDO_USER") if uid == 0 else None
        try:
            entry = pwd.getpwnam(sudo_user) if sudo_user else pwd.getpwuid(uid)
        except KeyError:
            return UserInfo(name=str(uid), uid=uid, gid=os.getgid(), groups=tuple(os.getgroups()))
        if sudo_user:
            groups = tuple(os.getgrouplist(entry.pw_name, entry.pw_gid))
        else:
            groups = tuple(sorted(set(os.getgroups()) | {os.getgid()}))
        return UserInfo(name=entry.pw_name, uid=entry.pw_uid, gid=entry.pw_gid,
                        groups=groups, home=entry.pw_dir)

    def getenv(self, name: str) -> str | None:
        return self._env.get(name)

    def now(self) -> float:
        return time.time()


__all__ = ["DockerUnavailable", "LiveHost"]

"""A host root: a directory laid out like `/`, plus `.gpudoctor/host.json` (host-root.md)."""

from __future__ import annotations

import json
import os
import threading
from datetime import datetime

from gpudoctor import TYPE_CHECKING
from gpudoctor.errors import DockerUnavailable, HostError, UserError
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

MAX_LINKS = 40
HOST_JSON = ".gpudoctor/host.json"


def _parse_time(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def load_host_json(root: str) -> dict[str, Any]:
    """Read and sanity-check host.json; a broken one is the person's input, so UserError."""
    path = os.path.join(root, HOST_JSON)
    from gpudoctor.host.regular import read_regular

    try:
        raw = read_regular(path, MAX_READ)
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if len(raw) > MAX_READ:
        raise UserError(f"{path} is larger than {MAX_READ} bytes")
    try:
        doc = json.loads(raw.decode("utf-8"))
    except RecursionError as exc:
        raise UserError(f"{path}: its JSON is nested too deeply to be a host.json") from exc
    except UnicodeDecodeError as exc:
        raise UserError(f"{path} is not UTF-8 text") from exc
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}: "
                        f"{exc.msg}") from exc
    if not isinstance(doc, dict):
        raise UserError(f"{path}: expected a JSON object, found {type(doc).__name__}")
    fmt = doc.get("format", 1)
    if fmt != 1:
        raise UserError(f"{path}: format {fmt!r} is not supported by this gpudoctor (it reads 1)")
    return doc


def api_key(path: str) -> str:
    """The host.json `docker` key holding the answer to an Engine API GET.

    /info -> info, /version -> version, /containers/json?all=1 -> containers, and any other path
    -> its segments joined by `_` (e.g. /containers/ID/json -> containers_ID_json). A version
    prefix such as /v1.41 is ignored.
    """
    parts = [p for p in path.split("?")[0].split("/") if p]
    if parts and parts[0].startswith("v1."):
        parts = parts[1:]
    joined = "_".join(parts)
    return {"containers_json": "containers"}.get(joined, joined)


class RootHost(Host):
    """Answers from files under a root directory, as if chrooted into it."""

    live = False

    def __init__(self, root: str, label: str | None = None, archive: str | None = None):
        if not os.path.isdir(root):
            raise UserError(f"host root {root} does not exist or is not a folder")
        self.root = os.path.abspath(root)
        self.label = label or self.root
        self.archive = archive
        self.doc = load_host_json(self.root)
        self._dir_cache: dict[str, str] = {}
        self._cache_lock = threading.Lock()
        self._device_nodes = self.doc.get("device_nodes") or {}
        if not isinstance(self._device_nodes, dict):
            raise UserError(f"{self.root}/{HOST_JSON}: `device_nodes` must be an object")

    # ----- path resolution (chroot semantics) ---------------------------------------------------
    def _resolve(self, path: str, follow_last: bool = True) -> str:
        """Map a host path to the real path under root, resolving links inside the root."""
        if not path.startswith("/"):
            path = "/" + path
        head, _, last = path.rstrip("/").rpartition("/")
        base = self._resolve_dir(head or "/")
        if not last or last == ".":
            return base
        if last == "..":
            return self._resolve_dir(path)
        return self._walk(base, [last], follow_last)

    def _resolve_dir(self, path: str) -> str:
        """Resolve a folder through its (cached) parent, so each folder is walked once."""
        cached = self._dir_cache.get(path)
        if cached is not None:
            return cached
        head, _, last = path.rstrip("/").rpartition("/")
        if not last:
            return self.root
        parent = self._resolve_dir(head or "/")
        resolved = self._walk(parent, [last], True)
        with self._cache_lock:
            self._dir_cache[path] = resolved
        return resolved

    def _walk(self, start: str, parts: list[str], follow_last: bool) -> str:
        root = self.root
        current = start[len(root):].strip("/").split("/") if start != root else []
        current = [c for c in current if c]
        stack = list(reversed(parts))
        links = 0
        while stack:
            comp = stack.pop()
            if comp in ("", "."):
                continue
            if comp == "..":
                if current:
                    current.pop()
                continue
            candidate = os.path.join(root, *current, comp)
            if (stack or follow_last) and os.path.islink(candidate):
                links += 1
                if links > MAX_LINKS:
                    raise HostError("/" + "/".join([*current, comp]), "too many levels of links")
                target = os.readlink(candidate)
                if target.startswith("/"):
                    current = []
                stack.extend(reversed([t for t in target.split("/") if t]))
            else:
                current.append(comp)
        return os.path.join(root, *current)

    def _host_path(self, real: str) -> str:
        rel = real[len(self.root):]
        return rel if rel.startswith("/") else "/" + rel

    # ----- files -------------------------------------------------------------------------------
    def read_bytes(self, path: str, limit: int = MAX_READ) -> bytes:
        return read_file(self._resolve(path), path, limit)

    def listdir(self, path: str) -> list[str]:
        real = self._resolve(path)
        try:
            return sorted(os.listdir(real))
        except (FileNotFoundError, NotADirectoryError):
            return []
        except PermissionError as exc:
            raise HostError(path, "permission denied") from exc

    def readlink(self, path: str) -> str | None:
        try:
            return os.readlink(self._resolve(path, follow_last=False))
        except OSError:
            return None

    def realpath(self, path: str) -> str:
        return self._host_path(self._resolve(path))

    def stat(self, path: str, follow: bool = True) -> FileStat | None:
        real = self._resolve(path, follow_last=follow)
        try:
            st = os.stat(real) if follow else os.lstat(real)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise HostError(path, exc.strerror or str(exc)) from exc
        return FileStat(kind=kind_of(st.st_mode), mode=st.st_mode & 0o7777, uid=st.st_uid,
                        gid=st.st_gid, size=st.st_size, mtime=st.st_mtime)

    def device_node(self, path: str) -> FileStat | None:
        entry = self._device_nodes.get(path)
        if entry is None:
            resolved = self.realpath(path)
            entry = self._device_nodes.get(resolved)
        if entry is None:
            return self.stat(path)
        if not isinstance(entry, dict):
            raise HostError(path, "its device_nodes entry in host.json is not an object")
        try:
            mode = int(str(entry.get("mode", "0")), 8)
            return FileStat(kind=str(entry.get("type", "char")), mode=mode,
                            uid=int(entry.get("uid", 0)), gid=int(entry.get("gid", 0)), size=0,
                            mtime=0.0, major=int(entry.get("major", 0)),
                            minor=int(entry.get("minor", 0)))
        except (TypeError, ValueError) as exc:
            raise HostError(path, f"its device_nodes entry in host.json is malformed: "
                                  f"{exc}") from exc

    # ----- facts that are not files ------------------------------------------------------------
    def processes(self) -> list[ProcessInfo] | None:
        raw = self.doc.get("processes")
        if raw is None:
            return None
        if not isinstance(raw, list):
            raise HostError(HOST_JSON, "`processes` must be a list")
        found = []
        for item in raw:
            if not isinstance(item, dict):
                continue
            cmdline = item.get("cmdline") or []
            raw_env = item.get("env")
            env = raw_env if isinstance(raw_env, dict) else {}
            found.append(ProcessInfo(
                pid=int(item.get("pid", 0)), ppid=int(item.get("ppid", 0)),
                uid=int(item.get("uid", -1)), name=str(item.get("name", "")),
                exe=str(item.get("exe", "")),
                cmdline=tuple(str(c) for c in cmdline) if isinstance(cmdline, list) else (),
                env_path=item.get("env_path"),
                create_time=float(item["create_time"]) if item.get("create_time") else None,
                env={str(k): str(v) for k, v in env.items()},
            ))
        return found

    def run(self, name: str, argv: list[str], timeout: float = 10.0) -> CommandResult | None:
        commands = self.doc.get("commands") or {}
        entry = commands.get(name) if isinstance(commands, dict) else None
        if not isinstance(entry, dict):
            return None
        rc = entry.get("returncode")
        return CommandResult(
            argv=tuple(entry.get("argv") or argv), returncode=rc if isinstance(rc, int) else None,
            stdout=str(entry.get("stdout", "")), stderr=str(entry.get("stderr", "")),
            missing=bool(entry.get("missing", False)), timed_out=bool(entry.get("timed_out")),
            timeout=entry.get("timeout"))

    def docker_api(self, path: str, endpoint: str | None = None, timeout: float = 5.0) -> Any:
        docker = self.doc.get("docker")
        if not isinstance(docker, dict):
            raise DockerUnavailable("the root did not capture the Docker daemon's state")
        if "error" in docker:
            raise DockerUnavailable(str(docker["error"]))
        key = api_key(path)
        if key not in docker:
            raise DockerUnavailable(f"the root did not capture the daemon's {path}")
        return docker[key]

    def has_docker_capture(self) -> bool:
        return isinstance(self.doc.get("docker"), dict)

    def user(self) -> UserInfo | None:
        raw = self.doc.get("user")
        if not isinstance(raw, dict):
            return None
        try:
            return UserInfo(name=str(raw.get("name", raw.get("uid", "?"))), uid=int(raw["uid"]),
                            gid=int(raw["gid"] if "gid" in raw else raw["uid"]),
                            groups=tuple(int(g) for g in raw.get("groups", [])),
                            home=raw.get("home"))
        except (KeyError, TypeError, ValueError) as exc:
            raise HostError(HOST_JSON, f"`user` is malformed: {exc}") from exc

    def getenv(self, name: str) -> str | None:
        env = self.doc.get("env")
        if isinstance(env, dict) and name in env:
            return str(env[name])
        return None

    def now(self) -> float:
        captured = _parse_time(self.doc.get("captured_at"))
        if captured is not None:
            return captured
        import time

        return time.time()

    def meta(self) -> dict[str, Any]:
        meta: dict[str, Any] = {"root": self.archive or self.root}
        if self.archive or self.doc.get("captured_by", "").startswith("gpudoctor"):
            meta["snapshot"] = {
                "captured_at": self.doc.get("captured_at"),
                "captured_by": self.doc.get("captured_by"),
            }
        return meta

    def describe(self) -> str:
        if self.archive:
            return f"the snapshot {self.archive}"
        return f"the host root {self.root}"

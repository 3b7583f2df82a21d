"""Start a real, private dockerd for tests.

gpudoctor diagnoses what dockerd really does with daemon.json, its PATH and the
runtimes it finds, so tests run the real Debian docker.io daemon instead of mocks.
Each daemon gets its own socket, data root, exec root (and therefore its own managed
containerd), so several can run side by side without touching a system daemon.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import http.client
import io
import json
import os
import shutil
import signal
import socket as socketlib
import subprocess
import tarfile
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from tests.support.standins import install_standins, standin_dir

__all__ = [
    "DOCKERD_BIN",
    "DOCKER_CLI",
    "SYSTEM_PATH",
    "DockerCommandError",
    "Dockerd",
    "ensure_busybox_image",
    "install_standins",
    "pid_alive",
    "standin_dir",
    "start_dockerd",
]


def _pick_binary(env_var: str, preferred: Sequence[str], name: str) -> str:
    """Choose a binary explicitly: the env override, then the Debian path, then PATH.

    The explicit choice matters because /usr/local/bin/docker (a v28 client) may
    shadow Debian's 20.10 client that matches the daemon under test.
    """
    override = os.environ.get(env_var)
    if override:
        return override
    for candidate in preferred:
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which(name) or preferred[0]


DOCKER_CLI: str = _pick_binary("GPUDOCTOR_TEST_DOCKER_CLI", ["/usr/bin/docker"], "docker")
DOCKERD_BIN: str = _pick_binary("GPUDOCTOR_TEST_DOCKERD", ["/usr/sbin/dockerd"], "dockerd")

#: The "normal" PATH handed to dockerd after any extra dirs. It deliberately does not
#: come from the caller's environment, so a test decides exactly what dockerd can find.
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

#: AF_UNIX paths are limited to 107 bytes. The longest path dockerd/containerd create
#: under the exec root is about this long, so longer bases get a short /tmp/gd-* dir.
_EXEC_ROOT_SUFFIX_BUDGET = 60
_UNIX_PATH_MAX = 107

#: Flags we pass whose daemon.json key would clash ("specified both as a flag and in
#: the configuration file"). When a test's config sets one of these keys we drop our
#: flag so the test's value wins; isolation flags (host, roots, pidfile) always stay.
_OPTIONAL_FLAGS: dict[str, str] = {
    "iptables": "--iptables=false",
    "ip6tables": "--ip6tables=false",
    "bridge": "--bridge=none",
    "storage-driver": "--storage-driver=vfs",
}

# Environment variables that would redirect the docker CLI or confuse dockerd.
_SCRUBBED_ENV = (
    "DOCKER_HOST",
    "DOCKER_CONTEXT",
    "DOCKER_TLS_VERIFY",
    "DOCKER_CERT_PATH",
    "DOCKER_API_VERSION",
    "DOCKER_CONFIG",
    "NOTIFY_SOCKET",
)


class DockerCommandError(subprocess.CalledProcessError):
    """A failed docker CLI call whose message shows stderr, so test failures explain themselves."""

    def __str__(self) -> str:
        return (
            f"{super().__str__()}\n--- stdout ---\n{self.stdout or ''}"
            f"\n--- stderr ---\n{self.stderr or ''}"
        )


class _UnixHTTPConnection(http.client.HTTPConnection):
    """http.client over AF_UNIX: talk to the daemon without the CLI or third-party libs."""

    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socketlib.socket(socketlib.AF_UNIX, socketlib.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def _set_pdeathsig() -> None:
    """Make dockerd get SIGTERM if the test process dies without running atexit."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)


def pid_alive(pid: int) -> bool:
    """True if pid exists and is not a zombie (reaping of orphans here can lag)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as fh:
            stat = fh.read()
    except OSError:
        return False
    state = stat.rsplit(")", 1)[-1].split()[0]
    return state not in ("Z", "X")


def _proc_table() -> dict[int, tuple[int, str]]:
    """Map pid -> (ppid, cmdline) for every process we can read."""
    table: dict[int, tuple[int, str]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as fh:
                ppid = int(fh.read().rsplit(")", 1)[-1].split()[1])
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmdline = fh.read().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ValueError, IndexError):
            continue
        table[pid] = (ppid, cmdline)
    return table


def _descendants(roots: set[int], table: dict[int, tuple[int, str]]) -> set[int]:
    """All processes below roots (roots included), to catch container processes too."""
    found = set(roots)
    changed = True
    while changed:
        changed = False
        for pid, (ppid, _cmd) in table.items():
            if ppid in found and pid not in found:
                found.add(pid)
                changed = True
    return found


def _wait_gone(pids: set[int], timeout: float) -> set[int]:
    """Wait until pids are dead; return the ones still alive."""
    deadline = time.monotonic() + timeout
    alive = {p for p in pids if pid_alive(p)}
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = {p for p in alive if pid_alive(p)}
    return alive


def _lazy_unmount_under(paths: Sequence[Path]) -> None:
    """Detach leftover mounts (e.g. netns bind mounts) so directories can be removed."""
    prefixes = [str(p).rstrip("/") + "/" for p in paths]
    try:
        with open("/proc/self/mountinfo", encoding="utf-8") as fh:
            points = [line.split()[4] for line in fh]
    except OSError:
        return
    for point in sorted(points, key=len, reverse=True):
        if any((point + "/").startswith(prefix) for prefix in prefixes):
            subprocess.run(["umount", "-l", point], capture_output=True, check=False)


@dataclass(eq=False)
class Dockerd:
    """One private dockerd (plus the containerd it manages) rooted under ``base``."""

    base: Path
    socket: Path
    host: str
    config_file: Path
    data_root: Path
    exec_root: Path
    pidfile: Path
    path_env: str
    proc: subprocess.Popen[bytes] | None = None
    log_file: Path = field(default=Path())
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    run_dir: Path = field(default=Path())
    _log_offset: int = 0

    # ------------------------------------------------------------------ lifecycle
    def start(self, timeout: float = 60) -> None:
        """Start dockerd and wait until GET /_ping answers OK; raise with the log tail otherwise."""
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError(f"dockerd already running (pid {self.proc.pid})")
        for directory in (self.base, self.run_dir, self.data_root, self.exec_root):
            directory.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.socket.unlink()
        self._log_offset = self.log_file.stat().st_size if self.log_file.exists() else 0
        with open(self.log_file, "ab") as log:
            try:
                self.proc = self._spawn(log)
            except OSError as exc:
                raise RuntimeError(f"cannot execute {DOCKERD_BIN}: {exc}") from exc
        _LIVE[id(self)] = self
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                code = self.proc.returncode
                self._cleanup_processes(kill_timeout=1)
                _lazy_unmount_under([self.data_root, self.exec_root])
                _LIVE.pop(id(self), None)
                raise RuntimeError(
                    f"{DOCKERD_BIN} exited with code {code} during startup "
                    f"(config {self.config_file}); log tail:\n{self._log_tail()}"
                )
            if self.socket.exists() and self.is_healthy(timeout=2):
                return
            if time.monotonic() > deadline:
                self.stop(timeout=5)
                raise RuntimeError(
                    f"dockerd did not answer /_ping within {timeout}s; "
                    f"log tail:\n{self._log_tail()}"
                )
            time.sleep(0.1)

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM dockerd, SIGKILL if it hangs, then kill its containerd and shims."""
        proc = self.proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                proc.wait(timeout=10)
        self._cleanup_processes(kill_timeout=1)
        # dockerd bind-mounts its data root onto itself and undoes that only on a clean
        # shutdown; after a SIGKILL the mount would pin the directory (EBUSY on rmtree).
        _lazy_unmount_under([self.data_root, self.exec_root])
        _LIVE.pop(id(self), None)

    def restart(self) -> None:
        """Stop and start again (a config change needing a full restart, like systemctl restart)."""
        self.stop()
        self.start()

    def reload(self, wait: bool = True, timeout: float = 15) -> None:
        """Send SIGHUP (as `systemctl reload docker` does); by default wait until it is handled.

        dockerd logs "Reloaded configuration" on success and "Error reconfiguring the
        daemon" / "unable to configure" on failure; waiting for either keeps tests deterministic.
        """
        if self.proc is None or self.proc.poll() is not None:
            raise RuntimeError("dockerd is not running")
        offset = self.log_file.stat().st_size
        self.proc.send_signal(signal.SIGHUP)
        if not wait:
            return
        markers = ("Reloaded configuration", "Error reconfiguring", "unable to configure")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with open(self.log_file, "rb") as fh:
                fh.seek(offset)
                new = fh.read().decode(errors="replace")
            if any(marker in new for marker in markers):
                return
            time.sleep(0.05)
        raise RuntimeError(
            f"dockerd did not log a reload result within {timeout}s:\n{self._log_tail()}"
        )

    @property
    def pid(self) -> int | None:
        """dockerd's pid while it runs, else None."""
        if self.proc is not None and self.proc.poll() is None:
            return self.proc.pid
        return None

    # ------------------------------------------------------------------ talking to it
    def api(
        self, method: str, path: str, body: Any = None, timeout: float = 30
    ) -> tuple[int, bytes]:
        """Raw Engine API request over the unix socket; returns (status, body bytes)."""
        conn = _UnixHTTPConnection(str(self.socket), timeout=timeout)
        try:
            headers = {"Host": "docker"}
            payload: bytes | None = None
            if body is not None:
                payload = json.dumps(body).encode()
                headers["Content-Type"] = "application/json"
            conn.request(method, path, body=payload, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def is_healthy(self, timeout: float = 5) -> bool:
        """True if GET /_ping answers 200 "OK"."""
        try:
            status, body = self.api("GET", "/_ping", timeout=timeout)
        except (OSError, http.client.HTTPException):
            return False
        return status == 200 and body.strip() == b"OK"

    def info(self) -> dict[str, Any]:
        """GET /info as JSON: what `docker info` shows, without depending on the CLI."""
        status, body = self.api("GET", "/info", timeout=30)
        if status != 200:
            raise RuntimeError(f"GET /info answered {status}: {body[:500]!r}")
        result: dict[str, Any] = json.loads(body)
        return result

    def cli_env(self) -> dict[str, str]:
        """Environment for the docker CLI: this daemon only, private CLI config dir."""
        env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
        env["DOCKER_HOST"] = self.host
        env["DOCKER_CONFIG"] = str(self.base / "cli-config")
        return env

    def docker(
        self,
        *args: str,
        check: bool = True,
        timeout: float = 120,
        input: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run the docker CLI (DOCKER_CLI) against this daemon; text mode, output captured."""
        (self.base / "cli-config").mkdir(parents=True, exist_ok=True)
        cmd = [DOCKER_CLI, *args]
        result = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
            env=self.cli_env(),
            check=False,
        )
        if check and result.returncode != 0:
            raise DockerCommandError(result.returncode, cmd, result.stdout, result.stderr)
        return result

    def log_text(self) -> str:
        """dockerd's own log (stdout+stderr, all starts) so far."""
        try:
            return self.log_file.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def leftover_processes(self) -> list[str]:
        """Live processes still referring to this daemon's dirs ("pid cmdline"); [] after stop()."""
        markers = (str(self.exec_root) + "/", str(self.socket), str(self.data_root) + "/")
        if self.proc is not None and pid_alive(self.proc.pid):
            return [f"{self.proc.pid} dockerd"]
        return [
            f"{pid} {cmd}"
            for pid, (_pp, cmd) in _proc_table().items()
            if any(m in cmd for m in markers) and pid_alive(pid) and pid != os.getpid()
        ]

    # ------------------------------------------------------------------ internals
    def _spawn(self, log: IO[bytes]) -> subprocess.Popen[bytes]:
        """Launch dockerd in its own session so signals to the test runner do not hit it."""
        return subprocess.Popen(
            [DOCKERD_BIN, *self.args],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.env,
            cwd=self.base,
            start_new_session=True,
            # PDEATHSIG is per creating thread; fixtures start daemons from the main thread.
            preexec_fn=_set_pdeathsig,
        )

    def _log_tail(self, lines: int = 40) -> str:
        """Log lines written by the latest start, last `lines` of them."""
        try:
            with open(self.log_file, "rb") as fh:
                fh.seek(self._log_offset)
                text = fh.read().decode(errors="replace")
        except FileNotFoundError:
            return "(no log file)"
        return "\n".join(text.splitlines()[-lines:]) or "(log empty)"

    def _cleanup_processes(self, kill_timeout: float) -> None:
        """Kill whatever this daemon left: containerd, shims and their containers."""
        markers = (str(self.exec_root) + "/", str(self.socket))
        table = _proc_table()
        roots: set[int] = set()
        pidfile = self.exec_root / "containerd" / "containerd.pid"
        with contextlib.suppress(OSError, ValueError):
            roots.add(int(pidfile.read_text().strip()))
        if self.proc is not None:
            roots.add(self.proc.pid)
        roots |= {pid for pid, (_pp, cmd) in table.items() if any(m in cmd for m in markers)}
        roots.discard(os.getpid())
        roots = {p for p in roots if p in table}
        if not roots:
            return
        victims = _descendants(roots, table) - {os.getpid()}
        # containerd first with SIGTERM so it can tidy up, then everything with SIGKILL.
        for pid in victims:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGTERM)
        left = _wait_gone(victims, timeout=kill_timeout)
        for pid in left:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        _wait_gone(left, timeout=5)
        if self.proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=1)


# Daemons started in this process; atexit stops them even if a test crashed.
_LIVE: dict[int, Dockerd] = {}
_SHORT_DIRS: list[Path] = []


@atexit.register
def _stop_all_daemons() -> None:
    """Last line of defence: no dockerd/containerd survives the test session."""
    for daemon in list(_LIVE.values()):
        with contextlib.suppress(Exception):
            daemon.stop(timeout=5)
    for short in _SHORT_DIRS:
        _lazy_unmount_under([short])
        shutil.rmtree(short, ignore_errors=True)


def _config_keys(config: dict[str, Any] | str | None) -> set[str]:
    """Top-level daemon.json keys, if the text parses; malformed configs give none."""
    if isinstance(config, dict):
        return set(config)
    if isinstance(config, str):
        try:
            parsed = json.loads(config)
        except ValueError:
            return set()
        return set(parsed) if isinstance(parsed, dict) else set()
    return set()


def start_dockerd(
    base: Path,
    config: dict[str, Any] | str | None = None,
    extra_path: Sequence[Path] = (),
    extra_args: Sequence[str] = (),
    env: dict[str, str] | None = None,
) -> Dockerd:
    """Create a private daemon layout under base, start dockerd, and return it running.

    config: dict -> written as JSON; str -> written verbatim (malformed files welcome);
    None -> "{}". extra_path dirs come before SYSTEM_PATH on dockerd's PATH, which is what
    decides whether dockerd 20.10 registers the --gpus "nvidia" driver at startup.
    Raises RuntimeError with dockerd's log tail when the daemon does not come up.
    """
    base = Path(base).resolve()
    base.mkdir(parents=True, exist_ok=True)
    if len(str(base)) + _EXEC_ROOT_SUFFIX_BUDGET > _UNIX_PATH_MAX:
        # Sockets under the exec root (containerd.sock.ttrpc, libnetwork/*.sock) must fit
        # in sun_path, so long bases get a short sibling dir linked from base/run.
        run_dir = Path(tempfile.mkdtemp(prefix="gd-", dir="/tmp"))
        _SHORT_DIRS.append(run_dir)
        link = base / "run"
        with contextlib.suppress(FileNotFoundError):
            link.unlink()
        link.symlink_to(run_dir)
    else:
        run_dir = base / "run"
        run_dir.mkdir(exist_ok=True)
    sock = run_dir / "docker.sock"
    exec_root = run_dir / "exec"
    data_root = base / "data"
    pidfile = base / "dockerd.pid"
    config_file = base / "daemon.json"
    if isinstance(config, dict):
        config_file.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    elif isinstance(config, str):
        config_file.write_text(config, encoding="utf-8")
    else:
        config_file.write_text("{}\n", encoding="utf-8")

    path_env = os.pathsep.join([*(str(Path(p)) for p in extra_path), SYSTEM_PATH])
    daemon_env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
    if env:
        daemon_env.update(env)
    daemon_env["PATH"] = path_env

    keys = _config_keys(config)
    args = [
        f"--host=unix://{sock}",
        f"--data-root={data_root}",
        f"--exec-root={exec_root}",
        f"--pidfile={pidfile}",
        f"--config-file={config_file}",
        *(flag for key, flag in _OPTIONAL_FLAGS.items() if key not in keys),
        *extra_args,
    ]
    daemon = Dockerd(
        base=base,
        socket=sock,
        host=f"unix://{sock}",
        config_file=config_file,
        data_root=data_root,
        exec_root=exec_root,
        pidfile=pidfile,
        path_env=path_env,
        proc=None,
        log_file=base / "dockerd.log",
        args=args,
        env=daemon_env,
        run_dir=run_dir,
    )
    daemon.start()
    return daemon


# ---------------------------------------------------------------------- busybox image
BUSYBOX_BIN = Path("/bin/busybox")
DEFAULT_BUSYBOX_TAG = "gpudoctor-test/busybox:latest"

_PASSWD = """\
root:x:0:0:root:/root:/bin/sh
gpuuser:x:1000:1000:gpudoctor test user:/home/gpuuser:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
"""
# video 44 / render 109 match AMD's ROCm images, where --group-add of the host's
# render GID is a classic source of "permission denied" on /dev/dri/renderD*.
_GROUP = """\
root:x:0:
video:x:44:
render:x:109:
gpuuser:x:1000:
nogroup:x:65534:
"""
# Applets tests rely on; the full `busybox --list` is added on top when available.
_REQUIRED_APPLETS = (
    *("sh", "ls", "cat", "id", "stat", "test", "echo", "sleep", "grep", "head", "wc"),
    *("mknod", "chmod", "touch", "true", "false", "env", "printf", "cut", "awk", "sed"),
    *("ps", "kill", "mkdir", "rm", "cp", "mv", "ln", "readlink", "find", "tail", "tr"),
    "uname",
)

_tar_lock = threading.Lock()
_tar_cache: Path | None = None
_TAR_DIR: Path | None = None


def _busybox_applets() -> list[str]:
    """Applet names from the static busybox, falling back to the required list."""
    try:
        out = subprocess.run(
            [str(BUSYBOX_BIN), "--list"], capture_output=True, text=True, check=True, timeout=10
        ).stdout
    except (OSError, subprocess.SubprocessError):
        out = ""
    names = {n.strip() for n in out.split() if n.strip() and "/" not in n}
    names.update(_REQUIRED_APPLETS)
    names.discard("busybox")
    return sorted(names)


def _add_dir(tar: tarfile.TarFile, name: str, mode: int = 0o755) -> None:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = mode
    info.mtime = 0
    tar.addfile(info)


def _add_text(tar: tarfile.TarFile, name: str, text: str, mode: int = 0o644) -> None:
    data = text.encode()
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    info.mtime = 0
    tar.addfile(info, io.BytesIO(data))


def busybox_rootfs_tar() -> Path:
    """Build (once per session) a tiny rootfs tarball from the host's static busybox."""
    global _tar_cache, _TAR_DIR
    with _tar_lock:
        if _tar_cache is not None and _tar_cache.exists():
            return _tar_cache
        if not BUSYBOX_BIN.exists():
            raise RuntimeError(f"{BUSYBOX_BIN} missing: apt-get install busybox-static")
        if _TAR_DIR is None:
            _TAR_DIR = Path(tempfile.mkdtemp(prefix="gd-img-"))
            atexit.register(shutil.rmtree, _TAR_DIR, True)
        out = _TAR_DIR / "busybox-rootfs.tar"
        tmp = out.with_suffix(".tmp")
        with tarfile.open(tmp, "w", format=tarfile.GNU_FORMAT) as tar:
            dirs = ("bin", "etc", "dev", "proc", "sys", "usr", "usr/bin", "root", "home", "var")
            for d in (*dirs, "home/gpuuser"):
                _add_dir(tar, d, 0o700 if d == "root" else 0o755)
            _add_dir(tar, "tmp", 0o1777)
            _add_dir(tar, "var/tmp", 0o1777)
            bb = tar.gettarinfo(str(BUSYBOX_BIN), arcname="bin/busybox")
            bb.uid = bb.gid = 0
            bb.uname = bb.gname = "root"
            bb.mode = 0o755
            with open(BUSYBOX_BIN, "rb") as fh:
                tar.addfile(bb, fh)
            for applet in _busybox_applets():
                link = tarfile.TarInfo(f"bin/{applet}")
                link.type = tarfile.SYMTYPE
                link.linkname = "busybox"
                link.mode = 0o777
                link.mtime = 0
                tar.addfile(link)
            _add_text(tar, "etc/passwd", _PASSWD)
            _add_text(tar, "etc/group", _GROUP)
        tmp.replace(out)
        _tar_cache = out
        return out


def ensure_busybox_image(d: Dockerd, tag: str = DEFAULT_BUSYBOX_TAG) -> str:
    """Import the busybox rootfs as `tag` into d (no registry needed); no-op if present."""
    if d.docker("image", "inspect", tag, check=False).returncode == 0:
        return tag
    tar = busybox_rootfs_tar()
    d.docker("import", "--change", 'CMD ["/bin/sh"]', str(tar), tag)
    return tag

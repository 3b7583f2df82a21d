"""Real engines for the engine tests: Podman with its storage in a temporary folder, a private
containerd 1.6, and CDI specs written to /etc/cdi (Podman 4.3 has no --cdi-spec-dir) that are
always removed again.

Podman is configured through the files it documents for this (`CONTAINERS_STORAGE_CONF`,
`CONTAINERS_CONF`), not through gpudoctor flags: vfs storage under the test folder, cgroupfs,
file events, and the rlimits this machine accepts (it refuses Podman's default ones).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

from gpudoctor.host.base import ProcessInfo
from gpudoctor.host.live import LiveHost

BUSYBOX = "/bin/busybox"
IMAGE = "localhost/gpudoctor-busybox:latest"


def podman_env(base: Path, run_dir: Path) -> dict[str, str]:
    """Environment that points podman at a private store (what a person's podman would read).

    `run_dir` holds Podman's run-time state and must have a short path: conmon's sockets live
    under it, and below a long one (pytest's basetemp under xdist) Podman 4.3 waits out its
    20 s conmon timeout after every container before it learns the exit code."""
    base.mkdir(parents=True, exist_ok=True)
    storage = base / "storage.conf"
    storage.write_text(f'[storage]\ndriver = "vfs"\ngraphroot = "{base}/root"\n'
                       f'runroot = "{run_dir}/runroot"\n')
    conf = base / "containers.conf"
    conf.write_text('[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1000:1000"]\n'
                    '[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n'
                    f'events_logfile_path = "{base}/events.log"\n'
                    # its own run-time folder, not the machine's /run/libpod: test sessions
                    # running side by side never wait on each other's podman
                    f'tmp_dir = "{run_dir}/libpod-tmp"\n')
    env = dict(os.environ)
    env.update({"CONTAINERS_STORAGE_CONF": str(storage), "CONTAINERS_CONF": str(conf)})
    return env


def podman(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(["podman", *args], env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


def import_busybox(env: dict[str, str], base: Path) -> str:
    """A busybox image made from busybox-static, imported with `podman import`."""
    rootfs = base / "rootfs"
    for folder in ("bin", "dev", "etc", "proc", "sys", "tmp"):
        (rootfs / folder).mkdir(parents=True, exist_ok=True)
    shutil.copy2(BUSYBOX, rootfs / "bin/busybox")
    applets = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True, timeout=10,
                             check=True).stdout.split()
    for applet in applets:
        link = rootfs / "bin" / applet
        if applet != "busybox" and not link.exists():
            link.symlink_to("busybox")
    (rootfs / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n"
                                       "nobody:x:65534:65534:nobody:/:/bin/sh\n")
    (rootfs / "etc/group").write_text("root:x:0:\nnogroup:x:65534:\n")
    tar = base / "busybox.tar"
    with tarfile.open(tar, "w") as out:
        out.add(rootfs, arcname=".")
    done = podman(env, "import", "--change", "CMD=/bin/sh", str(tar), IMAGE)
    assert done.returncode == 0, done.stderr
    return IMAGE


@contextlib.contextmanager
def cdi_spec(text: str) -> Iterator[Path]:
    """A spec in /etc/cdi for the duration; the file (and the folder, if made here) removed."""
    folder = Path("/etc/cdi")
    made = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"gpudoctor-test-{secrets.token_hex(4)}.yaml"
    path.write_text(text)
    path.chmod(0o644)
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)
        if made:
            with contextlib.suppress(OSError):
                folder.rmdir()


class OnlyProcesses(LiveHost):
    """This machine, seeing only the engine processes a test started (other tests on the
    machine run their own containerd and dockerd)."""

    def __init__(self, pids: set[int], env: dict[str, str] | None = None) -> None:
        super().__init__(env)
        self.pids = pids

    def processes(self) -> list[ProcessInfo] | None:
        found = super().processes()
        return [p for p in found or [] if p.pid in self.pids]


class PrivateContainerd:
    """containerd 1.6 with its own --config, root, state and socket."""

    def __init__(self, base: Path, config_text: str) -> None:
        self.base = base
        self.config = base / "etc/containerd/config.toml"
        self.socket = base / "run/containerd.sock"
        self.config.parent.mkdir(parents=True, exist_ok=True)
        self.config.write_text(config_text.format(base=base))
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        log = open(self.base / "containerd.log", "ab")  # noqa: SIM115 - the daemon keeps it
        self.proc = subprocess.Popen(["containerd", "--config", str(self.config)],
                                     stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.answers():
                return
            if self.proc.poll() is not None:
                log_text = (self.base / "containerd.log").read_text()[-2000:]
                raise RuntimeError(f"containerd exited: {log_text}")
            time.sleep(0.2)
        raise RuntimeError("containerd did not answer within 30 s")

    def answers(self) -> bool:
        if not self.socket.exists():
            return False
        done = subprocess.run(["ctr", "--address", str(self.socket), "version"],
                              capture_output=True, text=True, timeout=10, check=False)
        return done.returncode == 0

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def dump(self) -> str:
        done = subprocess.run(["containerd", "--config", str(self.config), "config", "dump"],
                              capture_output=True, text=True, timeout=30, check=False)
        assert done.returncode == 0, done.stderr
        return done.stdout

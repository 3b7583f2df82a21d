"""Reading the TUI the way a person does: the characters on the screen.

Two ways in: `screen_text(app)` renders a Pilot-driven app's current screen to plain text
(every cell, as the terminal would show it), and `Tmux` runs `python -m gpudoctor` in a real
terminal (tmux) where keys are sent and the screen is read with `capture-pane`.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TMUX = shutil.which("tmux") or "tmux"


def screen_text(app) -> str:  # app: textual.app.App
    """The app's current screen as lines of text, exactly the cells a terminal would show."""
    strips = app.screen._compositor.render_strips()
    return "\n".join("".join(segment.text for segment in strip) for strip in strips)


def table_cells(app, table_id: str = "checks") -> dict[str, tuple[str, str, str]]:
    """The checks table by row key: (mark, title, summary) as displayed (crops included)."""
    from textual.widgets import DataTable

    table = app.query_one(f"#{table_id}", DataTable)
    cells: dict[str, tuple[str, str, str]] = {}
    for key in table.rows:
        row = table.get_row(key)
        plain = tuple(getattr(c, "plain", str(c)) for c in row)
        cells[str(key.value)] = (plain[0], plain[1], plain[2])
    return cells


async def wait_for(predicate: Callable[[], bool], pilot, timeout: float = 30.0,
                   what: str = "the condition") -> None:
    """Let the app run until predicate() holds (results arrive from other threads)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await pilot.pause(0.05)


class Tmux:
    """One detached tmux session running a command in a terminal of a given size."""

    def __init__(self, width: int = 100, height: int = 30):
        self.name = f"gdtest-{uuid.uuid4().hex[:8]}"
        self.width = width
        self.height = height
        self.started = False

    def _tmux(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run([TMUX, *args], capture_output=True, text=True, timeout=15,
                              check=check)

    def start(self, argv: list[str], env: Mapping[str, str] | None = None,
              cwd: Path = REPO, status_file: Path | None = None) -> None:
        """Run argv in the session; with status_file, its exit status is written there."""
        command = shlex.join(argv)
        if status_file is not None:
            command += f"; echo $? > {shlex.quote(str(status_file))}"
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in (env or {}).items())
        shell = f"cd {shlex.quote(str(cwd))} && env {exports} {command}"
        self._tmux("new-session", "-d", "-s", self.name, "-x", str(self.width),
                   "-y", str(self.height), "sh", "-c", shell)
        self.started = True

    def capture(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", self.name).stdout

    def send(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", self.name, *keys)

    def alive(self) -> bool:
        return self._tmux("has-session", "-t", self.name, check=False).returncode == 0

    def wait_for_text(self, text: str, timeout: float = 30.0) -> str:
        return self.wait_for_screen(lambda screen: text in screen, timeout, repr(text))

    def wait_for_screen(self, predicate: Callable[[str], bool], timeout: float = 30.0,
                        what: str = "the screen") -> str:
        """Capture the pane until predicate(screen) holds; return that screen."""
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            if not self.alive():
                raise AssertionError(f"the session ended before {what} appeared:\n{screen}")
            screen = self.capture()
            if predicate(screen):
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{what} did not appear in {timeout:g} s; the screen:\n{screen}")

    def wait_until_gone(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while self.alive():
            if time.monotonic() > deadline:
                raise AssertionError(f"the session still runs after {timeout:g} s:\n"
                                     + self.capture())
            time.sleep(0.1)

    def kill(self) -> None:
        if self.started:
            self._tmux("kill-session", "-t", self.name, check=False)


def gpudoctor_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "gpudoctor", *args]


def child_env(**extra: str) -> dict[str, str]:
    """The environment handed to the gpudoctor process in tmux (tmux keeps its own)."""
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(REPO),
                                                      os.environ.get("PYTHONPATH", "")])),
           "TERM": "xterm-256color", "LANG": "C.UTF-8"}
    env.update(extra)
    return env


def footer_keys(app) -> dict[str, bool]:
    """The keys the footer of the current screen shows, and whether each is enabled (not
    greyed out)."""
    from textual.widgets._footer import FooterKey

    return {key.key: not key.has_class("-disabled") for key in app.screen.query(FooterKey)}


def make_app(root: Path | str, registry=None, theme: str | None = "textual-dark", **options):
    """A DoctorApp on a host root, as `gpudoctor --root ROOT` opens it."""
    from gpudoctor.facts import Options
    from gpudoctor.host import open_host
    from gpudoctor.report import Doctor
    from gpudoctor.tui.app import DoctorApp

    doctor = Doctor(open_host(str(root)), Options(**options), registry=registry)
    return DoctorApp(doctor, theme=theme)


async def highlight(pilot, check_id: str) -> None:
    """Put the table's cursor on a check's row, as arrow keys would."""
    from textual.widgets import DataTable

    table = pilot.app.query_one("#checks", DataTable)
    table.move_cursor(row=table.get_row_index(check_id))
    await pilot.pause()


def rendered_text(static, width: int | None = None) -> str:
    """A Static's whole content as text at a width (its own by default), also the part
    scrolled out of view; trailing spaces dropped."""
    import io

    from rich.console import Console

    console = Console(width=width or max(static.size.width, 20), file=io.StringIO(),
                      color_system=None, record=True, legacy_windows=False)
    console.print(static.content)
    return "\n".join(line.rstrip() for line in console.export_text().splitlines())


def detail_text(app) -> str:
    """The detail pane's text as it wraps on screen: the prose, the commands (each whole on
    one line; their box scrolls sideways) and what follows them."""
    parts = [rendered_text(app.query_one("#detail-text"))]
    if app.query_one("#detail-commands-box").display:
        parts.append(rendered_text(app.query_one("#detail-commands"), width=2000))
    if app.query_one("#detail-more").display:
        parts.append(rendered_text(app.query_one("#detail-more")))
    return "\n".join(parts)



# ----- a live host whose GPUs come from a host root ---------------------------------------------
#: Host paths that describe the hardware and its driver: read from the root. Everything else
#: (the test dockerd, its daemon.json, processes, commands, the user) is the live machine.
HARDWARE_PREFIXES = ("/sys/", "/proc/modules", "/proc/driver/", "/proc/cmdline",
                     "/proc/sys/kernel/osrelease", "/dev/dri", "/dev/nvidia", "/dev/kfd",
                     "/lib/modules/", "/usr/share/misc/pci.ids", "/usr/share/hwdata/",
                     "/var/lib/pciutils/")


def _is_hardware(path: str) -> bool:
    return any(path == p.rstrip("/") or path.startswith(p) for p in HARDWARE_PREFIXES)


def gpu_root_live_host(root: Path | str, env: Mapping[str, str]):
    """The live machine (fixes really apply: files, the test dockerd), with the GPUs, driver
    and device files of a host root built like the kernel's sysfs. This machine has no GPU;
    the root gives it one, the way the field guides describe it."""
    from gpudoctor.host.live import LiveHost
    from gpudoctor.host.rootfs import RootHost

    class GpuRootLiveHost(LiveHost):
        def __init__(self) -> None:
            super().__init__(env=dict(env))
            self.hardware = RootHost(str(root))

        def read_bytes(self, path, limit=None):
            if _is_hardware(path):
                return (self.hardware.read_bytes(path) if limit is None
                        else self.hardware.read_bytes(path, limit))
            return super().read_bytes(path) if limit is None else super().read_bytes(path,
                                                                                     limit)

        def listdir(self, path):
            return (self.hardware if _is_hardware(path) else super()).listdir(path)

        def readlink(self, path):
            return (self.hardware if _is_hardware(path) else super()).readlink(path)

        def realpath(self, path):
            return (self.hardware if _is_hardware(path) else super()).realpath(path)

        def stat(self, path, follow=True):
            return (self.hardware if _is_hardware(path) else super()).stat(path, follow)

        def device_node(self, path):
            return (self.hardware if _is_hardware(path) else super()).device_node(path)

    return GpuRootLiveHost()


# ----- a host root where fixes have something to show ---------------------------------------------
DAEMON_JSON = '{\n  "log-driver": "json-file",\n  "log-opts": {"max-size": "10m"}\n}\n'


def nvidia_laptop_docker_without_runtime(root: Path) -> Path:
    """The field guide's NVIDIA laptop (RTX 4070, driver 550 loaded) with Docker 27 running
    as a system service whose /etc/docker/daemon.json declares no nvidia runtime, and
    nvidia-container-toolkit not installed: docker.nvidia_runtime fails and offers its fixes."""
    from tests.support.hostroot import HostRootBuilder
    from tests.support.scenarios import populate_nvidia_laptop_intel_igpu

    builder = HostRootBuilder(root)
    populate_nvidia_laptop_intel_igpu(builder)
    builder.write("/etc/docker/daemon.json", DAEMON_JSON, mtime=1794000000.0)
    builder.add_process(1423, "dockerd", "/usr/bin/dockerd",
                        ["/usr/bin/dockerd", "-H", "fd://",
                         "--containerd=/run/containerd/containerd.sock"])
    runtimes = {"io.containerd.runc.v2": {"path": "runc"}, "runc": {"path": "runc"}}
    builder.set_docker(
        info={"ID": "c3f1", "ServerVersion": "27.3.1", "OperatingSystem": "Ubuntu 24.04.1 LTS",
              "Runtimes": runtimes, "DefaultRuntime": "runc", "CgroupDriver": "systemd",
              "CgroupVersion": "2", "DockerRootDir": "/var/lib/docker", "Driver": "overlay2",
              "SecurityOptions": ["name=apparmor", "name=seccomp,profile=builtin",
                                  "name=cgroupns"],
              "Containers": 0, "ContainersRunning": 0},
        version={"Version": "27.3.1", "ApiVersion": "1.47", "Os": "linux", "Arch": "amd64"})
    return builder.finish()


async def footer_shows(pilot, expected: Mapping[str, bool | None], timeout: float = 5.0) -> None:
    """Wait until the footer shows these keys enabled (True), greyed out (False), or not at
    all (None). The footer redraws a moment after the state changes."""
    def matches() -> bool:
        keys = footer_keys(pilot.app)
        return all(keys.get(k) is v for k, v in expected.items())

    try:
        await wait_for(matches, pilot, timeout, what=f"the footer to show {dict(expected)}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; it shows {footer_keys(pilot.app)}") from None


def modal_lines(screen: str) -> list[str]:
    """The lines inside a modal's thick border (█ ... █), stripped, as a person reads them."""
    lines = []
    for line in screen.splitlines():
        if line.count("█") >= 2:
            lines.append(line[line.index("█") + 1: line.rindex("█")].strip())
    return lines

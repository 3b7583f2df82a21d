"""Host roots for the container stack: daemons, configurations and toolkit installs that this
test machine cannot have (a snap or rootless or Desktop Docker, a toolkit installed last week,
a CDI spec left behind by a driver upgrade).

Each public `NAME(root) -> Path` builds a finished root on top of a hardware scenario from
tests/support/scenarios.py. Everything is laid out as the real tools leave it: dpkg's status
file and per-package file lists (their mtimes are the install time, while binaries keep the
package's build time), dpkg.log lines, config.toml as the toolkit's postinst writes it, CDI
specs as `nvidia-ctk cdi generate` writes them, and the Engine API answers in host.json.

`LiveDockerOverRoot` is the one non-root host here: the real machine (its processes, its test
dockerd, its files) with the hardware paths (/sys, /proc/driver, /dev ...) read from a root,
so a full diagnosis can run against a real daemon on a host that "has" NVIDIA GPUs.
"""

from __future__ import annotations

import calendar
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gpudoctor.host.base import FileStat
from gpudoctor.host.live import LiveHost
from gpudoctor.host.rootfs import RootHost
from tests.support.hostroot import (
    DEFAULT_CAPTURED_AT,
    DEFAULT_PATH,
    HostRootBuilder,
    sample_docker_info,
    sample_docker_version,
)
from tests.support.scenarios import SCENARIOS

CAPTURED = float(calendar.timegm(time.strptime(DEFAULT_CAPTURED_AT, "%Y-%m-%dT%H:%M:%SZ")))
#: dockerd started two days before the capture (its create_time in host.json).
DOCKERD_START = CAPTURED - 2 * 86400
DOCKERD_PID = 1423
#: When the toolkit's packages were built (their files keep this mtime after dpkg unpacks them).
TOOLKIT_BUILD = calendar.timegm((2025, 6, 10, 14, 0, 0, 0, 0, 0))
TOOLKIT_VERSION = "1.17.8-1"
#: NVIDIA driver of server_8gpu_bmc, and the one a stale spec was generated for.
DRIVER = "580.95.05"
OLD_DRIVER = "535.161.07"
LIBDIR = "/usr/lib/x86_64-linux-gnu"
NVIDIA_LIBS = ("libcuda.so", "libnvidia-ml.so", "libnvidia-ptxjitcompiler.so",
               "libEGL_nvidia.so")

_OTHER_PACKAGES = """\
Package: libc6
Status: install ok installed
Priority: optional
Section: libs
Installed-Size: 13352
Maintainer: Ubuntu Developers <ubuntu-devel-discuss@lists.ubuntu.com>
Architecture: amd64
Multi-Arch: same
Source: glibc
Version: 2.35-0ubuntu3.8
Description: GNU C Library: Shared libraries
 Contains the standard libraries that are used by nearly all programs on
 the system.

Package: docker-ce
Status: install ok installed
Priority: optional
Section: admin
Installed-Size: 105443
Maintainer: Docker <support@docker.com>
Architecture: amd64
Version: 5:28.5.1-1~ubuntu.22.04~jammy
Depends: containerd.io (>= 1.7.27), docker-ce-cli, iptables, libseccomp2 (>= 2.3.0)
Description: Docker: the open-source application container engine

"""

_PACKAGE_META = {
    "libnvidia-container1": ("libs", "same", "NVIDIA container runtime library",
                             "libc6 (>= 2.34), libseccomp2"),
    "libnvidia-container-tools": ("utils", None, "NVIDIA container runtime library "
                                  "(command-line tools)", "libnvidia-container1 (>= {v})"),
    "nvidia-container-toolkit-base": ("utils", None, "NVIDIA Container Toolkit Base", ""),
    "nvidia-container-toolkit": ("utils", None, "NVIDIA Container toolkit",
                                 "nvidia-container-toolkit-base (= {v}), "
                                 "libnvidia-container-tools (>= {v}), "
                                 "libnvidia-container-tools (<< 2.0.0), libseccomp2"),
}
_PACKAGE_FILES = {
    "libnvidia-container1": [f"{LIBDIR}/libnvidia-container.so.1",
                             f"{LIBDIR}/libnvidia-container-go.so.1"],
    "libnvidia-container-tools": ["/usr/bin/nvidia-container-cli"],
    "nvidia-container-toolkit-base": ["/usr/bin/nvidia-ctk", "/usr/bin/nvidia-container-runtime",
                                      "/usr/bin/nvidia-cdi-hook"],
    "nvidia-container-toolkit": ["/usr/bin/nvidia-container-runtime-hook"],
}
DEFAULT_CONFIG_TOML = """\
#accept-nvidia-visible-devices-as-volume-mounts = false
#accept-nvidia-visible-devices-envvar-when-unprivileged = true
disable-require = false
supported-driver-capabilities = "compat32,compute,display,graphics,ngx,utility,video"
#swarm-resource = "DOCKER_RESOURCE_GPU"

[nvidia-container-cli]
#debug = "/var/log/nvidia-container-toolkit.log"
environment = []
#ldcache = "/etc/ld.so.cache"
ldconfig = "@/sbin/ldconfig.real"
load-kmods = true
#no-cgroups = false
#path = "/usr/bin/nvidia-container-cli"
#root = "/run/nvidia/driver"
#user = "root:video"

[nvidia-container-runtime]
#debug = "/var/log/nvidia-container-runtime.log"
log-level = "info"
mode = "auto"
runtimes = ["runc", "crun"]

[nvidia-container-runtime.modes.cdi]
annotation-prefixes = ["cdi.k8s.io/"]
default-kind = "nvidia.com/gpu"
spec-dirs = ["/etc/cdi", "/var/run/cdi"]

[nvidia-container-runtime-hook]
path = "nvidia-container-runtime-hook"
skip-mode-detection = false

[nvidia-ctk]
path = "nvidia-ctk"
"""
#: What nvidia-ctk runtime configure writes (4-space indent, sorted keys, no final newline).
NVIDIA_CTK_DAEMON_JSON = """{
    "runtimes": {
        "nvidia": {
            "args": [],
            "path": "nvidia-container-runtime"
        }
    }
}"""


def docker_info(version: str = "28.5.1", nvidia: bool = False, **kw: Any) -> dict[str, Any]:
    """GET /info as the daemon answers it; with nvidia, the runtime nvidia-ctk declares."""
    info = sample_docker_info(server_version=version, **kw)
    if nvidia:
        info["Runtimes"]["nvidia"] = {"path": "nvidia-container-runtime", "runtimeArgs": []}
    return info


def _stamp(when: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(when))


class ContainerRoot:
    """A HostRootBuilder with the container stack's pieces, finished by `finish()`."""

    def __init__(self, root: Path, hardware: str = "server_8gpu_bmc") -> None:
        self.b = HostRootBuilder(root)
        SCENARIOS[hardware](self.b)
        self.processes: list[dict[str, Any]] = []
        self.docker: dict[str, Any] | None = None
        self.dpkg_paragraphs: list[str] = []
        self.dpkg_log: list[str] = []

    # ----- the daemon ------------------------------------------------------------------------
    def process(self, pid: int, name: str, exe: str, cmdline: Sequence[str], *, uid: int = 0,
                ppid: int = 1, env_path: str | None = DEFAULT_PATH,
                create_time: float = DOCKERD_START, env: dict[str, str] | None = None) -> None:
        """A host.json `processes` entry (with the environment keys LiveHost keeps)."""
        entry: dict[str, Any] = {
            "pid": pid, "ppid": ppid, "uid": uid, "name": name, "exe": exe,
            "cmdline": list(cmdline), "env_path": env_path, "create_time": create_time}
        if env:
            entry["env"] = dict(env)
        self.processes.append(entry)

    def system_dockerd(self, *, env_path: str = DEFAULT_PATH, extra_args: Sequence[str] = (),
                       create_time: float = DOCKERD_START) -> None:
        """dockerd as docker-ce's systemd unit starts it."""
        self.process(DOCKERD_PID, "dockerd", "/usr/bin/dockerd",
                     ["/usr/bin/dockerd", "-H", "fd://",
                      "--containerd=/run/containerd/containerd.sock", *extra_args],
                     env_path=env_path, create_time=create_time)
        self.b.write("/usr/bin/dockerd", "#!/bin/sh\n# dockerd (placeholder in a host root)\n",
                     mode=0o755, mtime=TOOLKIT_BUILD)

    def answers(self, info: dict[str, Any] | None = None, version: str = "28.5.1",
                containers: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
        """host.json `docker`: /info, /version and the containers (name -> inspect body)."""
        info = info if info is not None else sample_docker_info(server_version=version)
        doc: dict[str, Any] = {"info": info, "version": sample_docker_version(version),
                               "containers": []}
        for index, (name, detail) in enumerate((containers or {}).items()):
            cid = f"{index + 1:02d}" + "c0ffee" * 10 + "ab"
            cid = cid[:64]
            state = detail.pop("_state", "exited")
            doc["containers"].append({"Id": cid, "Names": [f"/{name}"], "Image": "rocm/pytorch",
                                      "State": state, "Status": "Exited (0) 3 days ago"})
            doc[f"containers_{cid}_json"] = {"Id": cid, "Name": f"/{name}",
                                             "State": {"Status": state}, **detail}
        self.docker = doc
        return doc

    def down(self, error: str = "Cannot connect to the Docker daemon at "
             "unix:///var/run/docker.sock. Is the docker daemon running?") -> None:
        self.docker = {"error": error}

    # ----- the toolkit -----------------------------------------------------------------------
    def toolkit(self, versions: dict[str, str] | None = None, *, installed_at: float,
                status: dict[str, str] | None = None, packages: Sequence[str] | None = None,
                log_action: str = "install", previous: str | None = None) -> None:
        """Install the toolkit's packages the way dpkg leaves them.

        versions: package -> version (default TOOLKIT_VERSION for all four); status overrides
        dpkg's Status field per package; installed_at is when dpkg unpacked them (the mtime of
        their .list files); binaries keep the build time.
        """
        wanted = list(packages) if packages is not None else list(_PACKAGE_FILES)
        for name in wanted:
            version = (versions or {}).get(name, TOOLKIT_VERSION)
            section, multi, description, depends = _PACKAGE_META[name]
            lines = [f"Package: {name}",
                     f"Status: {(status or {}).get(name, 'install ok installed')}",
                     "Priority: optional", f"Section: {section}", "Installed-Size: 2554",
                     "Maintainer: NVIDIA CORPORATION <cudatools@nvidia.com>",
                     "Architecture: amd64"]
            if multi:
                lines.append(f"Multi-Arch: {multi}")
            lines.append(f"Version: {version}")
            if depends:
                lines.append(f"Depends: {depends.format(v=version)}")
            lines += [f"Description: {description}",
                      " Provides tools and utilities to enable GPU support in containers."]
            self.dpkg_paragraphs.append("\n".join(lines) + "\n")
            files = _PACKAGE_FILES[name]
            listed = "/.\n/usr\n/usr/bin\n" + "".join(f"{f}\n" for f in files)
            suffix = ":amd64" if multi else ""
            self.b.write(f"/var/lib/dpkg/info/{name}{suffix}.list", listed,
                         mtime=installed_at)
            self.b.write(f"/var/lib/dpkg/info/{name}{suffix}.md5sums",
                         "".join(f"0123456789abcdef0123456789abcdef  {f[1:]}\n" for f in files),
                         mtime=installed_at)
            for path in files:
                self.b.write(path, f"#!/bin/sh\n# {os.path.basename(path)} {version} "
                                   "(placeholder binary in a host root)\n",
                             mode=0o755, mtime=TOOLKIT_BUILD)
            if name == "nvidia-container-toolkit":
                # postinst links the pre-1.11 name to the hook; the link is made at install
                link = self.b.root / "usr/bin/nvidia-container-toolkit"
                if link.is_symlink():
                    link.unlink()
                os.symlink("nvidia-container-runtime-hook", link)
                os.utime(link, (installed_at, installed_at), follow_symlinks=False)
                self.dpkg_log.append(
                    f"{_stamp(installed_at)} {log_action} nvidia-container-toolkit:amd64 "
                    f"{previous or '<none>'} {version}")
            config = self.b.root / "etc/nvidia-container-runtime/config.toml"
            if not (self.b.root / "sbin/ldconfig.real").exists():
                # what config.toml's `ldconfig = "@/sbin/ldconfig.real"` names: Ubuntu's libc-bin
                # has it whatever toolkit packages are installed
                for ldconfig in ("/sbin/ldconfig", "/sbin/ldconfig.real"):
                    self.b.write(ldconfig, b"\x7fELF", mode=0o755, mtime=TOOLKIT_BUILD)
            if name == "nvidia-container-toolkit-base" and not config.exists():
                self.b.write("/etc/nvidia-container-runtime/config.toml", DEFAULT_CONFIG_TOML,
                             mtime=installed_at)

    # ----- CDI -------------------------------------------------------------------------------
    def driver_libs(self, version: str = DRIVER) -> None:
        """The driver's user-space libraries, as the driver package installs them."""
        for lib in NVIDIA_LIBS:
            self.b.write(f"{LIBDIR}/{lib}.{version}", b"\x7fELF", mtime=TOOLKIT_BUILD)

    def cdi_spec(self, path: str = "/var/run/cdi/nvidia.yaml", driver: str = DRIVER,
                 gpus: int = 8, cdi_version: str = "0.5.0", text: str | None = None) -> None:
        """A spec as `nvidia-ctk cdi generate` writes it (keys sorted, block style)."""
        if text is None:
            text = nvidia_cdi_yaml(driver, gpus, cdi_version)
        self.b.write(path, text)

    def dev_char_links(self) -> None:
        """/dev/char/MAJ:MIN links for every /dev/nvidia* node, as `nvidia-ctk system
        create-dev-char-symlinks --create-all` (or udev, for nodes it knows) makes them."""
        nodes = self.b._host.get("device_nodes", {})
        for path, node in nodes.items():
            if path.startswith("/dev/nvidia") and node["type"] == "char":
                self.b.symlink(f"/dev/char/{node['major']}:{node['minor']}", f"..{path[4:]}")

    # ----- finishing -------------------------------------------------------------------------
    def finish(self) -> Path:
        if self.dpkg_paragraphs:
            self.b.write("/var/lib/dpkg/status", _OTHER_PACKAGES + "\n".join(self.dpkg_paragraphs))
        if self.dpkg_log:
            head = f"{_stamp(DOCKERD_START - 30 * 86400)} startup archives unpack\n"
            self.b.write("/var/log/dpkg.log", head + "".join(f"{ln}\n" for ln in self.dpkg_log))
        extra: dict[str, Any] = {}
        if self.processes:
            extra["processes"] = self.processes
        if self.docker is not None:
            extra["docker"] = self.docker
        self.b.set_host_json(**extra)
        return self.b.finish()


def nvidia_cdi_yaml(driver: str, gpus: int, cdi_version: str = "0.5.0") -> str:
    """The spec `nvidia-ctk cdi generate` writes for `gpus` GPUs on driver `driver`."""
    lines = ["---", f"cdiVersion: {cdi_version}", "containerEdits:", "  deviceNodes:",
             "  - path: /dev/nvidiactl", "  - path: /dev/nvidia-uvm",
             "  - path: /dev/nvidia-uvm-tools", "  env:", "  - NVIDIA_VISIBLE_DEVICES=void",
             "  hooks:", "  - args:", "    - nvidia-cdi-hook", "    - update-ldcache",
             "    - --folder", f"    - {LIBDIR}", "    hookName: createContainer",
             "    path: /usr/bin/nvidia-cdi-hook", "  mounts:"]
    for lib in NVIDIA_LIBS:
        lines += [f"  - containerPath: {LIBDIR}/{lib}.{driver}",
                  f"    hostPath: {LIBDIR}/{lib}.{driver}",
                  "    options:", "    - ro", "    - nosuid", "    - nodev", "    - bind"]
    lines.append("devices:")
    for index in range(gpus):
        lines += ["- containerEdits:", "    deviceNodes:", f"    - path: /dev/nvidia{index}",
                  f"  name: \"{index}\""]
    lines += ["- containerEdits:", "    deviceNodes:"]
    lines += [f"    - path: /dev/nvidia{index}" for index in range(gpus)]
    lines += ["  name: all", "kind: nvidia.com/gpu"]
    return "\n".join(lines) + "\n"


# ----- the scenarios ----------------------------------------------------------------------------
def nvidia_all_good(root: Path) -> Path:
    """8 x H100, toolkit 1.17.8 installed a month before dockerd started, runtime declared in
    /etc/docker/daemon.json and loaded, CDI spec current, /dev/char links in place (so the
    systemd cgroup driver is safe): everything passes; `--gpus=all`."""
    r = ContainerRoot(root)
    r.toolkit(installed_at=DOCKERD_START - 30 * 86400)
    r.dev_char_links()
    r.b.write("/etc/docker/daemon.json", NVIDIA_CTK_DAEMON_JSON)
    r.system_dockerd()
    r.answers(docker_info(nvidia=True))
    r.driver_libs()
    r.cdi_spec()
    return r.finish()


def toolkit_installed_after_daemon(root: Path, upgrade: bool = False) -> Path:
    """The field guide: dockerd has run for two days; the toolkit was installed an hour after it
    started and Docker was not restarted (dpkg's file lists carry the install time, the binaries
    their build time). With upgrade=True the same dpkg run was an upgrade from 1.17.7."""
    r = ContainerRoot(root)
    r.toolkit(installed_at=DOCKERD_START + 3600, log_action="upgrade" if upgrade else "install",
              previous="1.17.7-1" if upgrade else None)
    r.system_dockerd()
    r.answers()
    return r.finish()


def toolkit_versions_mismatched(root: Path) -> Path:
    """The 1.18.0 toolkit packages with 1.17.8 libnvidia-container (an offline `dpkg -i` of
    only two packages): dpkg shows both sets installed with different versions."""
    r = ContainerRoot(root)
    r.toolkit({"nvidia-container-toolkit": "1.18.0-1", "nvidia-container-toolkit-base":
               "1.18.0-1"}, installed_at=DOCKERD_START - 86400)
    r.system_dockerd()
    r.answers()
    return r.finish()


def toolkit_missing(root: Path) -> Path:
    """8 x H100 with Docker but no toolkit at all: the field guide before its fix."""
    r = ContainerRoot(root)
    r.b.write("/var/lib/dpkg/status", _OTHER_PACKAGES)
    r.system_dockerd()
    r.answers()
    return r.finish()


def snap_docker_etc_edited(root: Path) -> Path:
    """The Docker snap (it reads /var/snap/docker/<rev>/config/daemon.json) while
    `nvidia-ctk runtime configure` edited /etc/docker/daemon.json; no nvidia runtime loaded."""
    r = ContainerRoot(root)
    r.toolkit(installed_at=DOCKERD_START - 86400)
    r.b.write("/etc/docker/daemon.json", NVIDIA_CTK_DAEMON_JSON)
    r.b.write("/var/snap/docker/3265/config/daemon.json", '{\n    "log-level": "error"\n}\n')
    r.b.symlink("/var/snap/docker/current", "3265")
    r.b.mkdir("/snap/docker/3265/bin")
    r.b.symlink("/snap/docker/current", "3265")
    r.process(DOCKERD_PID, "dockerd", "/snap/docker/3265/bin/dockerd",
              ["dockerd", "--group", "docker", "--exec-root=/run/snap.docker",
               "--data-root=/var/snap/docker/common/var-lib-docker",
               "--pidfile=/run/snap.docker/docker.pid",
               "--config-file=/var/snap/docker/3265/config/daemon.json"],
              env_path="/snap/docker/3265/usr/sbin:/snap/docker/3265/usr/bin:/snap/docker/3265/"
                       "sbin:/snap/docker/3265/bin:" + DEFAULT_PATH)
    info = sample_docker_info(server_version="28.4.0",
                              docker_root_dir="/var/snap/docker/common/var-lib-docker")
    r.answers(info, version="28.4.0")
    return r.finish()


def rootless_docker(root: Path, no_cgroups: bool = False) -> Path:
    """alice's rootless Docker (rootlesskit -> dockerd as UID 1000) reading
    ~/.config/docker/daemon.json, which declares the nvidia runtime (loaded); the toolkit's
    config.toml keeps the default `#no-cgroups = false` unless no_cgroups."""
    r = ContainerRoot(root)
    r.toolkit(installed_at=DOCKERD_START - 86400)
    if no_cgroups:
        r.b.write("/etc/nvidia-container-runtime/config.toml",
                  DEFAULT_CONFIG_TOML.replace("#no-cgroups = false", "no-cgroups = true"))
    r.b.write("/home/alice/.config/docker/daemon.json", NVIDIA_CTK_DAEMON_JSON)
    env = {"HOME": "/home/alice", "XDG_RUNTIME_DIR": "/run/user/1000", "PATH": DEFAULT_PATH}
    r.process(2210, "rootlesskit", "/usr/bin/rootlesskit",
              ["rootlesskit", "--state-dir=/run/user/1000/dockerd-rootless", "--net=slirp4netns",
               "--mtu=65520", "--slirp4netns-sandbox=auto", "--slirp4netns-seccomp=auto",
               "--disable-host-loopback", "--port-driver=builtin", "--copy-up=/etc",
               "--copy-up=/run", "--propagation=rslave", "/usr/bin/dockerd-rootless.sh"],
              uid=1000, ppid=2100, env=env)
    r.process(2240, "dockerd", "/usr/bin/dockerd", ["dockerd"], uid=1000, ppid=2210,
              env=env)
    info = docker_info(nvidia=True, docker_root_dir="/home/alice/.local/share/docker")
    info["SecurityOptions"] = ["name=seccomp,profile=builtin", "name=rootless", "name=cgroupns"]
    r.answers(info)
    r.b.set_host_json(env={"DOCKER_HOST": "unix:///run/user/1000/docker.sock",
                           "HOME": "/home/alice"})
    return r.finish()


def docker_desktop(root: Path) -> Path:
    """Docker Desktop for Linux as the current docker context (desktop-linux), an RTX 4070
    laptop: the engine answers from its VM."""
    r = ContainerRoot(root, hardware="nvidia_laptop_intel_igpu")
    r.toolkit(installed_at=DOCKERD_START - 86400)
    import hashlib

    meta = hashlib.sha256(b"desktop-linux").hexdigest()
    r.b.write("/home/alice/.docker/config.json", '{\n\t"auths": {},\n\t"credsStore": '
              '"desktop",\n\t"currentContext": "desktop-linux"\n}')
    r.b.write(f"/home/alice/.docker/contexts/meta/{meta}/meta.json",
              '{"Name":"desktop-linux","Metadata":{"Description":"Docker Desktop"},'
              '"Endpoints":{"docker":{"Host":"unix:///home/alice/.docker/desktop/docker.sock",'
              '"SkipTLSVerify":false}}}')
    r.process(3001, "com.docker.backend", "/opt/docker-desktop/bin/com.docker.backend",
              ["/opt/docker-desktop/bin/com.docker.backend"], uid=1000)
    info = sample_docker_info(server_version="28.3.2")
    info["OperatingSystem"] = "Docker Desktop"
    info["KernelVersion"] = "6.10.14-linuxkit"
    r.answers(info, version="28.3.2")
    r.b.set_host_json(env={"HOME": "/home/alice"})
    return r.finish()


#: A daemon.json edited by hand: the trailing comma after the runtime's closing brace.
TRAILING_COMMA_JSON = """{
    "runtimes": {
        "nvidia": {
            "args": [],
            "path": "nvidia-container-runtime"
        }
    },
}
"""


def daemon_json_trailing_comma(root: Path) -> Path:
    """/etc/docker/daemon.json with a trailing comma: dockerd did not come back after
    `systemctl restart docker`; `dockerd --validate` (Docker 27) gives its own error."""
    r = ContainerRoot(root)
    r.toolkit(installed_at=DOCKERD_START - 86400)
    r.b.write("/etc/docker/daemon.json", TRAILING_COMMA_JSON)
    r.b.write("/usr/bin/dockerd", "#!/bin/sh\n# dockerd (placeholder in a host root)\n",
              mode=0o755, mtime=TOOLKIT_BUILD)
    r.down()
    r.b.add_command("dockerd-version", ["/usr/bin/dockerd", "--version"],
                    stdout="Docker version 27.3.1, build 41ca978\n")
    r.b.add_command("dockerd-validate",
                    ["/usr/bin/dockerd", "--validate", "--config-file=/etc/docker/daemon.json"],
                    stderr="unable to configure the Docker daemon with file "
                           "/etc/docker/daemon.json: invalid character '}' looking for "
                           "beginning of object key string\n", returncode=1)
    # host.json `commands` is written by the builder; keep ours too
    return r.finish()


def stale_cdi_spec(root: Path) -> Path:
    """A driver upgrade from 535.161.07 to 580.95.05 left /etc/cdi/nvidia.yaml pointing at the
    old libraries (gone); the hook path still works, so `--gpus=all` remains the way."""
    r = ContainerRoot(root)
    r.toolkit(installed_at=DOCKERD_START - 86400)
    r.system_dockerd()
    r.answers()
    r.driver_libs(DRIVER)
    r.cdi_spec("/etc/cdi/nvidia.yaml", driver=OLD_DRIVER)
    return r.finish()


def cdi_only(root: Path, docker_version: str = "28.5.1") -> Path:
    """Only nvidia-container-toolkit-base (nvidia-ctk, nvidia-cdi-hook) and a current CDI spec:
    no runtime hook, so `--gpus` has no driver before Docker 29.2 and CDI is the way."""
    r = ContainerRoot(root)
    r.toolkit(installed_at=DOCKERD_START - 86400, packages=["nvidia-container-toolkit-base"])
    r.system_dockerd()
    r.answers(version=docker_version,
              info=sample_docker_info(server_version=docker_version))
    r.driver_libs(DRIVER)
    r.cdi_spec()
    return r.finish()


def not_captured(root: Path) -> Path:
    """8 x H100 with the toolkit but no `docker` or `processes` in host.json (not captured)."""
    r = ContainerRoot(root)
    r.toolkit(installed_at=DOCKERD_START - 86400)
    r.b.write("/etc/docker/daemon.json", NVIDIA_CTK_DAEMON_JSON)
    return r.finish()


def amd_containers_reused(root: Path) -> Path:
    """Two 7900 XTX + Raphael iGPU; three stopped containers from before a reboot: one maps
    the iGPU's renderD128, one a renderD131 that is gone, one maps the right nodes."""
    r = ContainerRoot(root, hardware="amd_desktop_two_7900xtx_igpu")
    r.system_dockerd()

    def devices(*paths: str) -> dict[str, Any]:
        return {"HostConfig": {"Devices": [
            {"PathOnHost": p, "PathInContainer": p, "CgroupPermissions": "rwm"} for p in paths],
            "DeviceRequests": None, "Runtime": "runc"}}

    r.answers(containers={
        "llm-igpu": devices("/dev/kfd", "/dev/dri/renderD128"),
        "llm-old": devices("/dev/kfd", "/dev/dri/renderD131"),
        "llm-good": devices("/dev/kfd", "/dev/dri/renderD129", "/dev/dri/renderD130"),
    })
    return r.finish()


def runtime_without_hook(root: Path) -> Path:
    """The runtime declared and loaded, but a unit PATH without /usr/bin: dockerd never saw
    the hook, so `--gpus` has no driver and `--runtime=nvidia` is the way."""
    r = ContainerRoot(root)
    r.toolkit(installed_at=DOCKERD_START - 86400)
    r.b.write("/etc/docker/daemon.json", '{"runtimes": {"nvidia": {"path": '
              '"/usr/bin/nvidia-container-runtime"}}}\n')
    r.system_dockerd(env_path="/usr/local/sbin:/usr/sbin:/sbin")
    info = docker_info()
    info["Runtimes"]["nvidia"] = {"path": "/usr/bin/nvidia-container-runtime"}
    r.answers(info)
    return r.finish()


# ----- the real daemon on "NVIDIA hardware" -----------------------------------------------------
#: Paths answered from the root: the hardware, never the daemon or its files.
HARDWARE_PREFIXES = ("/sys/", "/proc/driver/", "/proc/modules", "/proc/devices",
                     "/proc/cmdline", "/proc/sys/kernel/osrelease", "/dev/", "/lib/modules/",
                     "/usr/share/misc/pci.ids", "/etc/os-release", "/usr/lib/os-release")


class LiveDockerOverRoot(LiveHost):
    """This machine (processes, dockerd, files, commands) with a root's hardware."""

    def __init__(self, hardware_root: Path, env: dict[str, str] | None = None) -> None:
        super().__init__(env)
        self.hardware = RootHost(str(hardware_root))

    def _hw(self, path: str) -> bool:
        return path.startswith(HARDWARE_PREFIXES) or path in ("/sys", "/dev", "/proc/driver")

    def read_bytes(self, path: str, limit: int = 4 * 1024 * 1024) -> bytes:
        if self._hw(path):
            return self.hardware.read_bytes(path, limit)
        return super().read_bytes(path, limit)

    def listdir(self, path: str) -> list[str]:
        return self.hardware.listdir(path) if self._hw(path) else super().listdir(path)

    def readlink(self, path: str) -> str | None:
        return self.hardware.readlink(path) if self._hw(path) else super().readlink(path)

    def realpath(self, path: str) -> str:
        return self.hardware.realpath(path) if self._hw(path) else super().realpath(path)

    def stat(self, path: str, follow: bool = True) -> FileStat | None:
        return self.hardware.stat(path, follow) if self._hw(path) else super().stat(path, follow)

    def device_node(self, path: str) -> FileStat | None:
        return self.hardware.device_node(path) if self._hw(path) else super().device_node(path)


def nvidia_hardware(root: Path) -> Path:
    """Only the hardware of server_8gpu_bmc (for LiveDockerOverRoot)."""
    b = HostRootBuilder(root)
    SCENARIOS["server_8gpu_bmc"](b)
    return b.finish()


def cdi_off_in_docker_26(root: Path) -> Path:
    """Docker 26.1 with CDI off and a spec in a folder of its own (`cdi-spec-dirs`); only the
    toolkit's base package, so `--gpus` has no driver either."""
    import yaml

    r = ContainerRoot(root)
    r.toolkit(installed_at=DOCKERD_START - 86400, packages=["nvidia-container-toolkit-base"])
    r.b.write("/etc/docker/daemon.json", '{\n  "cdi-spec-dirs": ["/opt/cdi"]\n}\n')
    r.system_dockerd()
    r.answers(docker_info("26.1.4", cdi_spec_dirs=()), version="26.1.4")
    r.driver_libs()
    spec = yaml.safe_load(nvidia_cdi_yaml(DRIVER, 2))
    r.cdi_spec("/opt/cdi/nvidia.json", text=json.dumps(spec))
    return r.finish()

"""Host roots for the NVIDIA container layer (issue 13): toolkit versions and modes, the cgroup
driver, /dev/char links, refresh units, MIG, engines and images with NVIDIA_REQUIRE_CUDA.

Docker 20.10 on this test machine has no CDI and this machine has no systemd to run dockerd
with the systemd cgroup driver, so everything that depends on those runs on host roots, with
the Engine API answers written as Docker 28 gives them (`CgroupDriver`, `CgroupVersion`,
`CDISpecDirs`, a `--gpus` container's `HostConfig.DeviceRequests` with `Driver: ""` and
`Capabilities: [["gpu"]]`, a CDI one's `Driver: "cdi"` with `DeviceIDs`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support.container_roots import (
    DOCKERD_START,
    DRIVER,
    NVIDIA_CTK_DAEMON_JSON,
    ContainerRoot,
    docker_info,
)

#: What NVIDIA's CUDA images carry (Config.Env), trimmed to a few of the brand alternatives.
REQUIRE_CUDA_13_1 = ("cuda>=13.1 brand=unknown,driver>=535,driver<536 brand=grid,driver>=535,"
                     "driver<536 brand=tesla,driver>=535,driver<536")
REQUIRE_CUDA_12_8 = ("cuda>=12.8 brand=unknown,driver>=470,driver<471 brand=grid,driver>=470,"
                     "driver<471 brand=tesla,driver>=470,driver<471")


def gpus_request() -> dict[str, Any]:
    """HostConfig.DeviceRequests of `docker run --gpus all` (Docker 28 inspect)."""
    return {"Driver": "", "Count": -1, "DeviceIDs": None, "Capabilities": [["gpu"]],
            "Options": {}}


def cdi_request() -> dict[str, Any]:
    """HostConfig.DeviceRequests of `docker run --device nvidia.com/gpu=all` (Docker 28)."""
    return {"Driver": "cdi", "Count": 0, "DeviceIDs": ["nvidia.com/gpu=all"],
            "Capabilities": None, "Options": None}


def container(image: str, requests: list[dict[str, Any]], state: str = "running",
              env: list[str] | None = None, runtime: str = "runc") -> dict[str, Any]:
    """An inspect body: GPU requests, state and the image's environment."""
    return {"_state": state, "Image": "sha256:" + "ab" * 32,
            "Config": {"Image": image, "Env": env or [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
            "HostConfig": {"Devices": [], "DeviceRequests": requests, "Runtime": runtime}}


def nvidia_host(root: Path, *, version: str = "1.17.8-1", mode: str | None = None,
                cgroup: str = "systemd", links: bool = False, cdi_spec: bool = False,
                containers: dict[str, dict[str, Any]] | None = None,
                docker_version: str = "28.5.1") -> ContainerRoot:
    """8 x H100, the toolkit at `version` (config.toml `mode` when given), dockerd with the
    runtime declared and `cgroup` as its cgroup driver. Not finished: callers add to it."""
    r = ContainerRoot(root)
    r.toolkit({p: version for p in ("libnvidia-container1", "libnvidia-container-tools",
                                    "nvidia-container-toolkit-base", "nvidia-container-toolkit")},
              installed_at=DOCKERD_START - 30 * 86400)
    if mode is not None:
        config = r.b.root / "etc/nvidia-container-runtime/config.toml"
        config.write_text(config.read_text().replace('mode = "auto"', f'mode = "{mode}"'))
    if links:
        r.dev_char_links()
    r.b.write("/etc/docker/daemon.json", NVIDIA_CTK_DAEMON_JSON)
    r.system_dockerd()
    info = docker_info(version=docker_version, nvidia=True)
    info["CgroupDriver"] = cgroup
    r.answers(info, version=docker_version, containers=containers)
    r.driver_libs()
    if cdi_spec:
        r.cdi_spec()
    return r


def legacy_systemd_exposed(root: Path, cdi_spec: bool = False) -> Path:
    """Toolkit 1.17.8 (legacy hook), systemd cgroup driver, no /dev/char links; a running
    `--gpus` container (exposed) and a stopped one (not running); with cdi_spec, a current
    spec and a running CDI container (safe)."""
    containers = {
        "trainer": container("nvcr.io/nvidia/pytorch:25.01-py3", [gpus_request()]),
        "old-job": container("nvcr.io/nvidia/pytorch:25.01-py3", [gpus_request()],
                             state="exited")}
    if cdi_spec:
        containers["cdi-job"] = container("ubuntu:24.04", [cdi_request()])
    return nvidia_host(root, cdi_spec=cdi_spec, containers=containers).finish()


def legacy_systemd_with_links(root: Path) -> Path:
    """As legacy_systemd_exposed with the /dev/char links in place: not exposed."""
    return nvidia_host(root, links=True, containers={
        "trainer": container("nvcr.io/nvidia/pytorch:25.01-py3", [gpus_request()])}).finish()


def legacy_cgroupfs(root: Path) -> Path:
    """Toolkit 1.17.8, cgroupfs driver, no links, a running `--gpus` container: not exposed."""
    return nvidia_host(root, cgroup="cgroupfs", containers={
        "trainer": container("nvcr.io/nvidia/pytorch:25.01-py3", [gpus_request()])}).finish()


def cdi_mode_systemd(root: Path) -> Path:
    """config.toml mode = "cdi", the systemd driver, no links, a current CDI spec and a running
    CDI container: the healthy CDI host (no NVML warning; `--device=nvidia.com/gpu=all`)."""
    return nvidia_host(root, mode="cdi", cdi_spec=True, containers={
        "cdi-job": container("ubuntu:24.04", [cdi_request()])}).finish()


def cdi_mode_gpus_used(root: Path) -> Path:
    """mode = "cdi" while a stopped container was created with `--gpus`: it cannot start."""
    return nvidia_host(root, mode="cdi", cdi_spec=True, containers={
        "trainer": container("nvcr.io/nvidia/pytorch:25.01-py3", [gpus_request()],
                             state="exited")}).finish()


def jit_cdi_1_18(root: Path, refresh_enabled: bool = True, spec_driver: str = DRIVER) -> Path:
    """Toolkit 1.18.0 (auto means just-in-time CDI) with its nvidia-cdi-refresh units, systemd
    driver, no links, a spec the refresh unit wrote (for `spec_driver`); refresh units enabled
    or not."""
    r = nvidia_host(root, version="1.18.0-1")
    r.driver_libs(spec_driver)
    r.cdi_spec(driver=spec_driver)
    for unit in ("nvidia-cdi-refresh.service", "nvidia-cdi-refresh.path"):
        r.b.write(f"/usr/lib/systemd/system/{unit}", f"[Unit]\nDescription={unit}\n")
    if refresh_enabled:
        r.b.symlink("/etc/systemd/system/multi-user.target.wants/nvidia-cdi-refresh.service",
                    "/usr/lib/systemd/system/nvidia-cdi-refresh.service")
        r.b.symlink("/etc/systemd/system/multi-user.target.wants/nvidia-cdi-refresh.path",
                    "/usr/lib/systemd/system/nvidia-cdi-refresh.path")
    else:
        r.b.mkdir("/etc/systemd/system/multi-user.target.wants")
    return r.finish()


def toolkit_version(root: Path, version: str, mode: str | None = None) -> Path:
    """Only the toolkit at `version` (and `mode`), the cgroupfs driver: for the advisories."""
    return nvidia_host(root, version=version, mode=mode, cgroup="cgroupfs",
                       cdi_spec=mode == "cdi").finish()


def ldconfig_missing(root: Path, version: str = "1.14.3-1") -> Path:
    """A config.toml carried from Ubuntu (`@/sbin/ldconfig.real`) on a host without that file
    (only /sbin/ldconfig). Toolkit 1.14 uses the path as written; 1.15 and later fall back to
    /sbin/ldconfig (NormalizeLDConfigPath)."""
    r = nvidia_host(root, version=version, cgroup="cgroupfs")
    (r.b.root / "sbin/ldconfig.real").unlink()
    return r.finish()


def no_cgroups_rootful(root: Path) -> Path:
    """`no-cgroups = true` (meant for rootless) under the system (rootful) daemon."""
    r = nvidia_host(root, cgroup="cgroupfs")
    config = r.b.root / "etc/nvidia-container-runtime/config.toml"
    config.write_text(config.read_text().replace("#no-cgroups = false", "no-cgroups = true"))
    return r.finish()


def mig_without_mig_spec(root: Path) -> Path:
    """MIG enabled on GPU 0 (nvidia-smi, recorded) while the CDI spec lists whole GPUs only."""
    r = nvidia_host(root, cgroup="cgroupfs", cdi_spec=True)
    r.b.write("/usr/bin/nvidia-smi", "#!/bin/sh\n", mode=0o755)
    r.b.add_command("nvidia-smi-mig", ["nvidia-smi", "--query-gpu=index,mig.mode.current",
                                       "--format=csv,noheader"],
                    stdout="0, Enabled\n1, Disabled\n2, Disabled\n3, Disabled\n4, Disabled\n"
                           "5, Disabled\n6, Disabled\n7, Disabled\n")
    return r.finish()


def spec_0_7_old_containerd(root: Path) -> Path:
    """Toolkit 1.19.1's cdiVersion 0.7.0 spec, with containerd 1.7.12 installed (needs 1.7.16)."""
    r = nvidia_host(root, version="1.19.1-1", cgroup="cgroupfs")
    r.cdi_spec(cdi_version="0.7.0")
    r.b.write("/usr/bin/containerd", "#!/bin/sh\n", mode=0o755)
    r.b.add_command("containerd-version", ["/usr/bin/containerd", "--version"],
                    stdout="containerd containerd.io 1.7.12 "
                           "71909c1814c544ac47ab91d2e8b84718e517bb99\n")
    return r.finish()


def newer_driver_than_the_table(root: Path) -> Path:
    """Driver 590.44.01, newer than the shipped driver/CUDA table; `nvidia-smi` recorded with
    its header (CUDA 13.1); a stopped container of a CUDA 13.1 image."""
    env13 = ["NVIDIA_REQUIRE_CUDA=" + REQUIRE_CUDA_13_1, "NVIDIA_VISIBLE_DEVICES=all"]
    r = nvidia_host(root, cgroup="cgroupfs", containers={
        "new-cuda": container("nvidia/cuda:13.1.0-base-ubuntu24.04", [gpus_request()],
                              state="exited", env=env13)})
    r.b.write("/sys/module/nvidia/version", "590.44.01\n")
    r.b.set_nvidia_driver("590.44.01", open_module=True)
    r.b.write("/usr/bin/nvidia-smi", "#!/bin/sh\n", mode=0o755)
    r.b.add_command("nvidia-smi", ["nvidia-smi"], stdout=SMI_HEADER)
    return r.finish()


#: The first lines `nvidia-smi` prints (its header), for a 590 driver.
SMI_HEADER = """\
Mon Feb 13 09:30:00 2026
+-----------------------------------------------------------------------------------------+
| NVIDIA-SMI 590.44.01              Driver Version: 590.44.01      CUDA Version: 13.1     |
+-----------------------------------------+------------------------+----------------------+
"""


def image_needs_newer_driver(root: Path) -> Path:
    """Driver 580.95.05 (CUDA 13.0); a stopped `--gpus` container of a CUDA 13.1 image, a
    running one of a 12.8 image, and the image `nvidia/cuda:13.1.0-base-ubuntu24.04` present
    (for `--image`)."""
    env13 = ["PATH=/usr/local/nvidia/bin:/usr/local/cuda/bin:/usr/sbin:/usr/bin:/sbin:/bin",
             "NVIDIA_REQUIRE_CUDA=" + REQUIRE_CUDA_13_1,
             "NVIDIA_DRIVER_CAPABILITIES=compute,utility", "NVIDIA_VISIBLE_DEVICES=all",
             "CUDA_VERSION=13.1.0"]
    env12 = [e.replace(REQUIRE_CUDA_13_1, REQUIRE_CUDA_12_8).replace("13.1.0", "12.8.1")
             for e in env13]
    r = nvidia_host(root, cgroup="cgroupfs", containers={
        "new-cuda": container("nvidia/cuda:13.1.0-base-ubuntu24.04", [gpus_request()],
                              state="exited", env=env13),
        "old-cuda": container("nvidia/cuda:12.8.1-base-ubuntu24.04", [gpus_request()],
                              env=env12),
    })
    assert r.docker is not None
    r.docker["images_nvidia%2Fcuda%3A13.1.0-base-ubuntu24.04_json"] = {
        "Id": "sha256:" + "cd" * 32, "RepoTags": ["nvidia/cuda:13.1.0-base-ubuntu24.04"],
        "Config": {"Env": env13}}
    return r.finish()


__all__ = ["DRIVER", "REQUIRE_CUDA_12_8", "REQUIRE_CUDA_13_1", "cdi_mode_gpus_used",
           "cdi_mode_systemd", "cdi_request", "container", "gpus_request",
           "image_needs_newer_driver", "jit_cdi_1_18", "ldconfig_missing", "legacy_cgroupfs",
           "legacy_systemd_exposed", "legacy_systemd_with_links", "mig_without_mig_spec",
           "newer_driver_than_the_table", "no_cgroups_rootful", "nvidia_host",
           "spec_0_7_old_containerd", "toolkit_version"]

"""Host roots for engines other than Docker that this machine cannot run: Podman 5 and rootless
Podman, containerd 1.7 and 2.x (config version 3) under a kubelet, CRI-O nodes.

Files are laid out as the packages and tools leave them: containerd's config.toml as
`containerd config default` writes it (trimmed to the keys that matter, in its layout),
nvidia-ctk 1.18's drop-in in /etc/containerd/conf.d/99-nvidia.toml, kubeadm's
/var/lib/kubelet/kubeadm-flags.env and KubeletConfiguration, CRI-O's crio.conf.d drop-ins, and
the `--version` lines each program prints, recorded in host.json `commands`.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.container_roots import (
    CAPTURED,
    TOOLKIT_BUILD,
    ContainerRoot,
)

INSTALLED = CAPTURED - 40 * 86400
STARTED = CAPTURED - 2 * 86400
CRI2 = 'plugins."io.containerd.grpc.v1.cri"'
CRI3 = 'plugins."io.containerd.cri.v1.runtime"'

#: `containerd config default` of 1.7, trimmed to the parts the checks read (version 2).
CONTAINERD_17_DEFAULT = f"""disabled_plugins = []
imports = []
oom_score = 0
root = "/var/lib/containerd"
state = "/run/containerd"
version = 2

[grpc]
  address = "/run/containerd/containerd.sock"

[plugins]

  [{CRI2}]
    sandbox_image = "registry.k8s.io/pause:3.8"

    [{CRI2}.cni]
      bin_dir = "/opt/cni/bin"
      conf_dir = "/etc/cni/net.d"

    [{CRI2}.containerd]
      default_runtime_name = "runc"
      snapshotter = "overlayfs"

      [{CRI2}.containerd.runtimes]

        [{CRI2}.containerd.runtimes.runc]
          runtime_type = "io.containerd.runc.v2"

          [{CRI2}.containerd.runtimes.runc.options]
            SystemdCgroup = true
"""

#: nvidia-ctk 1.18's drop-in for a version 2 config: only the runtime (which containerd 1.x
#: turns into the whole CRI section).
NVIDIA_DROPIN_V2 = f"""version = 2

[plugins]

  [{CRI2}]

    [{CRI2}.containerd]

      [{CRI2}.containerd.runtimes]

        [{CRI2}.containerd.runtimes.nvidia]
          runtime_type = "io.containerd.runc.v2"

          [{CRI2}.containerd.runtimes.nvidia.options]
            BinaryName = "/usr/bin/nvidia-container-runtime"
            SystemdCgroup = true
"""

CONTAINERD_2_CONFIG = f"""version = 3
root = "/var/lib/containerd"
state = "/run/containerd"
imports = ["/etc/containerd/conf.d/*.toml"]

[grpc]
  address = "/run/containerd/containerd.sock"

[plugins]
  [{CRI3}]
    [{CRI3}.containerd]
      default_runtime_name = "runc"
      [{CRI3}.containerd.runtimes]
        [{CRI3}.containerd.runtimes.runc]
          runtime_type = "io.containerd.runc.v2"
          [{CRI3}.containerd.runtimes.runc.options]
            SystemdCgroup = true
"""

NVIDIA_DROPIN_V3 = f"""version = 3

[plugins]
  [{CRI3}]
    [{CRI3}.containerd]
      default_runtime_name = "nvidia"
      [{CRI3}.containerd.runtimes]
        [{CRI3}.containerd.runtimes.nvidia]
          runtime_type = "io.containerd.runc.v2"
          [{CRI3}.containerd.runtimes.nvidia.options]
            BinaryName = "/usr/bin/nvidia-container-runtime"
            SystemdCgroup = true
"""

KUBELET_CONFIG = """apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous:
    enabled: false
cgroupDriver: systemd
clusterDNS:
- 10.96.0.10
clusterDomain: cluster.local
containerRuntimeEndpoint: ""
staticPodPath: /etc/kubernetes/manifests
"""

CRIO_CONF = """# The CRI-O configuration file specifies all of the available configuration
# options and command-line flags for the crio(8) OCI Kubernetes Container Runtime
# daemon, but in a TOML format that can be more easily modified and versioned.
[crio]

[crio.runtime]
# default_runtime is the _name_ of the OCI runtime to be used as the default.
default_runtime = "crun"
cgroup_manager = "systemd"

[crio.runtime.runtimes.crun]
runtime_path = "/usr/libexec/crio/crun"
runtime_type = "oci"
"""

CRIO_NVIDIA_DROPIN = """[crio]
  [crio.runtime]
    [crio.runtime.runtimes]
      [crio.runtime.runtimes.nvidia]
        runtime_path = "/usr/bin/nvidia-container-runtime"
        runtime_type = "oci"
"""


def write_into(root: Path, path: str, text: str, mode: int = 0o644) -> Path:
    """Write `text` at `path` inside a finished root (after the builder is done), making the
    folders on the way."""
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    target.chmod(mode)
    return target


def _package(r: ContainerRoot, name: str, version: str, section: str = "admin") -> None:
    r.dpkg_paragraphs.append(
        f"Package: {name}\nStatus: install ok installed\nPriority: optional\n"
        f"Section: {section}\nInstalled-Size: 40000\nArchitecture: amd64\n"
        f"Version: {version}\nDescription: {name}\n")


def _program(r: ContainerRoot, path: str) -> None:
    r.b.write(path, f"#!/bin/sh\n# {path} (placeholder in a host root)\n", mode=0o755,
              mtime=TOOLKIT_BUILD)


def nvidia_host(root: Path, hardware: str = "server_8gpu_bmc") -> ContainerRoot:
    """The 8 x H100 server with the toolkit and its driver libraries, no Docker at all."""
    r = ContainerRoot(root, hardware)
    r.toolkit(installed_at=INSTALLED)
    r.driver_libs()
    return r


def podman(r: ContainerRoot, version: str = "4.3.1", package: str = "4.3.1+ds1-8+deb12u1",
           runtime: str = "crun") -> None:
    _package(r, "podman", package)
    _program(r, "/usr/bin/podman")
    _program(r, f"/usr/bin/{runtime}")
    r.b.add_command("podman-version", ["/usr/bin/podman", "--version"],
                    stdout=f"podman version {version}\n")


def rootful(r: ContainerRoot) -> None:
    """The person runs podman as root (`sudo podman`)."""
    r.b.set_user("root", 0, 0, [0])


def podman_nvidia(root: Path, version: str = "4.3.1", cdi_version: str = "0.5.0",
                  person_root: bool = True, legacy_hook: bool = False) -> Path:
    """Fedora-style: Podman only, an NVIDIA spec in /etc/cdi."""
    r = nvidia_host(root)
    podman(r, version=version, package=f"{version}+ds1-1")
    if person_root:
        rootful(r)
    r.cdi_spec("/etc/cdi/nvidia.yaml", cdi_version=cdi_version)
    if legacy_hook:
        r.b.write("/usr/share/containers/oci/hooks.d/oci-nvidia-hook.json",
                  '{"version": "1.0.0", "hook": {"path": "/usr/bin/nvidia-container-toolkit", '
                  '"args": ["nvidia-container-toolkit", "prestart"]}, "when": {"always": true}, '
                  '"stages": ["prestart"]}\n')
    return r.finish()


def podman_nvidia_no_spec(root: Path) -> Path:
    r = nvidia_host(root)
    podman(r)
    rootful(r)
    return r.finish()


def podman_rootless_amd(root: Path, runtime: str = "crun") -> Path:
    """alice runs rootless Podman on the AMD laptop of the field guide."""
    r = ContainerRoot(root, "amd_laptop_field_guide")
    podman(r, runtime=runtime)
    r.b.write("/etc/containers/containers.conf", f'[engine]\nruntime = "{runtime}"\n')
    r.b.write("/etc/subuid", "alice:100000:65536\n")
    r.b.write("/etc/subgid", "alice:100000:65536\n")
    return r.finish()


def containerd(r: ContainerRoot, version: str, package: str, config: str | None) -> None:
    _package(r, "containerd.io", package)
    _program(r, "/usr/bin/containerd")
    r.b.add_command("containerd-version", ["/usr/bin/containerd", "--version"],
                    stdout=f"containerd containerd.io {version} "
                           "05044ec0a9a75232cad458027ca83437aae3f4da\n")
    if config is not None:
        r.b.write("/etc/containerd/config.toml", config, mtime=INSTALLED)
    r.process(812, "containerd", "/usr/bin/containerd", ["/usr/bin/containerd"],
              create_time=STARTED)


def kubelet(r: ContainerRoot, endpoint: str = "unix:///var/run/containerd/containerd.sock",
            version: str = "1.30.4") -> None:
    _package(r, "kubelet", f"{version}-1.1")
    _program(r, "/usr/bin/kubelet")
    r.b.add_command("kubelet-version", ["/usr/bin/kubelet", "--version"],
                    stdout=f"Kubernetes v{version}\n")
    r.b.write("/var/lib/kubelet/config.yaml", KUBELET_CONFIG)
    r.b.write("/var/lib/kubelet/kubeadm-flags.env",
              f'KUBELET_KUBEADM_ARGS="--container-runtime-endpoint={endpoint} '
              '--pod-infra-container-image=registry.k8s.io/pause:3.9"\n')
    r.process(1100, "kubelet", "/usr/bin/kubelet",
              ["/usr/bin/kubelet", "--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf",
               "--kubeconfig=/etc/kubernetes/kubelet.conf",
               "--config=/var/lib/kubelet/config.yaml",
               f"--container-runtime-endpoint={endpoint}"], create_time=STARTED)


def k8s_containerd17(root: Path, nvidia: str = "none") -> Path:
    """A kubeadm node on containerd 1.7 (config version 2).

    nvidia: "none" (never configured), "main" (declared in config.toml as nvidia-ctk 1.17
    does, as the default), "dropin-only" (nvidia-ctk 1.18's drop-in holding only the runtime,
    which makes containerd 1.7 forget runc).
    """
    r = nvidia_host(root)
    config = CONTAINERD_17_DEFAULT
    if nvidia == "main":
        config = config.replace('default_runtime_name = "runc"',
                                'default_runtime_name = "nvidia"') + f"""
        [{CRI2}.containerd.runtimes.nvidia]
          runtime_type = "io.containerd.runc.v2"

          [{CRI2}.containerd.runtimes.nvidia.options]
            BinaryName = "/usr/bin/nvidia-container-runtime"
            SystemdCgroup = true
"""
    elif nvidia == "dropin-only":
        config = config.replace("imports = []", 'imports = ["/etc/containerd/conf.d/*.toml"]')
        r.b.write("/etc/containerd/conf.d/99-nvidia.toml", NVIDIA_DROPIN_V2, mtime=INSTALLED)
    containerd(r, "1.7.27", "1.7.27-1", config)
    kubelet(r)
    return r.finish()


def k8s_containerd2(root: Path, dropin: bool = True) -> Path:
    """A node on containerd 2.1 (config version 3) with nvidia-ctk's drop-in."""
    r = nvidia_host(root)
    containerd(r, "2.1.4", "2.1.4-1", CONTAINERD_2_CONFIG)
    if dropin:
        r.b.write("/etc/containerd/conf.d/99-nvidia.toml", NVIDIA_DROPIN_V3, mtime=INSTALLED)
    kubelet(r)
    return r.finish()


def k8s_crio(root: Path, dropin: bool = False) -> Path:
    r = nvidia_host(root)
    _package(r, "cri-o", "1.30.3-1.1")
    _program(r, "/usr/bin/crio")
    r.b.add_command("crio-version", ["/usr/bin/crio", "--version"],
                    stdout="crio version 1.30.3\nVersion:        1.30.3\n")
    r.b.write("/etc/crio/crio.conf", CRIO_CONF)
    r.b.write("/etc/crio/crio.conf.d/10-crun.conf", '[crio.runtime]\ndefault_runtime = "crun"\n')
    if dropin:
        r.b.write("/etc/crio/crio.conf.d/99-nvidia.toml", CRIO_NVIDIA_DROPIN)
    r.process(905, "crio", "/usr/bin/crio", ["/usr/bin/crio"], create_time=STARTED)
    kubelet(r, endpoint="unix:///var/run/crio/crio.sock")
    return r.finish()

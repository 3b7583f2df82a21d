"""The kubelet on a Kubernetes node: which container runtime endpoint it uses, and its cgroup
driver. gpudoctor never talks to the API server; all of this comes from the node itself
(the kubelet's command line, kubeadm's flags file and its KubeletConfiguration file)."""

from __future__ import annotations

import re

from gpudoctor.facts.engine_base import (
    binary,
    command_version,
    flag_value,
    installed_packages,
    processes_named,
    read_text_quiet,
    upstream_version,
)
from gpudoctor.host.base import Host, ProcessInfo
from gpudoctor.record import field, record

KUBEADM_FLAGS = "/var/lib/kubelet/kubeadm-flags.env"
DEFAULT_CONFIG = "/var/lib/kubelet/config.yaml"
#: containerd's socket: the kubelet's default endpoint since the dockershim went (1.24)
DEFAULT_ENDPOINT = "unix:///run/containerd/containerd.sock"
CMD_VERSION = "kubelet-version"


@record
class KubeletState:
    """A kubelet on this node: its runtime endpoint and cgroup driver."""

    binary: str | None = None
    package: str | None = None
    version: str | None = None
    process: ProcessInfo | None = None
    config_path: str | None = None
    endpoint: str | None = None
    endpoint_source: str = ""
    cgroup_driver: str | None = None
    evidence: list[str] = field(default_factory=list)

    @property
    def present(self) -> bool:
        return bool(self.binary or self.package or self.process)

    @property
    def runtime(self) -> str | None:
        """The engine behind the endpoint: containerd, cri-o, docker (cri-dockerd) or None."""
        text = self.endpoint or ""
        if "containerd" in text:
            return "containerd"
        if "crio" in text:
            return "cri-o"
        if "cri-dockerd" in text or "dockershim" in text:
            return "docker"
        return None


def _yaml_scalar(text: str, key: str) -> str | None:
    match = re.search(rf"^{key}:\s*['\"]?([^'\"#\s]+)", text, re.MULTILINE)
    return match.group(1) if match else None


def inspect_kubelet(host: Host) -> KubeletState:
    state = KubeletState()
    state.binary = binary(host, "kubelet")
    pkg = installed_packages(host, ("kubelet",)).get("kubelet")
    if pkg is not None:
        state.package = f"kubelet {pkg.version}"
    procs = processes_named(host, "kubelet") or []
    state.process = procs[0] if procs else None
    if not state.present:
        return state
    state.version, line = command_version(host, CMD_VERSION, [state.binary or "kubelet",
                                                              "--version"])
    state.evidence.append(line)
    if state.version is None and pkg is not None:
        state.version = upstream_version(pkg.version)
    args: list[str] = list(state.process.cmdline) if state.process else []
    flags_env = read_text_quiet(host, KUBEADM_FLAGS)
    if flags_env:
        match = re.search(r'KUBELET_KUBEADM_ARGS="([^"]*)"', flags_env)
        if match:
            args += match.group(1).split()
            state.evidence.append(f"{KUBEADM_FLAGS}: {match.group(1)}")
    state.config_path = flag_value(args, "--config") or (
        DEFAULT_CONFIG if host.exists(DEFAULT_CONFIG) else None)
    config = read_text_quiet(host, state.config_path) if state.config_path else None
    flag = flag_value(args, "--container-runtime-endpoint")
    if flag:
        state.endpoint, state.endpoint_source = flag, "--container-runtime-endpoint"
    elif config and _yaml_scalar(config, "containerRuntimeEndpoint"):
        state.endpoint = _yaml_scalar(config, "containerRuntimeEndpoint")
        state.endpoint_source = f"containerRuntimeEndpoint in {state.config_path}"
    else:
        state.endpoint, state.endpoint_source = DEFAULT_ENDPOINT, "the kubelet's default"
    if config:
        state.cgroup_driver = _yaml_scalar(config, "cgroupDriver")
        state.evidence.append(f"{state.config_path}: cgroupDriver "
                              f"{state.cgroup_driver or '(unset: cgroupfs)'}")
    state.cgroup_driver = flag_value(args, "--cgroup-driver") or state.cgroup_driver
    return state

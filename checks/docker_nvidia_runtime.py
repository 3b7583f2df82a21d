"""docker.nvidia_runtime: the `nvidia` runtime is declared in the file the daemon really reads,
and the running daemon has loaded it (Engine API /info `Runtimes`)."""

from __future__ import annotations

import json
from typing import Any

from gpudoctor.facts import Facts
from gpudoctor.facts.docker import DockerDaemon, other_config_files
from gpudoctor.facts.nvidia_args import nvidia_ways
from gpudoctor.facts.toolkit import (
    SERVICE_PATH,
    nvidia_skip_reason,
    toolkit_config_for,
)
from gpudoctor.plugin import Area, Check, Findings, Result, Status

CONFIGURE = "docker.configure_nvidia_runtime"
RELOAD = "docker.reload"
NO_CGROUPS = "nvidia.rootless_no_cgroups"
BOTH_PATHS = (
    "Docker can give NVIDIA GPUs two ways: `--gpus` (and compose `driver: nvidia`), which goes "
    "through the toolkit's hook that dockerd found on its PATH at start and needs no runtime; "
    "and `--runtime=nvidia` (compose `runtime: nvidia`), which needs the `nvidia` runtime "
    "declared in daemon.json and loaded by the daemon.")


def _declared(runtimes: Any) -> dict[str, Any] | None:
    if isinstance(runtimes, dict) and isinstance(runtimes.get("nvidia"), dict):
        return runtimes["nvidia"]
    return None



#: Daemons whose configuration belongs to the person, not to root.
PER_USER_MODES = ("rootless", "desktop")


def configure_command(d: DockerDaemon) -> str:
    """`nvidia-ctk runtime configure` for the file this daemon reads. A per-user daemon's file
    is the person's: no sudo (it would leave a root-owned file in their home), and an absolute
    path, since the shell does not expand `~` after `--config=`."""
    path = d.config_path or "/etc/docker/daemon.json"
    if path.startswith("~/"):
        path = "$HOME/" + path[2:]
    sudo = "" if d.mode in PER_USER_MODES else "sudo "
    return f"{sudo}nvidia-ctk runtime configure --runtime=docker --config={path}"

class DockerNvidiaRuntime(Check):
    id = "docker.nvidia_runtime"
    title = "Docker knows the nvidia runtime"
    area = Area.CONTAINER
    order = 80

    def applies(self, facts: Facts) -> str | None:
        from gpudoctor.facts.engines import docker_absent_reason

        reason = nvidia_skip_reason(facts) or docker_absent_reason(facts)
        if reason:
            return reason
        d = facts.docker
        if d.mode == "desktop":
            return ("Docker Desktop's engine runs in a VM the toolkit cannot reach (see "
                    "docker.daemon)")
        if d.mode == "remote":
            return (f"the daemon at {d.endpoint} runs on another machine; its configuration "
                    "cannot be read from here")
        return None

    def run(self, facts: Facts) -> Result:
        d = facts.docker
        cfg = d.config
        declared = _declared(cfg.values.get("runtimes"))
        flag_declared = [v for v in d.flag_values("--add-runtime") if v.startswith("nvidia=")]
        elsewhere = [c for c in other_config_files(facts.host, d)
                     if _declared(c.values.get("runtimes"))]
        found = Findings(evidence=[
            f"configuration read by the daemon: {d.config_path} ({d.config_source})",
            f"{d.config_path}: " + (f"declares runtimes.nvidia = {json.dumps(declared)}"
                                    if declared else
                                    "does not declare runtimes.nvidia" if cfg.usable else
                                    f"cannot be parsed ({cfg.state})"),
        ])
        found.evidence += [f"dockerd flag --add-runtime={v}" for v in flag_declared]
        found.evidence += [f"{c.path} (not read by this daemon): declares runtimes.nvidia"
                           for c in elsewhere]
        if not d.captured or not d.reachable:
            state = ("declares it" if declared or flag_declared else
                     "does not declare it" if cfg.usable else
                     "cannot be parsed (see docker.daemon)")
            why = ("the host root did not capture the daemon (no `docker` key in host.json)"
                   if not d.captured else "the daemon does not answer (see docker.daemon)")
            return Result.skip(f"whether the nvidia runtime is loaded is unknown: {why}; "
                               f"{d.config_path} {state}", evidence=found.evidence)
        loaded = d.runtimes.get("nvidia")
        found.evidence.append("daemon's loaded runtimes: " + (", ".join(
            f"{n} ({v.get('path', '?') if isinstance(v, dict) else v})"
            for n, v in d.runtimes.items()) or "none reported"))
        found.evidence.append(f"default runtime: {d.default_runtime or '?'} (daemon.json "
                              f"default-runtime: {cfg.values.get('default-runtime', 'unset')})")
        if loaded is not None:
            self._loaded(facts, d, loaded, declared or flag_declared, found)
        elif declared or flag_declared:
            where = ("`--add-runtime` on dockerd's command line" if flag_declared and not
                     declared else d.config_path)
            found.add(
                Status.FAIL, f"the nvidia runtime is declared in {where} but the running "
                "daemon has not loaded it",
                f"{where} declares `nvidia`, but the daemon's /info lists only "
                f"{', '.join(d.runtimes) or 'no runtimes'}: it was declared after the daemon "
                "last read its configuration. `docker run --runtime=nvidia` fails with "
                f"`{d.unknown_runtime_error()}` until the daemon reloads (runtimes "
                "are reloadable; no restart needed). " + BOTH_PATHS,
                remedy=(f"`sudo systemctl reload docker` (or `sudo kill -HUP "
                        f"{d.process.pid if d.process else '$(pidof dockerd)'}`), then check "
                        "`docker info --format '{{json .Runtimes}}'`: a reload that fails is "
                        "silent." if d.mode == "system" else f"`{d.restart_command()}`"),
                fixes=(RELOAD,),
                commands=(("sudo systemctl reload docker",
                           "docker info --format '{{json .Runtimes}}'")
                          if d.mode == "system" else (d.restart_command(),)),
                id="docker.nvidia_runtime.not_loaded")
        elif not cfg.usable:
            found.add(
                Status.FAIL, f"the nvidia runtime is not loaded and {d.config_path} cannot be "
                "parsed",
                f"The daemon has not loaded an `nvidia` runtime, and {cfg.describe_error()}. "
                "Neither dockerd nor gpudoctor's fixes can use that file until its syntax is "
                "corrected (see docker.daemon). " + BOTH_PATHS,
                remedy=f"Correct {d.config_path} first, then declare the runtime.",
                id="docker.nvidia_runtime.config_unreadable")
        elif elsewhere:
            paths = ", ".join(c.path for c in elsewhere)
            found.add(
                Status.FAIL, f"the nvidia runtime is declared in {paths}, which this daemon "
                "does not read",
                f"{paths} declares `nvidia`, but this daemon ({d.mode}) reads {d.config_path} "
                f"({d.config_source}), which does not. This is what happens when "
                "`nvidia-ctk runtime configure` (it edits /etc/docker/daemon.json by default) "
                "meets a snap, rootless or `--config-file` daemon. " + BOTH_PATHS,
                remedy=(f"`{configure_command(d)}`, then `{d.restart_command()}`."),
                fixes=(CONFIGURE, RELOAD),
                commands=(configure_command(d), d.restart_command()),
                id="docker.nvidia_runtime.declared_elsewhere")
        else:
            ways = nvidia_ways(facts)
            other = ("`--gpus` works without it" if ways.gpus_driver else
                     "`--device=nvidia.com/gpu=all` (CDI) works without it" if ways.cdi else "")
            found.add(
                Status.WARN if other else Status.FAIL, "the nvidia runtime is not declared"
                + (f"; {other}" if other else ""),
                f"{d.config_path} declares no `nvidia` runtime and the daemon has not loaded "
                "one, so `docker run --runtime=nvidia` and compose `runtime: nvidia` fail with "
                f"`{d.unknown_runtime_error()}`. " + BOTH_PATHS + (
                    " Here `--gpus` works (the hook was on dockerd's PATH at start), so this "
                    "matters only for what asks for the runtime by name." if ways.gpus_driver
                    else " Here CDI gives the GPUs (`--device=nvidia.com/gpu=all`), so this "
                    "matters only for what asks for the runtime by name." if ways.cdi else
                    " Here `--gpus` does not work either (see nvidia.toolkit)."),
                remedy=(f"`{configure_command(d)}` then `sudo systemctl reload docker`"
                        if d.mode == "system" else
                        f"`{configure_command(d)}` then `{d.restart_command()}`"),
                fixes=(CONFIGURE, RELOAD),
                commands=(configure_command(d), "sudo systemctl reload docker"
                          if d.mode == "system" else d.restart_command()),
                id="docker.nvidia_runtime.not_declared")
        self._default_runtime(d, loaded, found)
        if d.mode == "rootless":
            self._rootless(facts, found)
        return found.result(
            f"the nvidia runtime is declared in {d.config_path} and loaded",
            "`--runtime=nvidia` works. " + BOTH_PATHS)

    def _loaded(self, facts: Facts, d: DockerDaemon, loaded: Any, declared: Any,
                found: Findings) -> None:
        path = loaded.get("path") if isinstance(loaded, dict) else None
        if isinstance(path, str) and path:
            search = d.path_env or SERVICE_PATH
            where = facts.host.find_program(path, search)
            found.evidence.append(f"runtime program {path}: " + (f"found at {where}" if where
                                                                  else "not found"))
            if where is None:
                found.add(
                    Status.FAIL, f"the nvidia runtime's program {path} is missing",
                    f"The daemon has the `nvidia` runtime loaded with path `{path}`, but that "
                    + ("file does not exist" if path.startswith("/") else
                       f"program is not on dockerd's PATH ({search})")
                    + ". Containers started with it fail: `exec: \"" + path + "\": executable "
                    "file not found in $PATH` (dockerd does not check at reload).",
                    remedy="Install nvidia-container-toolkit-base (it ships "
                           "nvidia-container-runtime), or declare the runtime with an absolute "
                           "path such as /usr/bin/nvidia-container-runtime.",
                    fixes=("nvidia.install_toolkit",), id="docker.nvidia_runtime.program_missing")
        if not declared and d.config.usable:
            found.add(
                Status.WARN, f"the nvidia runtime is loaded but no longer declared in "
                f"{d.config_path}",
                f"The running daemon has `nvidia` loaded, but {d.config_path} no longer "
                "declares it: the next reload or restart drops it and `--runtime=nvidia` "
                "stops working.",
                remedy=f"`{configure_command(d)}`",
                fixes=(CONFIGURE,), commands=(configure_command(d),),
                id="docker.nvidia_runtime.no_longer_declared")

    def _default_runtime(self, d: DockerDaemon, loaded: Any, found: Findings) -> None:
        wanted = d.config.values.get("default-runtime")
        if wanted == "nvidia" and loaded is None:
            found.add(
                Status.FAIL, "default-runtime is nvidia but no nvidia runtime is loaded",
                f"{d.config_path} sets `\"default-runtime\": \"nvidia\"`; dockerd refuses "
                "that configuration (`specified default runtime 'nvidia' does not exist`) "
                "until the runtime is declared too, so the next restart or reload fails.",
                remedy="Declare the runtime (below) or remove default-runtime.",
                fixes=(CONFIGURE, RELOAD), id="docker.nvidia_runtime.default_missing")
        elif d.default_runtime == "nvidia":
            found.evidence.append("every container runs with the nvidia runtime "
                                  "(default-runtime), even without --runtime")

    def _rootless(self, facts: Facts, found: Findings) -> None:
        cfg = toolkit_config_for(facts)
        found.evidence.append(f"toolkit config {cfg.path}: no-cgroups = {cfg.no_cgroups}"
                              if cfg.exists else f"toolkit config {cfg.path}: does not exist")
        if cfg.no_cgroups is True:
            return
        found.add(
            Status.FAIL, "rootless Docker needs `no-cgroups = true` in the toolkit's config",
            "Rootless dockerd cannot change device cgroups, so nvidia-container-cli fails "
            "with `bpf_prog_query(BPF_CGROUP_DEVICE) failed: operation not permitted` "
            f"unless {cfg.path} sets `no-cgroups = true` under [nvidia-container-cli]. The "
            "setting is host-wide: a rootful Docker on the same host then loses device "
            "isolation for GPUs.",
            remedy=f"`sudo nvidia-ctk config --config-file={cfg.path} --set "
                   "nvidia-container-cli.no-cgroups --in-place`, then "
                   "`systemctl --user restart docker`.",
            fixes=(NO_CGROUPS,),
            commands=(f"sudo nvidia-ctk config --config-file={cfg.path} --set "
                      "nvidia-container-cli.no-cgroups --in-place",
                      "systemctl --user restart docker"),
            id="docker.nvidia_runtime.rootless_needs_no_cgroups")

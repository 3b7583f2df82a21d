"""docker.nvidia_runtime: the `nvidia` runtime is declared in the file the daemon really reads,
and the running daemon has loaded it (Engine API /info `Runtimes`)."""

from __future__ import annotations

from gpudoctor import TYPE_CHECKING
from gpudoctor.plugin import Area, Check, Findings, Result, Say, Sentences, Status

if TYPE_CHECKING:
    from typing import Any

    from gpudoctor.facts import Facts
    from gpudoctor.facts.docker import DockerDaemon

ID = "docker.nvidia_runtime"
CONFIGURE = "docker.configure_nvidia_runtime"
RELOAD = "docker.reload"
NO_CGROUPS = "nvidia.rootless_no_cgroups"
BOTH_PATHS = (
    "Docker can give NVIDIA GPUs two ways: `--gpus` (and compose `driver: nvidia`), which goes "
    "through the toolkit's hook that dockerd found on its PATH at start and needs no runtime; "
    "and `--runtime=nvidia` (compose `runtime: nvidia`), which needs the `nvidia` runtime "
    "declared in daemon.json and loaded by the daemon.")
#: Where the runtime is declared when only dockerd's command line does it (`{where}`).
FLAG_WHERE = "`--add-runtime` on dockerd's command line"
#: What the file says about the runtime (`{state}` of the skip rows).
DECLARED_STATE = {"yes": "declares it", "no": "does not declare it",
                  "broken": "cannot be parsed (see docker.daemon)"}
SYSTEM_RELOAD = "sudo systemctl reload docker"
CHECK_RUNTIMES = "docker info --format '{{json .Runtimes}}'"

NOT_LOADED = ("{where} declares `nvidia`, but the daemon's /info lists only {loaded}: it was "
              "declared after the daemon last read its configuration. `docker run "
              "--runtime=nvidia` fails with `{unknown_runtime}` until the daemon reloads "
              "(runtimes are reloadable; no restart needed). " + BOTH_PATHS)
NOT_DECLARED = ("{config_path} declares no `nvidia` runtime and the daemon has not loaded one, "
                "so `docker run --runtime=nvidia` and compose `runtime: nvidia` fail with "
                "`{unknown_runtime}`. " + BOTH_PATHS)
NOT_DECLARED_REMEDY = "`{configure}` then `{reload}`"
BY_NAME_ONLY = " matters only for what asks for the runtime by name."
PROGRAM_FAILS = (". Containers started with it fail: `exec: \"{path}\": executable file not "
                 "found in $PATH` (dockerd does not check at reload).")
PROGRAM_REMEDY = ("Install nvidia-container-toolkit-base (it ships nvidia-container-runtime), "
                  "or declare the runtime with an absolute path such as "
                  "/usr/bin/nvidia-container-runtime.")
NO_CGROUPS_SET = ("sudo nvidia-ctk config --config-file={toolkit_config} --set "
                  "nvidia-container-cli.no-cgroups --in-place")

SENTENCES = Sentences(ID, {
    "not_loaded": Say(
        Status.FAIL, "the nvidia runtime is declared in {where} but the running daemon has "
        "not loaded it", NOT_LOADED,
        "`sudo systemctl reload docker` (or `sudo kill -HUP {pid}`), then check "
        f"`{CHECK_RUNTIMES}`: a reload that fails is silent.", (RELOAD,),
        (SYSTEM_RELOAD, CHECK_RUNTIMES)),
    "not_loaded_restart": Say(
        Status.FAIL, "the nvidia runtime is declared in {where} but the running daemon has "
        "not loaded it", NOT_LOADED, "`{restart}`", (RELOAD,), ("{restart}",),
        finding="not_loaded"),
    "config_unreadable": Say(
        Status.FAIL, "the nvidia runtime is not loaded and {config_path} cannot be parsed",
        "The daemon has not loaded an `nvidia` runtime, and {error}. Neither dockerd nor "
        "gpudoctor's fixes can use that file until its syntax is corrected (see "
        "docker.daemon). " + BOTH_PATHS,
        "Correct {config_path} first, then declare the runtime."),
    "declared_elsewhere": Say(
        Status.FAIL, "the nvidia runtime is declared in {paths}, which this daemon does not "
        "read",
        "{paths} declares `nvidia`, but this daemon ({mode}) reads {config_path} "
        "({config_source}), which does not. This is what happens when `nvidia-ctk runtime "
        "configure` (it edits /etc/docker/daemon.json by default) meets a snap, rootless or "
        "`--config-file` daemon. " + BOTH_PATHS,
        "`{configure}`, then `{restart}`.", (CONFIGURE, RELOAD), ("{configure}", "{restart}")),
    "not_declared": Say(
        Status.FAIL, "the nvidia runtime is not declared",
        NOT_DECLARED + " Here `--gpus` does not work either (see nvidia.toolkit).",
        NOT_DECLARED_REMEDY, (CONFIGURE, RELOAD), ("{configure}", "{reload}")),
    "not_declared_gpus_works": Say(
        Status.WARN, "the nvidia runtime is not declared; `--gpus` works without it",
        NOT_DECLARED + " Here `--gpus` works (the hook was on dockerd's PATH at start), so "
        "this" + BY_NAME_ONLY, NOT_DECLARED_REMEDY, (CONFIGURE, RELOAD),
        ("{configure}", "{reload}"), finding="not_declared"),
    "not_declared_cdi_works": Say(
        Status.WARN, "the nvidia runtime is not declared; `--device=nvidia.com/gpu=all` (CDI) "
        "works without it",
        NOT_DECLARED + " Here CDI gives the GPUs (`--device=nvidia.com/gpu=all`), so this"
        + BY_NAME_ONLY, NOT_DECLARED_REMEDY, (CONFIGURE, RELOAD),
        ("{configure}", "{reload}"), finding="not_declared"),
    "program_missing": Say(
        Status.FAIL, "the nvidia runtime's program {path} is missing",
        "The daemon has the `nvidia` runtime loaded with path `{path}`, but that file does not "
        "exist" + PROGRAM_FAILS, PROGRAM_REMEDY, ("nvidia.install_toolkit",)),
    "program_not_on_path": Say(
        Status.FAIL, "the nvidia runtime's program {path} is missing",
        "The daemon has the `nvidia` runtime loaded with path `{path}`, but that program is "
        "not on dockerd's PATH ({search})" + PROGRAM_FAILS, PROGRAM_REMEDY,
        ("nvidia.install_toolkit",), finding="program_missing"),
    "no_longer_declared": Say(
        Status.WARN, "the nvidia runtime is loaded but no longer declared in {config_path}",
        "The running daemon has `nvidia` loaded, but {config_path} no longer declares it: the "
        "next reload or restart drops it and `--runtime=nvidia` stops working.",
        "`{configure}`", (CONFIGURE,), ("{configure}",)),
    "default_missing": Say(
        Status.FAIL, "default-runtime is nvidia but no nvidia runtime is loaded",
        "{config_path} sets `\"default-runtime\": \"nvidia\"`; dockerd refuses that "
        "configuration (`specified default runtime 'nvidia' does not exist`) until the runtime "
        "is declared too, so the next restart or reload fails.",
        "Declare the runtime (below) or remove default-runtime.", (CONFIGURE, RELOAD)),
    "rootless_needs_no_cgroups": Say(
        Status.FAIL, "rootless Docker needs `no-cgroups = true` in the toolkit's config",
        "Rootless dockerd cannot change device cgroups, so nvidia-container-cli fails with "
        "`bpf_prog_query(BPF_CGROUP_DEVICE) failed: operation not permitted` unless "
        "{toolkit_config} sets `no-cgroups = true` under [nvidia-container-cli]. The setting "
        "is host-wide: a rootful Docker on the same host then loses device isolation for GPUs.",
        f"`{NO_CGROUPS_SET}`, then `systemctl --user restart docker`.", (NO_CGROUPS,),
        (NO_CGROUPS_SET, "systemctl --user restart docker")),
    "ok": Say(Status.PASS, "the nvidia runtime is declared in {config_path} and loaded",
              "`--runtime=nvidia` works. " + BOTH_PATHS),
    "not_captured": Say(
        Status.SKIP, "whether the nvidia runtime is loaded is unknown: the host root did not "
        "capture the daemon (no `docker` key in host.json); {config_path} {state}"),
    "not_answering": Say(
        Status.SKIP, "whether the nvidia runtime is loaded is unknown: the daemon does not "
        "answer (see docker.daemon); {config_path} {state}"),
})


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
    id = ID
    title = "Docker knows the nvidia runtime"
    area = Area.CONTAINER
    order = 80
    sentences = SENTENCES

    def applies(self, facts: Facts) -> str | None:
        from gpudoctor.facts.applies import nvidia_skip_reason
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
        import json

        from gpudoctor.facts.docker import other_config_files

        d = facts.docker
        cfg = d.config
        declared = _declared(cfg.values.get("runtimes"))
        flag_declared = [v for v in d.flag_values("--add-runtime") if v.startswith("nvidia=")]
        elsewhere = [c for c in other_config_files(facts.host, d)
                     if _declared(c.values.get("runtimes"))]
        found = self.findings([
            f"configuration read by the daemon: {d.config_path} ({d.config_source})",
            f"{d.config_path}: " + (f"declares runtimes.nvidia = {json.dumps(declared)}"
                                    if declared else
                                    "does not declare runtimes.nvidia" if cfg.usable else
                                    f"cannot be parsed ({cfg.state})"),
        ])
        found.evidence += [f"dockerd flag --add-runtime={v}" for v in flag_declared]
        found.evidence += [f"{c.path} (not read by this daemon): declares runtimes.nvidia"
                           for c in elsewhere]
        values: dict[str, Any] = {
            "config_path": d.config_path, "config_source": d.config_source, "mode": d.mode,
            "restart": d.restart_command(), "configure": configure_command(d),
            "unknown_runtime": d.unknown_runtime_error()}
        if not d.captured or not d.reachable:
            state = DECLARED_STATE["yes" if declared or flag_declared else
                                   "no" if cfg.usable else "broken"]
            return found.verdict("not_captured" if not d.captured else "not_answering",
                                 state=state, **values)
        loaded = d.runtimes.get("nvidia")
        found.evidence.append("daemon's loaded runtimes: " + (", ".join(
            f"{n} ({v.get('path', '?') if isinstance(v, dict) else v})"
            for n, v in d.runtimes.items()) or "none reported"))
        found.evidence.append(f"default runtime: {d.default_runtime or '?'} (daemon.json "
                              f"default-runtime: {cfg.values.get('default-runtime', 'unset')})")
        if loaded is not None:
            self._loaded(facts, d, loaded, declared or flag_declared, found, values)
        elif declared or flag_declared:
            found.say("not_loaded" if d.mode == "system" else "not_loaded_restart",
                      where=FLAG_WHERE if flag_declared and not declared else d.config_path,
                      loaded=", ".join(d.runtimes) or "no runtimes",
                      pid=d.process.pid if d.process else "$(pidof dockerd)", **values)
        elif not cfg.usable:
            found.say("config_unreadable", error=cfg.describe_error(), **values)
        elif elsewhere:
            found.say("declared_elsewhere", paths=", ".join(c.path for c in elsewhere),
                      **values)
        else:
            from gpudoctor.facts.nvidia_args import nvidia_ways

            ways = nvidia_ways(facts)
            found.say("not_declared_gpus_works" if ways.gpus_driver else
                      "not_declared_cdi_works" if ways.cdi else "not_declared",
                      reload=SYSTEM_RELOAD if d.mode == "system" else d.restart_command(),
                      **values)
        self._default_runtime(d, loaded, found, values)
        if d.mode == "rootless":
            self._rootless(facts, found)
        return found.verdict("ok", **values)

    def _loaded(self, facts: Facts, d: DockerDaemon, loaded: Any, declared: Any,
                found: Findings, values: dict[str, Any]) -> None:
        from gpudoctor.facts.toolkit import SERVICE_PATH

        path = loaded.get("path") if isinstance(loaded, dict) else None
        if isinstance(path, str) and path:
            search = d.path_env or SERVICE_PATH
            where = facts.host.find_program(path, search)
            found.evidence.append(f"runtime program {path}: " + (f"found at {where}" if where
                                                                  else "not found"))
            if where is None:
                found.say("program_missing" if path.startswith("/") else "program_not_on_path",
                          path=path, search=search)
        if not declared and d.config.usable:
            found.say("no_longer_declared", **values)

    def _default_runtime(self, d: DockerDaemon, loaded: Any, found: Findings,
                         values: dict[str, Any]) -> None:
        wanted = d.config.values.get("default-runtime")
        if wanted == "nvidia" and loaded is None:
            found.say("default_missing", **values)
        elif d.default_runtime == "nvidia":
            found.evidence.append("every container runs with the nvidia runtime "
                                  "(default-runtime), even without --runtime")

    def _rootless(self, facts: Facts, found: Findings) -> None:
        from gpudoctor.facts.toolkit import toolkit_config_for

        cfg = toolkit_config_for(facts)
        found.evidence.append(f"toolkit config {cfg.path}: no-cgroups = {cfg.no_cgroups}"
                              if cfg.exists else f"toolkit config {cfg.path}: does not exist")
        if cfg.no_cgroups is True:
            return
        found.say("rootless_needs_no_cgroups", toolkit_config=cfg.path)

"""docker.daemon: which daemon the person's `docker` talks to, whether it answers, and the
configuration file it really reads, parsed as strictly as dockerd parses it."""

from __future__ import annotations

import json

from gpudoctor.facts import Facts
from gpudoctor.facts.docker import DaemonConfig, DockerDaemon
from gpudoctor.pasteable import quoted_commands
from gpudoctor.plugin import Area, Check, Findings, Result, Status

MODE_NAMES = {
    "system": "a system daemon, run as root",
    "rootless": "rootless Docker",
    "snap": "the Docker snap",
    "desktop": "Docker Desktop",
    "remote": "a remote daemon",
    "unknown": "unknown",
}


def sentence(text: str | None) -> str:
    """A message as a sentence: capital letter, one final full stop."""
    text = (text or "").strip()
    if not text:
        return ""
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "?", "!")) else text + "."


def describe_config(cfg: DaemonConfig) -> str:
    """One evidence line about a daemon.json."""
    if cfg.state == "missing":
        return f"{cfg.path}: does not exist (dockerd then uses its built-in defaults)"
    if cfg.state == "ok":
        keys = ", ".join(cfg.values) or "no keys"
        return f"{cfg.path}: valid JSON ({keys})"
    return cfg.describe_error()


def daemon_evidence(d: DockerDaemon) -> list[str]:
    """What docker.daemon shows and other container checks reuse."""
    lines = [f"endpoint: {d.endpoint} (from {d.endpoint_source})"]
    if d.reachable:
        info = d.info
        lines.append(f"answers: Docker {d.server_version or '?'}, API "
                     f"{d.version.get('ApiVersion', '?')}, {info.get('OperatingSystem', '?')}, "
                     f"root dir {info.get('DockerRootDir', '?')}")
    elif not d.captured:
        lines.append("answers: not captured (the host root's host.json has no `docker` key)")
    else:
        lines.append(f"answers: no: {d.error}")
    lines.append(f"mode: {MODE_NAMES.get(d.mode, d.mode)}: {d.mode_evidence}")
    if d.process is not None:
        started = ""
        if d.process.create_time:
            from gpudoctor.facts.toolkit import describe_time

            started = f", started {describe_time(d.process.create_time)}"
        lines.append(f"dockerd: pid {d.process.pid}, UID {d.process.uid}{started}: "
                     f"{' '.join(d.process.cmdline)}")
    elif not d.processes_known:
        lines.append("dockerd: processes were not captured")
    else:
        lines.append("dockerd: no dockerd process serving this endpoint was seen")
    if d.mode != "remote":
        lines.append(f"configuration: {d.config_path} ({d.config_source})")
        lines.append(describe_config(d.config))
    return lines


def _conflict_text(d: DockerDaemon) -> str:
    parts = []
    for key in d.conflicts:
        flags = [f for f in d.flags if (f.lstrip("-") == key or
                                         _flag_key(f) == key)]
        values = "; ".join(f"{f}={','.join(d.flags[f])}" for f in flags)
        parts.append(f"`{key}` (flag {values}, file {json.dumps(d.config.values.get(key))})")
    return ", ".join(parts)


def _flag_key(flag: str) -> str:
    from gpudoctor.facts.docker import FLAG_KEYS

    return FLAG_KEYS.get(flag, flag.lstrip("-"))


def _config_findings(d: DockerDaemon, found: Findings, running: bool) -> None:
    """Problems in the file the daemon reads; `running` says whether it is up right now."""
    cfg = d.config
    effect = ("Docker runs on the configuration it loaded when it started, but its next "
              "restart will fail and a reload (`systemctl reload docker`) is ignored with only "
              "a log line" if running else "dockerd refuses to start at all")
    if cfg.broken and cfg.state != "ok":
        where = f" at line {cfg.line}, column {cfg.column}" if cfg.line else ""
        what = {"comments": f"has a comment{where}", "not-object": "is not a JSON object",
                "unreadable": "cannot be read"}.get(
            cfg.state, f"has a syntax error{where}" + (f": {cfg.cause}" if cfg.cause else ""))
        own = _daemon_own_error(d)
        found.add(
            Status.FAIL, f"{cfg.path} {what}",
            f"{cfg.describe_error()}. dockerd parses this file as strict JSON (no comments, no "
            f"trailing commas): {effect}. gpudoctor's fixes will not rewrite a file they cannot "
            "parse." + (f" dockerd itself says: {own}" if own else ""),
            remedy=(f"Edit {cfg.path} and correct it ({cfg.cause or where.strip()}); check it "
                    "with `dockerd --validate "
                    f"--config-file={cfg.path}` (Docker 23+) or `python3 -m json.tool "
                    f"{cfg.path}`, then `{d.restart_command()}`."),
            commands=(f"dockerd --validate --config-file={cfg.path}",
                      f"python3 -m json.tool {cfg.path}", d.restart_command()),
            id="docker.daemon.config_invalid")
    elif cfg.typos:
        names = ", ".join(f"`{k}` (did you mean `{v}`?)" for k, v in cfg.typos.items())
        found.add(
            Status.FAIL, f"{cfg.path} has keys dockerd does not know: {', '.join(cfg.typos)}",
            f"{cfg.path} sets {names}. dockerd refuses a file with unknown keys (`the following "
            f"directives don't match any configuration option`): {effect}.",
            remedy=f"Rename the key(s) in {cfg.path}, then `{d.restart_command()}`.",
            commands=(d.restart_command(),), id="docker.daemon.config_unknown_keys")
    if cfg.state == "empty":
        old = d.at_least(23) is False
        found.add(
            Status.FAIL if old else Status.WARN, f"{cfg.path} is empty",
            f"{cfg.error}." + (f" This is Docker {d.server_version}: {effect}." if old else ""),
            remedy=f"Write `{{}}` into {cfg.path} (or delete it).", id="docker.daemon.config_empty")
    if d.conflicts:
        found.add(
            Status.FAIL,
            f"{', '.join(d.conflicts)} set both in {cfg.path} and as a dockerd flag",
            f"dockerd's command line and {cfg.path} both set {_conflict_text(d)}. dockerd "
            "refuses this (`the following directives are specified both as a flag and in the "
            f"configuration file`): {effect}.",
            remedy=(f"Keep one of them: remove the key from {cfg.path}, or the flag from the "
                    "service (`sudo systemctl edit docker`), then "
                    f"`{d.restart_command()}`."),
            commands=("sudo systemctl edit docker", d.restart_command()),
            id="docker.daemon.config_flag_conflict")
    for note in cfg.notes:
        found.add(Status.WARN, f"{cfg.path}: {note.split(':')[0]}",
                  f"{cfg.path}: {note}.", remedy=f"Tidy {cfg.path} so it holds one JSON object "
                  "with each key once.", id="docker.daemon.config_note")


def _daemon_own_error(d: DockerDaemon) -> str:
    lines = []
    if d.validation is not None and not d.validation.ok:
        text = (d.validation.stderr or d.validation.stdout).strip().splitlines()
        if text:
            lines.append(f"`{' '.join(d.validation.argv)}`: {text[-1]}")
    lines += d.journal_errors[-1:]
    return " | ".join(lines)


class DockerDaemonCheck(Check):
    id = "docker.daemon"
    title = "The Docker daemon and the configuration it reads"
    area = Area.CONTAINER
    order = 60

    def applies(self, facts: Facts) -> str | None:
        from gpudoctor.facts.engines import docker_absent_reason

        return docker_absent_reason(facts)

    def run(self, facts: Facts) -> Result:
        d = facts.docker
        found = Findings(evidence=daemon_evidence(d))
        if d.socket_path:
            found.evidence.append(_socket_line(facts, d))
        if d.validation is not None:
            out = (d.validation.stderr or d.validation.stdout).strip()
            found.evidence.append(f"`{' '.join(d.validation.argv)}`: "
                                  f"{out.splitlines()[-1] if out else 'no output'}")
        found.evidence += [f"journal: {line}" for line in d.journal_errors]
        if not d.captured:
            _config_findings(d, found, running=False)
            if found.items:
                return found.result("", "")
            return Result.skip(
                "the host root did not capture the Docker daemon (no `docker` key in its "
                "host.json)", evidence=found.evidence,
                details=f"Its configuration file {d.config_path} was read and is usable; "
                        "whether the daemon runs and answers is unknown.")
        if d.mode == "desktop":
            return self._desktop(d, found)
        if not d.reachable:
            return self._down(facts, d, found)
        if d.mode != "remote":
            _config_findings(d, found, running=True)
        if d.socket_problem:
            user = facts.user
            found.add(Status.WARN, f"{user.name if user else 'the person'} cannot use the "
                      "Docker socket without sudo",
                      f"gpudoctor reached the daemon as root, but {d.socket_problem}.",
                      remedy=d.socket_problem.split(": run ", 1)[-1] if ": run " in
                      d.socket_problem else "",
                      commands=quoted_commands(d.socket_problem),
                      id="docker.daemon.socket_needs_sudo")
        version = d.server_version or "?"
        summary = (f"Docker {version} ({MODE_NAMES.get(d.mode, d.mode)}) answers at "
                   f"{d.endpoint}; it reads {d.config_path or '(a remote file)'}")
        return found.result(summary, self._mode_details(d))

    # ----- the ways it goes wrong -----------------------------------------------------------
    def _desktop(self, d: DockerDaemon, found: Findings) -> Result:
        found.add(
            Status.FAIL, "Docker Desktop: its engine runs in a VM that gets no GPU",
            f"The `docker` command talks to Docker Desktop ({d.mode_evidence}). Docker Desktop "
            "for Linux runs the engine inside a virtual machine: /dev/kfd, /dev/dri and "
            "/dev/nvidia* are not inside it, and the NVIDIA Container Toolkit supports only "
            "Docker Engine (docker-ce), not Desktop, so it cannot give that VM the GPU. "
            "`nvidia-ctk runtime configure` edits /etc/docker/daemon.json, which Desktop ignores.",
            remedy="Install Docker Engine (https://docs.docker.com/engine/install/) and switch "
                   "to it: `docker context use default` (Desktop and Engine can coexist).",
            commands=("docker context use default",), id="docker.daemon.desktop_vm")
        return found.result("", "")

    def _down(self, facts: Facts, d: DockerDaemon, found: Findings) -> Result:
        if d.socket_problem:
            user = facts.user
            found.add(
                Status.FAIL, f"{user.name if user else 'the person'} cannot use the Docker "
                f"socket {d.socket_path}",
                f"The daemon could not be asked: {sentence(d.error)} {d.socket_problem}. Without "
                "access "
                "to the socket every `docker` command fails with `permission denied while "
                "trying to connect to the Docker daemon socket`.",
                remedy=(d.socket_problem.split(": run ", 1)[-1] if ": run " in d.socket_problem
                        else "Run docker with sudo, or give the socket a group you are in."),
                commands=quoted_commands(d.socket_problem), id="docker.daemon.socket_denied")
            return found.result("", "")
        if d.mode == "remote":
            found.add(Status.FAIL, f"the remote Docker daemon at {d.endpoint} does not answer",
                      f"{sentence(d.error)} The endpoint comes from {d.endpoint_source}.",
                      remedy="Check that the remote host runs Docker and is reachable, or "
                             "unset DOCKER_HOST / `docker context use default`.",
                      commands=("docker context use default",), id="docker.daemon.remote_down")
            return found.result("", "")
        _config_findings(d, found, running=False)
        if any(f.status is Status.FAIL for f in found.items):
            # the configuration is the reason it is down: lead with the daemon being down
            first = found.items[0]
            first.summary = f"Docker is not running: {first.summary}"
            first.details = (f"No daemon answers at {d.endpoint}: {sentence(d.error)} "
                             + first.details)
            return found.result("", "")
        installed = d.process is not None or bool(
            facts.host.which("dockerd", facts.host.getenv("PATH")) or
            facts.host.which("dockerd", "/usr/bin:/usr/sbin:/usr/local/bin:/snap/bin"))
        if not installed and d.mode in ("system", "unknown"):
            found.add(
                Status.FAIL, "Docker is not installed (no dockerd, nothing answers)",
                f"No daemon answers at {d.endpoint} ({d.error}) and there is no dockerd "
                "program on this host.",
                remedy="Install Docker Engine: `sudo apt-get install docker.io` (Debian/Ubuntu) "
                       "or Docker's packages (https://docs.docker.com/engine/install/), then "
                       "`sudo systemctl enable --now docker`.",
                commands=("sudo apt-get install docker.io", "sudo systemctl enable --now docker"),
                id="docker.daemon.not_installed")
            return found.result("", "")
        own = _daemon_own_error(d)
        found.add(
            Status.FAIL, f"no Docker daemon answers at {d.endpoint}",
            f"The `docker` command talks to {d.endpoint} ({d.endpoint_source}) and nothing "
            f"answers there: {sentence(d.error)} Its configuration file {d.config_path} looks "
            "valid."
            + (f" dockerd's own last error: {own}" if own else ""),
            remedy=(f"Start it: `{d.start_command()}`; if it stops again, read why with "
                    "`journalctl -u docker -n 50` and check the file with `dockerd --validate "
                    f"--config-file={d.config_path}`."),
            commands=(d.start_command(), "journalctl -u docker -n 50",
                      f"dockerd --validate --config-file={d.config_path}"), id="docker.daemon.down")
        return found.result("", "")

    def _mode_details(self, d: DockerDaemon) -> str:
        text = (f"The `docker` command talks to {d.endpoint} ({d.endpoint_source}); the daemon "
                f"there is {MODE_NAMES.get(d.mode, d.mode)} ({d.mode_evidence}).")
        if d.mode == "remote":
            return text + (" It runs on another machine: its GPUs and configuration are not "
                           "this host's, so the checks below describe this host only.")
        text += (f" It reads {d.config_path} ({d.config_source}); that is the file the nvidia "
                 "runtime must be declared in.")
        if d.mode == "rootless":
            text += (" Rootless Docker cannot change device cgroups, so the NVIDIA toolkit needs "
                     "`no-cgroups = true` (see docker.nvidia_runtime).")
        elif d.mode == "snap":
            text += (" The Docker snap brings its own NVIDIA support and ignores "
                     "/etc/docker/daemon.json; restart it with `sudo snap restart docker`.")
        return text


def _socket_line(facts: Facts, d: DockerDaemon) -> str:
    try:
        st = facts.host.stat(d.socket_path or "")
    except Exception:
        st = None
    if st is None:
        return f"socket {d.socket_path}: does not exist"
    group = facts.groups.name_of(st.gid)
    return (f"socket {d.socket_path}: mode {st.mode_octal}, owner UID {st.uid}, group "
            f"{group or '?'} (GID {st.gid})")

"""docker.daemon: which daemon the person's `docker` talks to, whether it answers, and the
configuration file it really reads, parsed as strictly as dockerd parses it."""

from __future__ import annotations

from gpudoctor import TYPE_CHECKING
from gpudoctor.plugin import Area, Check, Findings, Result, Say, Sentences, Status, fill

if TYPE_CHECKING:
    from typing import Any

    from gpudoctor.facts import Facts
    from gpudoctor.facts.docker import DaemonConfig, DockerDaemon

ID = "docker.daemon"
MODE_NAMES = {
    "system": "a system daemon, run as root",
    "rootless": "rootless Docker",
    "snap": "the Docker snap",
    "desktop": "Docker Desktop",
    "remote": "a remote daemon",
    "unknown": "unknown",
}
#: What a daemon.json dockerd refuses does (the `{effect}` field), by whether it runs now.
EFFECT = {
    True: ("Docker runs on the configuration it loaded when it started, but its next restart "
           "will fail and a reload (`systemctl reload docker`) is ignored with only a log line"),
    False: "dockerd refuses to start at all",
}
#: How a failure of the file is said when it is why no daemon answers (the `_down` rows).
DOWN = "Docker is not running: "
NO_ANSWER = "No daemon answers at {endpoint}: {daemon_error} "
#: The optional parts of a config_invalid finding (`{position}`, `{cause}`, `{daemon_says}`).
POSITION = " at line {line}, column {column}"
CAUSE = ": {cause}"
DAEMON_SAYS = " dockerd itself says: {own}"

STRICT = ("{file_error}. dockerd parses this file as strict JSON (no comments, no trailing "
          "commas): {effect}. gpudoctor's fixes will not rewrite a file they cannot parse."
          "{daemon_says}")
CORRECT = ("Edit {path} and correct it ({what_to_fix}); check it with `dockerd --validate "
           "--config-file={path}` (Docker 23+) or `python3 -m json.tool {path}`, then "
           "`{restart}`.")
CORRECT_COMMANDS = ("dockerd --validate --config-file={path}", "python3 -m json.tool {path}",
                    "{restart}")
MODE_DETAILS = ("The `docker` command talks to {endpoint} ({endpoint_source}); the daemon there "
                "is {mode_name} ({mode_evidence}).")
LOCAL_DETAILS = (MODE_DETAILS + " It reads {config_path} ({config_source}); that is the file "
                 "the nvidia runtime must be declared in.")
SOCKET_HOW = "Run docker with sudo, or give the socket a group you are in."


def _invalid(summary: str) -> Say:
    """One way daemon.json cannot be parsed: its own summary, one finding id."""
    return Say(Status.FAIL, "{path} " + summary, STRICT, CORRECT, commands=CORRECT_COMMANDS,
               finding="config_invalid")


def _down(key: str, row: Say) -> Say:
    """`row` said as the reason no daemon answers: the same finding, leading with that."""
    return Say(row.status, DOWN + row.summary, NO_ANSWER + row.details, row.remedy, row.fixes,
               row.commands, finding=row.finding or key)


#: What the daemon.json it reads can have wrong; each failure also has a `<key>_down` row.
CONFIG_ROWS = {
    "config_syntax": _invalid("has a syntax error{position}{cause}"),
    "config_comments": _invalid("has a comment{position}"),
    "config_not_object": _invalid("is not a JSON object"),
    "config_unreadable": _invalid("cannot be read"),
    "config_unknown_keys": Say(
        Status.FAIL, "{path} has keys dockerd does not know: {keys}",
        "{path} sets {typos}. dockerd refuses a file with unknown keys (`the "
        "following directives don't match any configuration option`): {effect}.",
        "Rename the key(s) in {path}, then `{restart}`.", commands=("{restart}",)),
    "config_empty": Say(Status.WARN, "{path} is empty", "{file_error}.",
                        "Write `{}` into {path} (or delete it)."),
    "config_empty_old": Say(
        Status.FAIL, "{path} is empty", "{file_error}. This is Docker {version}: {effect}.",
        "Write `{}` into {path} (or delete it).", finding="config_empty"),
    "config_flag_conflict": Say(
        Status.FAIL, "{keys} set both in {path} and as a dockerd flag",
        "dockerd's command line and {path} both set {conflicts}. dockerd refuses "
        "this (`the following directives are specified both as a flag and in the "
        "configuration file`): {effect}.",
        "Keep one of them: remove the key from {path}, or the flag from the service (`sudo "
        "systemctl edit docker`), then `{restart}`.",
        commands=("sudo systemctl edit docker", "{restart}")),
    "config_note": Say(Status.WARN, "{path}: {note_head}", "{path}: {note}.",
                       "Tidy {path} so it holds one JSON object with each key once."),
}

SENTENCES = Sentences(ID, {
    **CONFIG_ROWS,
    **{f"{key}_down": _down(key, row) for key, row in CONFIG_ROWS.items()
       if row.status is Status.FAIL},
    "socket_needs_sudo": Say(
        Status.WARN, "{user} cannot use the Docker socket without sudo",
        "gpudoctor reached the daemon as root, but {problem}.", "{how}"),
    "socket_needs_sudo_no_hint": Say(
        Status.WARN, "{user} cannot use the Docker socket without sudo",
        "gpudoctor reached the daemon as root, but {problem}.", finding="socket_needs_sudo"),
    "socket_denied": Say(
        Status.FAIL, "{user} cannot use the Docker socket {socket}",
        "The daemon could not be asked: {error} {problem}. Without access to the socket every "
        "`docker` command fails with `permission denied while trying to connect to the Docker "
        "daemon socket`.", "{how}"),
    "socket_denied_no_hint": Say(
        Status.FAIL, "{user} cannot use the Docker socket {socket}",
        "The daemon could not be asked: {error} {problem}. Without access to the socket every "
        "`docker` command fails with `permission denied while trying to connect to the Docker "
        "daemon socket`.", SOCKET_HOW, finding="socket_denied"),
    "desktop_vm": Say(
        Status.FAIL, "Docker Desktop: its engine runs in a VM that gets no GPU",
        "The `docker` command talks to Docker Desktop ({mode_evidence}). Docker Desktop for "
        "Linux runs the engine inside a virtual machine: /dev/kfd, /dev/dri and /dev/nvidia* "
        "are not inside it, and the NVIDIA Container Toolkit supports only Docker Engine "
        "(docker-ce), not Desktop, so it cannot give that VM the GPU. `nvidia-ctk runtime "
        "configure` edits /etc/docker/daemon.json, which Desktop ignores.",
        "Install Docker Engine (https://docs.docker.com/engine/install/) and switch to it: "
        "`docker context use default` (Desktop and Engine can coexist).",
        commands=("docker context use default",)),
    "remote_down": Say(
        Status.FAIL, "the remote Docker daemon at {endpoint} does not answer",
        "{error} The endpoint comes from {endpoint_source}.",
        "Check that the remote host runs Docker and is reachable, or unset DOCKER_HOST / "
        "`docker context use default`.", commands=("docker context use default",)),
    "not_installed": Say(
        Status.FAIL, "Docker is not installed (no dockerd, nothing answers)",
        "No daemon answers at {endpoint} ({raw_error}) and there is no dockerd program on this "
        "host.",
        "Install Docker Engine: `sudo apt-get install docker.io` (Debian/Ubuntu) or Docker's "
        "packages (https://docs.docker.com/engine/install/), then `sudo systemctl enable --now "
        "docker`.", commands=("sudo apt-get install docker.io",
                              "sudo systemctl enable --now docker")),
    "down": Say(
        Status.FAIL, "no Docker daemon answers at {endpoint}",
        "The `docker` command talks to {endpoint} ({endpoint_source}) and nothing answers "
        "there: {error} Its configuration file {config_path} looks valid.",
        "Start it: `{start}`; if it stops again, read why with `journalctl -u docker -n 50` "
        "and check the file with `dockerd --validate --config-file={config_path}`.",
        commands=("{start}", "journalctl -u docker -n 50",
                  "dockerd --validate --config-file={config_path}")),
    "down_said_why": Say(
        Status.FAIL, "no Docker daemon answers at {endpoint}",
        "The `docker` command talks to {endpoint} ({endpoint_source}) and nothing answers "
        "there: {error} Its configuration file {config_path} looks valid. dockerd's own last "
        "error: {own}",
        "Start it: `{start}`; if it stops again, read why with `journalctl -u docker -n 50` "
        "and check the file with `dockerd --validate --config-file={config_path}`.",
        commands=("{start}", "journalctl -u docker -n 50",
                  "dockerd --validate --config-file={config_path}"), finding="down"),
    "ok": Say(Status.PASS, "Docker {version} ({mode_name}) answers at {endpoint}; it reads "
              "{config_path}", LOCAL_DETAILS),
    "ok_rootless": Say(
        Status.PASS, "Docker {version} ({mode_name}) answers at {endpoint}; it reads "
        "{config_path}", LOCAL_DETAILS + " Rootless Docker cannot change device cgroups, so "
        "the NVIDIA toolkit needs `no-cgroups = true` (see docker.nvidia_runtime)."),
    "ok_snap": Say(
        Status.PASS, "Docker {version} ({mode_name}) answers at {endpoint}; it reads "
        "{config_path}", LOCAL_DETAILS + " The Docker snap brings its own NVIDIA support and "
        "ignores /etc/docker/daemon.json; restart it with `sudo snap restart docker`."),
    "ok_remote": Say(
        Status.PASS, "Docker {version} ({mode_name}) answers at {endpoint}; it reads "
        "{config_path}", MODE_DETAILS + " It runs on another machine: its GPUs and "
        "configuration are not this host's, so the checks below describe this host only."),
    "not_captured": Say(
        Status.SKIP, "the host root did not capture the Docker daemon (no `docker` key in its "
        "host.json)", "Its configuration file {config_path} was read and is usable; whether "
        "the daemon runs and answers is unknown."),
})


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
    """Each key set both ways, with the flag's and the file's values (evidence, as data)."""
    import json

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


#: The config_invalid row for each state dockerd cannot parse ("syntax" for any other).
INVALID_ROWS = {"comments": "config_comments", "not-object": "config_not_object",
                "unreadable": "config_unreadable"}


def _config_findings(d: DockerDaemon, found: Findings, running: bool,
                     down: bool = False) -> None:
    """Problems in the file the daemon reads; `running` says whether it is up right now.

    `down`: no daemon answers, so the first failure is said as the reason (its `_down` row)."""
    cfg = d.config
    lead = down

    def say(key: str, **values: Any) -> None:
        """`found.say`, leading with the daemon being down on the first failure only."""
        nonlocal lead
        if lead and SENTENCES[key].status is Status.FAIL:
            key, lead = f"{key}_down", False
        found.say(key, endpoint=d.endpoint, daemon_error=sentence(d.error), **values)

    base: dict[str, Any] = {"path": cfg.path, "effect": EFFECT[running],
                            "restart": d.restart_command()}
    if cfg.broken and cfg.state != "ok":
        position = fill(POSITION, {"line": cfg.line, "column": cfg.column}) if cfg.line else ""
        own = _daemon_own_error(d)
        say(INVALID_ROWS.get(cfg.state, "config_syntax"), **base, position=position,
            cause=fill(CAUSE, {"cause": cfg.cause}) if cfg.cause else "",
            file_error=cfg.describe_error(), what_to_fix=cfg.cause or position.strip(),
            daemon_says=fill(DAEMON_SAYS, {"own": own}) if own else "")
    elif cfg.typos:
        say("config_unknown_keys", **base, keys=", ".join(cfg.typos),
            typos=", ".join(f"`{k}` (did you mean `{v}`?)" for k, v in cfg.typos.items()))
    if cfg.state == "empty":
        old = d.at_least(23) is False
        say("config_empty_old" if old else "config_empty", **base, file_error=cfg.error,
            version=d.server_version)
    if d.conflicts:
        say("config_flag_conflict", **base, keys=", ".join(d.conflicts),
            conflicts=_conflict_text(d))
    for note in cfg.notes:
        say("config_note", **base, note=note, note_head=note.split(":")[0])


def _daemon_own_error(d: DockerDaemon) -> str:
    lines = []
    if d.validation is not None and not d.validation.ok:
        text = (d.validation.stderr or d.validation.stdout).strip().splitlines()
        if text:
            lines.append(f"`{' '.join(d.validation.argv)}`: {text[-1]}")
    lines += d.journal_errors[-1:]
    return " | ".join(lines)


def _socket_values(facts: Facts, d: DockerDaemon) -> dict[str, Any]:
    """The person, the socket, what is wrong with it and the command that mends it."""
    from gpudoctor.pasteable import quoted_commands

    user = facts.user
    problem = d.socket_problem or ""
    how = problem.split(": run ", 1)[-1] if ": run " in problem else ""
    # commands of more than one word: "a `docker` group" names a group, not a command
    commands = tuple(c for c in quoted_commands(how or problem) if " " in c)
    return {"user": user.name if user else "the person", "socket": d.socket_path,
            "problem": problem, "error": sentence(d.error), "how": how, "commands": commands}


class DockerDaemonCheck(Check):
    id = ID
    title = "The Docker daemon and the configuration it reads"
    area = Area.CONTAINER
    order = 60
    sentences = SENTENCES

    def applies(self, facts: Facts) -> str | None:
        from gpudoctor.facts.engines import docker_absent_reason

        return docker_absent_reason(facts)

    def run(self, facts: Facts) -> Result:
        d = facts.docker
        found = self.findings(daemon_evidence(d))
        if d.socket_path:
            found.evidence.append(_socket_line(facts, d))
        if d.validation is not None:
            out = (d.validation.stderr or d.validation.stdout).strip()
            found.evidence.append(f"`{' '.join(d.validation.argv)}`: "
                                  f"{out.splitlines()[-1] if out else 'no output'}")
        found.evidence += [f"journal: {line}" for line in d.journal_errors]
        if not d.captured:
            _config_findings(d, found, running=False)
            return found.verdict("not_captured", config_path=d.config_path)
        if d.mode == "desktop":
            found.say("desktop_vm", mode_evidence=d.mode_evidence)
            return found.verdict("desktop_vm")
        if not d.reachable:
            return self._down(facts, d, found)
        if d.mode != "remote":
            _config_findings(d, found, running=True)
        if d.socket_problem:
            values = _socket_values(facts, d)
            commands = values.pop("commands")
            found.say("socket_needs_sudo" if values["how"] else "socket_needs_sudo_no_hint",
                      commands=commands, **values)
        row = {"rootless": "ok_rootless", "snap": "ok_snap", "remote": "ok_remote"}.get(
            d.mode, "ok")
        return found.verdict(
            row, version=d.server_version or "?", mode_name=MODE_NAMES.get(d.mode, d.mode),
            endpoint=d.endpoint, endpoint_source=d.endpoint_source,
            mode_evidence=d.mode_evidence, config_path=d.config_path or "(a remote file)",
            config_source=d.config_source)

    # ----- the ways it goes wrong -----------------------------------------------------------
    def _down(self, facts: Facts, d: DockerDaemon, found: Findings) -> Result:
        if d.socket_problem:
            values = _socket_values(facts, d)
            commands = values.pop("commands")
            found.say("socket_denied" if values["how"] else "socket_denied_no_hint",
                      commands=commands, **values)
            return found.verdict("socket_denied")
        if d.mode == "remote":
            found.say("remote_down", endpoint=d.endpoint, error=sentence(d.error),
                      endpoint_source=d.endpoint_source)
            return found.verdict("remote_down")
        _config_findings(d, found, running=False, down=True)
        if any(f.status is Status.FAIL for f in found.items):
            return found.verdict("down")  # the configuration is the reason it is down
        installed = d.process is not None or bool(
            facts.host.which("dockerd", facts.host.getenv("PATH")) or
            facts.host.which("dockerd", "/usr/bin:/usr/sbin:/usr/local/bin:/snap/bin"))
        if not installed and d.mode in ("system", "unknown"):
            found.say("not_installed", endpoint=d.endpoint, raw_error=d.error)
            return found.verdict("not_installed")
        own = _daemon_own_error(d)
        found.say("down_said_why" if own else "down", endpoint=d.endpoint,
                  endpoint_source=d.endpoint_source, error=sentence(d.error),
                  config_path=d.config_path, start=d.start_command(), own=own)
        return found.verdict("down")


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

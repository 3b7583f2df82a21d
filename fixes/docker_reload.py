"""docker.reload: make the running daemon load its configuration, as gently as works.

`runtimes` and `default-runtime` are reloaded on SIGHUP (what `systemctl reload docker`
sends), which keeps running containers up. The `--gpus` driver is registered only when dockerd
starts and finds the toolkit's hook on its PATH, and `features` (CDI) and cgroup settings are
read only at start, so those need a restart, which stops running containers unless
live-restore is on (nvidia-container-stack.md §2.2, §3). A failed reload is silent (systemd
returns 0, dockerd only logs), so the result is verified through the Engine API; when the
daemon did not take the new configuration, the files this run changed are put back, the
daemon reloaded or restarted again, and the daemon's own error is reported.

Over 500 lines on purpose: planning (which manager, reload or restart), acting, verifying and
rolling back are one transaction over the same daemon state; the pieces are not used apart.
"""

from __future__ import annotations

import signal
import time

from gpudoctor import TYPE_CHECKING, fixer
from gpudoctor.errors import DockerUnavailable, HostError
from gpudoctor.facts import Facts
from gpudoctor.facts.docker import CMD_DOCKERD_VALIDATE, parse_daemon_json
from gpudoctor.facts.toolkit import daemon_hook_for, describe_time
from gpudoctor.fixer import Log
from gpudoctor.host import changes, dockerapi, safefile
from gpudoctor.host.base import Host
from gpudoctor.plugin import Fix, FixContext, FixFailed, Outcome, Plan, Step, StepKind

if TYPE_CHECKING:
    from typing import Any

UNIT_DIRS = ("/etc/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/system")
RELOAD_TIMEOUT = 15.0
RESTART_TIMEOUT = 90.0
ERROR_MARKERS = ("unable to configure the Docker daemon", "Error reconfiguring",
                 "Error reloading configuration", "level=fatal")
RELOADED_MARKER = "Reloaded configuration"
#: host.run key of `journalctl -u UNIT --since @T`: the lines dockerd logged since an action.
CMD_JOURNAL_SINCE = "journalctl-docker-since"


def service_manager(facts: Facts) -> tuple[str, str]:
    """Who runs dockerd: systemd (system or user), snap, a SysV init script, or nothing known.

    Returns (kind, unit-or-user). Decided from the process's own cgroup and the init script's
    pid file, so a dockerd started by hand (like the tests') is never restarted by a service
    manager that does not own it.
    """
    daemon = facts.docker
    proc = daemon.process
    host = facts.host
    if proc is None:
        if host.exists("/run/systemd/system") and daemon.mode == "system":
            return "systemd-system", "docker"
        return "none", ""
    cgroup = host.read_attr(f"/proc/{proc.pid}/cgroup")
    if cgroup is None and not host.live:
        # A host root does not capture /proc/PID/cgroup: go by what is installed there.
        if daemon.mode == "snap":
            return "snap", "docker"
        if daemon.mode == "rootless":
            return "systemd-user", _user_name(facts, proc.uid)
        if any(host.exists(f"{d}/docker.service") for d in UNIT_DIRS):
            return "systemd-system", "docker"
        cgroup = ""
    cgroup = cgroup or ""
    if "snap.docker.dockerd" in cgroup:
        return "snap", "docker"
    for line in cgroup.splitlines():
        path = line.rsplit(":", 1)[-1]
        for part in path.split("/"):
            if part.endswith(".service") and "docker" in part and not part.startswith("user@"):
                unit = part[: -len(".service")]
                if "/user@" in path:
                    return "systemd-user", _user_name(facts, proc.uid)
                return "systemd-system", unit
    pidfile = (daemon.flags.get("--pidfile") or ["/var/run/docker.pid"])[-1]
    if (pidfile in ("/var/run/docker.pid", "/run/docker.pid")
            and host.read_attr(pidfile) == str(proc.pid) and host.exists("/etc/init.d/docker")):
        return "sysv", "docker"
    return "none", ""


def _user_name(facts: Facts, uid: int) -> str:
    try:
        text = facts.host.read_text("/etc/passwd")
    except HostError:
        return str(uid)
    for line in text.splitlines():
        parts = line.split(":")
        if len(parts) > 2 and parts[2] == str(uid):
            return parts[0]
    return str(uid)


def hook_installed_after_start(facts: Facts) -> str | None:
    """Why a restart is needed for `--gpus`: the hook appeared after dockerd started.

    The same decision the checks show (facts/toolkit.py DaemonHook), never a second rule."""
    state = daemon_hook_for(facts)
    proc = facts.docker.process
    if state.registered is not False or state.hook is None or proc is None:
        return None
    return (f"{state.hook} appeared at {describe_time(state.hook_installed)} "
            f"({state.hook_evidence}), after dockerd (pid {proc.pid}) started at "
            f"{describe_time(state.daemon_started)}; dockerd registers its --gpus driver only "
            "when it starts")


def _declared(data: dict[str, Any] | None) -> tuple[set[str], str | None]:
    data = data or {}
    runtimes = data.get("runtimes")
    names = set(runtimes) if isinstance(runtimes, dict) else set()
    default = data.get("default-runtime")
    return names, default if isinstance(default, str) else None


class DaemonLog:
    """The new lines of dockerd's own log since a point in time, to quote its error.

    Where dockerd's stderr is a file (started by hand or by an init script) that file is read
    from its size at the start; under systemd the journal is asked.
    """

    def __init__(self, host: Host, pid: int | None, manager: str, unit: str):
        self.host = host
        self.pid, self.manager, self.unit = pid, manager, unit
        self.started = time.time()
        self.path: str | None = None
        self.offset = 0
        if pid is not None:
            target = host.readlink(f"/proc/{pid}/fd/2")
            if target is not None and target.startswith("/"):
                self.path = target
                self.reset()

    def _size(self) -> int | None:
        """The log file's size now; None when it is gone or not a plain file."""
        assert self.path is not None
        try:
            st = self.host.stat(self.path)
        except HostError:
            return None
        return st.size if st is not None and st.kind == "file" else None

    def reset(self) -> None:
        self.started = time.time()
        if self.path:
            size = self._size()
            if size is None:
                self.path = None
            else:
                self.offset = size

    def new_text(self) -> str:
        if self.path:
            try:
                data = self.host.read_range(self.path, self.offset, 1024 * 1024)
            except HostError:
                return ""
            return data.decode("utf-8", "replace")
        if self.manager == "systemd-system":
            result = self.host.run(
                CMD_JOURNAL_SINCE,
                ["journalctl", "-u", self.unit, "--since", f"@{int(self.started) - 1}",
                 "--no-pager", "-q", "-o", "cat"], timeout=10)
            return result.stdout if result is not None and not result.missing \
                and not result.timed_out else ""
        return ""

    def error(self) -> str | None:
        for line in self.new_text().splitlines():
            if any(marker in line for marker in ERROR_MARKERS):
                return _log_message(line)
        return None

    def reloaded(self) -> bool:
        return RELOADED_MARKER in self.new_text()


def _log_message(line: str) -> str:
    start = line.find('msg="')
    if start < 0:
        return line.strip()
    body = line[start + 5:]
    end = body.find('"', 0)
    while end > 0 and body[end - 1] == "\\":
        end = body.find('"', end + 1)
    return (body[:end] if end >= 0 else body).replace('\\"', '"')


class ReloadDocker(Fix):
    id = "docker.reload"
    title = "Make the running Docker daemon load its configuration"
    order = 40
    after = ("nvidia.install_toolkit", "nvidia.rootless_no_cgroups",
             "docker.configure_nvidia_runtime", "docker.cgroupfs_driver")

    # ----- plan ---------------------------------------------------------------------------------
    def plan(self, facts: Facts, ctx: FixContext) -> Plan:
        plan = Plan(self.id, self.title)
        daemon = facts.docker
        if daemon.mode in ("desktop", "remote"):
            plan.blocked = (f"the daemon ({daemon.mode}) is not on this machine; reload it where "
                            "it runs")
            return plan
        if not daemon.reachable and daemon.process is None:
            plan.blocked = (f"no running Docker daemon was found ({daemon.error or 'no answer'}); "
                            "start it first (`systemctl start docker`)")
            return plan
        restart, reload = self._reasons(facts, ctx)
        if not restart and not reload:
            plan.noop = True
            plan.reason = ("the running daemon has loaded every runtime and the "
                           f"default runtime that {daemon.config_path} declares")
            return plan
        if daemon.conflicts:
            plan.blocked = (
                f"{daemon.config_path} and dockerd's command line both set "
                f"{', '.join(daemon.conflicts)}; dockerd refuses to reload or start like that. "
                "Remove the key from one of them first")
            return plan
        action = "restart" if restart else "reload"
        manager, unit = service_manager(facts)
        proc = daemon.process
        plan.data.update({"action": action, "manager": manager, "unit": unit,
                          "pid": proc.pid if proc else None, "endpoint": daemon.endpoint,
                          "config_path": daemon.config_path,
                          "reasons": restart or reload})
        why = "; ".join(restart or reload)
        if action == "reload":
            plan.notes.append(f"a reload is enough and keeps running containers up: {why}")
            if manager == "systemd-system":
                plan.steps.append(Step(StepKind.COMMAND, "reload dockerd's configuration (SIGHUP)",
                                       argv=["systemctl", "reload", unit]))
            elif proc is not None:
                plan.steps.append(Step(
                    StepKind.SIGNAL, f"send SIGHUP to dockerd (pid {proc.pid}), what "
                    "`systemctl reload docker` does", argv=["kill", "-HUP", str(proc.pid)]))
            else:
                plan.blocked = "dockerd's process was not found, so it cannot be signalled"
                return plan
        else:
            plan.notes.append(f"a restart is needed (a reload is not enough): {why}")
            argv = self._restart_argv(manager, unit)
            if argv is None:
                cmdline = fixer.format_argv(list(proc.cmdline)) if proc else "dockerd"
                pid = proc.pid if proc else "?"
                plan.blocked = (
                    f"dockerd (pid {pid}) is not run by systemd, snap or an init script "
                    "gpudoctor can drive, so it cannot be restarted safely from here. Restart "
                    f"it the way it was started: `kill -TERM {pid}`, wait for it to exit, then "
                    f"run `{cmdline}` again")
                return plan
            plan.steps.append(Step(StepKind.COMMAND, "restart the Docker daemon", argv=argv))
            self._containers(facts, plan)
        names, _ = _declared(daemon.config.data)
        if fixer.is_active(ctx.earlier("docker.configure_nvidia_runtime")):
            names.add("nvidia")
        plan.steps.append(Step(
            StepKind.NOTE, "verify through the Engine API that the daemon answers and lists its "
            "runtimes" + (f" ({', '.join(sorted(names))})" if names else "")
            + "; if it does not, put back the files this run changed and reload again"))
        return plan

    def _reasons(self, facts: Facts, ctx: FixContext) -> tuple[list[str], list[str]]:
        daemon = facts.docker
        restart: list[str] = []
        reload: list[str] = []
        install = ctx.earlier("nvidia.install_toolkit")
        if install is not None and fixer.is_active(install) and install.affects_host:
            restart.append("nvidia.install_toolkit installs the hook, and dockerd registers its "
                           "--gpus driver only when it starts")
        configure = ctx.earlier("docker.configure_nvidia_runtime")
        if configure is not None and fixer.is_active(configure):
            keys = configure.changed_keys or ["runtimes"]
            if "features" in keys:
                restart.append("`features` (CDI) is read only when dockerd starts")
            if {"runtimes", "default-runtime"} & set(keys):
                reload.append("only `runtimes`/`default-runtime` change, which dockerd reloads")
        cgroupfs = ctx.earlier("docker.cgroupfs_driver")
        if cgroupfs is not None and fixer.is_active(cgroupfs):
            restart.append("the cgroup driver (`exec-opts`) is read only when dockerd starts")
        late_hook = hook_installed_after_start(facts)
        if late_hook:
            restart.append(late_hook)
        if daemon.reachable and daemon.config.state == "ok":
            data = daemon.config.data or {}
            runtimes = data.get("runtimes")
            _, default = _declared(data)
            for problem in self.unmet(daemon.info, dict(runtimes) if isinstance(runtimes, dict)
                                      else {}, default):
                reload.append(f"{daemon.config_path} says so, but the running daemon's {problem}"
                              if problem.startswith("default") else
                              f"{daemon.config_path} declares it, but {problem} in the running "
                              "daemon")
        return restart, reload

    @staticmethod
    def _restart_argv(manager: str, unit: str) -> list[str] | None:
        if manager == "systemd-system":
            return ["systemctl", "restart", unit]
        if manager == "systemd-user":
            return ["systemctl", "--user", f"--machine={unit}@", "restart", "docker"]
        if manager == "snap":
            return ["snap", "restart", "docker"]
        if manager == "sysv":
            return ["service", "docker", "restart"]
        return None

    @staticmethod
    def _containers(facts: Facts, plan: Plan) -> None:
        daemon = facts.docker
        live_restore = bool((daemon.config.data or {}).get("live-restore"))
        try:
            running = facts.host.docker_api("/containers/json", daemon.endpoint, 5.0)
            count = len(running) if isinstance(running, list) else None
        except DockerUnavailable:
            count = None
        if live_restore:
            plan.notes.append("live-restore is on: running containers keep running across the "
                              "restart")
            plan.interrupts_containers = False
            return
        plan.interrupts_containers = True
        if count is not None:
            plan.notes.append(f"{count} running container(s) will be stopped by the restart "
                              "(turn on live-restore to avoid that)")

    # ----- apply --------------------------------------------------------------------------------
    def apply(self, plan: Plan, facts: Facts, ctx: FixContext, log: Log) -> None:
        data = plan.data
        action, manager, unit = data["action"], data["manager"], data["unit"]
        config_path = data["config_path"]
        dlog = DaemonLog(facts.host, data.get("pid"), manager, unit)
        self._prevalidate(facts, config_path, ctx, log)
        met_before = self._met_now(data, config_path)
        if action == "reload" and met_before and not ctx.written:
            # Planned before another run (or a person) reloaded: nothing left to load.
            plan.outcome = Outcome.UNCHANGED
            log("  nothing to do now: the daemon already shows the runtimes its file declares")
            return
        dlog.reset()
        self._act(plan, log)
        ok, problem = self._verify(data, config_path, dlog, action, ctx, met_before)
        if ok:
            log(f"  verified: the daemon answers and has loaded its configuration ({problem})")
            return
        if problem.startswith("after "):  # no error in the log: ask dockerd about the file
            ok_file, message = self.validate(facts, config_path)
            if ok_file is False:
                problem = f"{problem}; `dockerd --validate` says: {message}"
        log(f"  the daemon did not take the new configuration: {problem}")
        restored = self._roll_back(facts.host, config_path, ctx, log)
        if not restored:
            raise FixFailed(f"dockerd did not take its configuration after the {action}: "
                            f"{problem}")
        dlog.reset()
        try:
            self._act(plan, log)
        except FixFailed as exc:
            raise FixFailed(f"dockerd rejected the new configuration ({problem}); the previous "
                            f"file was restored but the second {action} failed too: {exc}"
                            ) from exc
        healthy = self._wait_healthy(data["endpoint"],
                                     RESTART_TIMEOUT if action == "restart" else 5.0)
        state = ("the daemon is healthy and runs its previous configuration" if healthy else
                 "the daemon does NOT answer; look at its log (`journalctl -u docker`)")
        raise FixFailed(f"dockerd rejected the new configuration: {problem}. Restored "
                        f"{', '.join(restored)} and did the {action} again: {state}")

    @staticmethod
    def validate(facts: Facts, config_path: str) -> tuple[bool | None, str]:
        """`dockerd --validate --config-file=FILE` (Docker >= 23): (ok, its message); None when
        this dockerd has no --validate (older) or cannot be run."""
        proc = facts.docker.process
        exe = (proc.exe if proc and proc.exe else None) or "dockerd"
        result = facts.host.run(CMD_DOCKERD_VALIDATE,
                                [exe, "--validate", f"--config-file={config_path}"], timeout=20)
        if result is None or result.missing or result.timed_out or result.returncode == 126:
            return None, ""  # 126: the host layer's "found but not executable"
        output = (result.stderr + result.stdout).strip()
        if "unknown flag" in output or "flag provided but not defined" in output:
            return None, ""
        last = output.splitlines()[-1] if output else ("configuration OK" if
                                                       result.returncode == 0 else "no output")
        return result.returncode == 0, last

    def _prevalidate(self, facts: Facts, config_path: str, ctx: FixContext,
                     log: Any) -> None:
        """Ask dockerd itself whether the file is valid before touching a running daemon."""
        ok, message = self.validate(facts, config_path)
        if ok is None:
            return  # Docker older than 23.0: nothing to pre-check with
        if ok:
            log(f"  dockerd --validate: {message}")
            return
        restored = self._roll_back(facts.host, config_path, ctx, log)
        extra = f"; restored {', '.join(restored)}" if restored else ""
        raise FixFailed(f"`dockerd --validate` rejects {config_path}: {message} (the daemon was "
                        f"not touched{extra})")

    @staticmethod
    def _act(plan: Plan, log: Any) -> None:
        for step in plan.steps:
            if step.kind == "signal":
                pid = int(step.argv[-1])
                log(f"  sending SIGHUP to dockerd (pid {pid})")
                safefile.checkpoint("before-signal")
                try:
                    changes.send_signal(pid, signal.SIGHUP)
                except changes.ProcessGone as exc:
                    raise FixFailed(f"dockerd (pid {pid}) is no longer running") from exc
                except changes.SignalRefused as exc:
                    raise FixFailed(f"not allowed to signal dockerd (pid {pid})") from exc
            elif step.kind == "command":
                safefile.checkpoint("before-command")
                fixer.run_command(step.argv, log, timeout=RESTART_TIMEOUT + 30)

    @staticmethod
    def expectations(config_path: str) -> tuple[dict[str, Any], str | None]:
        """What the daemon must show once it has read its file: each declared runtime (with
        its path) and the default runtime."""
        current = safefile.read_current(config_path)
        parsed = parse_daemon_json(config_path, current.decode("utf-8", "replace")
                                   if current is not None else None)
        data = parsed.data or {}
        runtimes = data.get("runtimes")
        _, default = _declared(data)
        return (dict(runtimes) if isinstance(runtimes, dict) else {}), default

    @staticmethod
    def unmet(info: dict[str, Any], runtimes: dict[str, Any], default: str | None) -> list[str]:
        """What of the expectations the daemon's /info does not show (empty: all met)."""
        loaded = info.get("Runtimes") or {}
        problems = []
        for name, entry in sorted(runtimes.items()):
            if name not in loaded:
                problems.append(f"runtime {name} is not loaded")
                continue
            want = entry.get("path") if isinstance(entry, dict) else None
            have = loaded[name].get("path") if isinstance(loaded[name], dict) else None
            if want and have and want != have:
                problems.append(f"runtime {name} still has path {have}, not {want}")
        if default and info.get("DefaultRuntime") != default:
            problems.append(f"default runtime is {info.get('DefaultRuntime')}, not {default}")
        return problems

    def _verify(self, data: dict[str, Any], config_path: str, dlog: DaemonLog, action: str,
                ctx: FixContext, met_before: bool) -> tuple[bool, str]:
        """Poll the Engine API until the daemon shows its file's runtimes, or its log an error.

        When the daemon already showed them before the reload, success also needs dockerd's
        `Reloaded configuration` line (or 3 s without an error), since /info alone cannot tell.
        """
        runtimes, default = self.expectations(config_path)
        limit = float(ctx.options.verify_timeout or
                      (RESTART_TIMEOUT if action == "restart" else RELOAD_TIMEOUT))
        started = time.monotonic()
        endpoint = data["endpoint"]
        last = "no answer yet"
        while True:
            error = dlog.error()
            if error:
                return False, error
            try:
                status, _ = dockerapi.request(endpoint, "GET", "/_ping", timeout=3)
                if status == 200:
                    info = dockerapi.get_json(endpoint, "/info", timeout=5)
                    problems = self.unmet(info, runtimes, default)
                    settled = (action == "restart" or not met_before or dlog.reloaded()
                               or time.monotonic() - started > 3)
                    if not problems and settled:
                        loaded = ", ".join(sorted(info.get("Runtimes") or {}))
                        return True, f"runtimes: {loaded}"
                    last = "; ".join(problems) or "waiting for dockerd to log the reload"
                else:
                    last = f"/_ping answered {status}"
            except DockerUnavailable as exc:
                last = str(exc)
            if time.monotonic() - started >= limit:
                error = dlog.error()
                return False, error or f"after {limit:g} s: {last}"
            time.sleep(0.1)

    def _met_now(self, data: dict[str, Any], config_path: str) -> bool:
        runtimes, default = self.expectations(config_path)
        try:
            info = dockerapi.get_json(data["endpoint"], "/info", timeout=5)
        except DockerUnavailable:
            return False
        return not self.unmet(info, runtimes, default)

    @staticmethod
    def _wait_healthy(endpoint: str, limit: float) -> bool:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            try:
                status, _ = dockerapi.request(endpoint, "GET", "/_ping", timeout=3)
                if status == 200:
                    return True
            except DockerUnavailable:
                pass
            time.sleep(0.2)
        return False

    @staticmethod
    def _roll_back(host: Host, config_path: str, ctx: FixContext,
                   log: Any) -> list[str]:
        """Put back the daemon configuration files this run wrote (newest first)."""
        real = host.realpath(config_path)
        restored = []
        for entry in reversed(ctx.written):
            if entry.path != real:
                continue
            current = safefile.read_current(real)
            if fixer.sha256(current) != entry.sha:
                log(f"  {real} changed again since it was written; left as it is")
                continue
            safefile.restore(real, entry.backup)
            entry.restored = True
            if entry.backup:
                log(f"  restored {real} from {entry.backup}")
                restored.append(f"{real} (from {entry.backup})")
            else:
                log(f"  removed {real}, which did not exist before")
                restored.append(f"{real} (removed; it did not exist before)")
        return restored

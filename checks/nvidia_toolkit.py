"""nvidia.toolkit: nvidia-container-toolkit is installed whole, and the running dockerd saw its
hook when it started (Docker registers its `--gpus` driver only then)."""

from __future__ import annotations

from gpudoctor.facts import Facts
from gpudoctor.facts.nvidia_args import nvidia_ways
from gpudoctor.facts.toolkit import (
    HOOK,
    PACKAGES,
    ToolkitInfo,
    daemon_hook_for,
    describe_time,
    nvidia_skip_reason,
    toolkit_config_for,
)
from gpudoctor.plugin import Area, Check, Findings, Result, Status

#: NVIDIA's apt repository setup and install, one pasteable line (report 1.1 `commands`).
INSTALL_ONLINE = (
    "curl -fsSL https://nvidia.github.io/libnvidia-container/gpgkey | sudo gpg --dearmor -o "
    "/usr/share/keyrings/nvidia-container-toolkit-keyring.gpg && curl -s -L "
    "https://nvidia.github.io/libnvidia-container/stable/deb/nvidia-container-toolkit.list | "
    "sed 's#deb https://#deb [signed-by=/usr/share/keyrings/nvidia-container-toolkit-keyring"
    ".gpg] https://#g' | sudo tee /etc/apt/sources.list.d/nvidia-container-toolkit.list && "
    "sudo apt-get update && sudo apt-get install -y nvidia-container-toolkit")
#: From the release bundle, the four packages in dependency order.
INSTALL_OFFLINE = ("sudo dpkg -i libnvidia-container1_*.deb libnvidia-container-tools_*.deb "
                   "nvidia-container-toolkit-base_*.deb nvidia-container-toolkit_*.deb")
INSTALL_COMMANDS = (INSTALL_ONLINE, INSTALL_OFFLINE)
INSTALL_REMEDY = (
    f"Install it from NVIDIA's repository: `{INSTALL_ONLINE}` (dnf/zypper: see NVIDIA's "
    f"install guide). Offline, from the release bundle, in dependency order: "
    f"`{INSTALL_OFFLINE}`. Then restart Docker so it finds the hook.")


def package_lines(tk: ToolkitInfo) -> list[str]:
    if tk.source in ("dpkg", "rpm"):
        lines = []
        for name in PACKAGES:
            pkg = tk.packages.get(name)
            lines.append(f"{tk.source}: {name} {pkg.version} ({pkg.status})" if pkg else
                         f"{tk.source}: {name} not installed")
        return lines
    return [f"package database: no toolkit package ({'dpkg' if tk.packages else 'none found'})"]


class NvidiaToolkit(Check):
    id = "nvidia.toolkit"
    title = "NVIDIA Container Toolkit, and its hook on the Docker daemon's PATH"
    area = Area.CONTAINER
    order = 70

    def applies(self, facts: Facts) -> str | None:
        return nvidia_skip_reason(facts)

    def run(self, facts: Facts) -> Result:
        tk = facts.toolkit
        d = facts.docker
        found = Findings(evidence=package_lines(tk))
        found.evidence += [f"binary: {name} at {path}" for name, path in tk.binaries.items()]
        found.evidence.append(f"version: {tk.version or 'unknown'}"
                              + (f" (from {tk.version_source})" if tk.version_source else ""))
        if d.mode == "desktop":
            return Result.skip(
                "Docker Desktop runs its engine in a VM the toolkit cannot reach (see "
                "docker.daemon)", evidence=found.evidence)
        if not tk.installed:
            found.add(
                Status.FAIL, "nvidia-container-toolkit is not installed",
                "Neither the package database nor the PATH (the person's, systemd's and "
                f"dockerd's: {tk.search_path}) has the toolkit. Without its "
                f"{HOOK} Docker registers no NVIDIA device driver, so `docker run --gpus all` "
                "and compose's `driver: nvidia` fail with `could not select device driver "
                "\"nvidia\" with capabilities: [[gpu]]`, and there is no `nvidia` runtime.",
                remedy=INSTALL_REMEDY, fixes=("nvidia.install_toolkit",),
                commands=INSTALL_COMMANDS, id="nvidia.toolkit.not_installed")
            return found.result("", "")
        self._packages(facts, tk, found)
        self._daemon_side(facts, tk, found)
        cfg = toolkit_config_for(facts)
        found.evidence.append(
            f"config: {cfg.path}: " + ("does not exist (defaults apply)" if not cfg.exists else
                                        cfg.error or f"mode={cfg.mode or 'auto (default)'}, "
                                        "no-cgroups=" + ("true" if cfg.no_cgroups else
                                                         "false")))
        if d.mode == "snap" and tk.source in ("dpkg", "rpm") and d.at_least(29, 2):
            found.add(
                Status.WARN, "the Docker snap and a host toolkit package are both installed",
                f"The Docker snap ({d.server_version}) bundles its own NVIDIA toolkit; from "
                "29.2 it fails to start GPU containers when the host also has the "
                "toolkit packages (canonical/docker-snap#357).",
                remedy="Remove the host packages (`sudo apt-get remove nvidia-container-toolkit "
                       "nvidia-container-toolkit-base`), or run with "
                       "`--gpus \"all,driver=nvidia.runtime-hook\"`.",
                commands=("sudo apt-get remove nvidia-container-toolkit "
                          "nvidia-container-toolkit-base",), id="nvidia.toolkit.snap_and_host")
        version = tk.version or "(version unknown)"
        return found.result(
            f"nvidia-container-toolkit {version} is installed ({tk.source}) and dockerd found "
            "its hook when it started" if daemon_hook_for(facts).registered else
            f"nvidia-container-toolkit {version} is installed ({tk.source})",
            f"The toolkit's {HOOK} is what Docker calls to put the GPUs into a `--gpus` "
            "container; dockerd looks for it on its own PATH once, at start.")

    def _packages(self, facts: Facts, tk: ToolkitInfo, found: Findings) -> None:
        broken = tk.broken_packages
        if broken:
            names = ", ".join(f"{p.name} ({p.status})" for p in broken)
            found.add(
                Status.FAIL, f"the toolkit install stopped half way: {names}",
                f"dpkg left {names}: unpacked but not configured, so its files may be missing "
                "or inconsistent. This happens when `dpkg -i` was given the packages out of "
                "order or one of them was missing.",
                remedy="Finish or redo it: `sudo apt-get -f install` (online), or install all "
                       "four packages together: `sudo dpkg -i libnvidia-container1_*.deb "
                       "libnvidia-container-tools_*.deb nvidia-container-toolkit-base_*.deb "
                       "nvidia-container-toolkit_*.deb`.",
                fixes=("nvidia.install_toolkit",),
                commands=("sudo apt-get -f install", INSTALL_OFFLINE),
                id="nvidia.toolkit.half_installed")
        versions = tk.package_versions
        if versions and not tk.versions_match:
            listing = ", ".join(f"{n} {v}" for n, v in versions.items())
            strict = tk.exact_match_required
            found.add(
                Status.FAIL if strict else Status.WARN,
                "the toolkit's packages have different versions",
                f"Installed: {listing}. The toolkit and libnvidia-container are built and "
                "tested together; " + ("since 1.18 each package requires the exact same "
                                       "version of the others, so this set is broken and the "
                                       "next apt operation will try to change it."
                                       if strict else "mixing versions leads to hook and "
                                       "CLI errors that are hard to trace."),
                remedy="Install one version of all four: `V=<version>-1; sudo apt-get install "
                       "nvidia-container-toolkit=$V nvidia-container-toolkit-base=$V "
                       "libnvidia-container-tools=$V libnvidia-container1=$V`.",
                fixes=("nvidia.install_toolkit",),
                commands=("V=<version>-1; sudo apt-get install nvidia-container-toolkit=$V "
                          "nvidia-container-toolkit-base=$V libnvidia-container-tools=$V "
                          "libnvidia-container1=$V",), id="nvidia.toolkit.versions_mixed")
        missing = [n for n in tk.missing_packages
                   if n in ("nvidia-container-toolkit", "libnvidia-container-tools",
                            "libnvidia-container1")]
        if missing and not broken:
            cdi_works = nvidia_ways(facts).cdi
            found.add(
                Status.WARN if cdi_works else Status.FAIL,
                f"toolkit packages missing: {', '.join(missing)}"
                + ("; CDI works, `--gpus` does not" if cdi_works else ""),
                f"Only part of the toolkit is installed ({', '.join(tk.installed_packages)}). "
                f"`--gpus` needs {HOOK} (package nvidia-container-toolkit), which calls "
                "nvidia-container-cli (libnvidia-container-tools, libnvidia-container1).",
                remedy=INSTALL_REMEDY, fixes=("nvidia.install_toolkit",),
                commands=INSTALL_COMMANDS, id="nvidia.toolkit.packages_missing")
        elif tk.hook is None and not missing:
            found.add(
                Status.FAIL, f"{HOOK} is not on any PATH",
                f"The toolkit is installed ({tk.source}) but {HOOK} was found nowhere on "
                f"{tk.search_path}. Docker's `--gpus` needs it.",
                remedy=INSTALL_REMEDY, fixes=("nvidia.install_toolkit",),
                commands=INSTALL_COMMANDS, id="nvidia.toolkit.hook_not_on_path")

    def _daemon_side(self, facts: Facts, tk: ToolkitInfo, found: Findings) -> None:
        d = facts.docker
        hook = daemon_hook_for(facts)
        if not hook.daemon_known:
            why = ("the host root did not capture its processes" if not d.processes_known else
                   "no dockerd process serves this endpoint" if d.mode != "remote" else
                   "the daemon runs on another machine")
            found.evidence.append(f"dockerd's PATH: unknown ({why}); whether it saw the hook "
                                  "cannot be told")
            return
        found.evidence.append(
            f"dockerd's PATH: {hook.path_env}" if hook.path_known else
            f"dockerd's PATH: unreadable (run as root to see it); assuming systemd's "
            f"{hook.path_env}")
        found.evidence.append(f"dockerd started: {describe_time(hook.daemon_started)}")
        if hook.hook is None:
            if tk.hook is not None:
                folder = tk.hook.rsplit("/", 1)[0]
                found.add(
                    Status.FAIL, f"{HOOK} is not on dockerd's PATH",
                    f"The hook is at {tk.hook}, but dockerd's PATH ({hook.path_env}) does not "
                    f"contain {folder}. Docker registers its NVIDIA `--gpus` driver only when "
                    "it finds the hook on its own PATH at start, so `docker run --gpus all` "
                    "fails with `could not select device driver \"\" with capabilities: "
                    "[[gpu]]`.",
                    remedy=(f"Link it into a folder dockerd searches: `sudo ln -s {tk.hook} "
                            f"/usr/bin/{HOOK}`, then `{d.restart_command()}` (a reload is not "
                            "enough)."),
                    commands=(f"sudo ln -s {tk.hook} /usr/bin/{HOOK}", d.restart_command()),
                    id="nvidia.toolkit.hook_not_on_dockerd_path")
            return
        found.evidence.append(f"hook on dockerd's PATH: {hook.hook} (installed "
                              f"{describe_time(hook.hook_installed)}: {hook.hook_evidence})")
        if hook.installed_after_start and not hook.upgraded_in_place:
            found.add(
                Status.FAIL, "the toolkit was installed after dockerd started: `--gpus` fails "
                "until Docker restarts",
                f"dockerd (pid {d.process.pid if d.process else '?'}) started "
                f"{describe_time(hook.daemon_started)}, but {hook.hook} arrived "
                f"{describe_time(hook.hook_installed)} ({hook.hook_evidence}). Docker looks for "
                "the hook only once, when it starts, so the running daemon has no NVIDIA "
                "device driver: `docker run --gpus all` fails with `could not select device "
                "driver \"\" with capabilities: [[gpu]]` and compose with `could not select "
                "device driver \"nvidia\"`. A reload (SIGHUP) does not register it; a restart "
                "does.",
                remedy=f"`{d.restart_command()}` (running containers stop unless live-restore "
                       "is on).",
                fixes=("docker.reload",), commands=(d.restart_command(),),
                id="nvidia.toolkit.installed_after_dockerd")
        elif hook.upgraded_in_place and tk.dpkg_event is not None:
            found.evidence.append(
                f"dpkg.log: {tk.dpkg_event.when} upgrade {tk.dpkg_event.old} -> "
                f"{tk.dpkg_event.new}: the hook was already there when dockerd started")

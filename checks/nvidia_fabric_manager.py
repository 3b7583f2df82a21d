"""nvidia.fabric_manager: on NVSwitch systems (HGX, DGX), Fabric Manager runs at the driver's
version and the fabric is up.

GPUs joined by NVSwitch stay unusable until nv-fabricmanager has trained the NVLink fabric and
registered them: CUDA fails with error 802 "system not yet initialized" in every container,
while nvidia-smi looks healthy. Fabric Manager must be installed, running, and of exactly the
driver's version (it refuses to start otherwise). NVSwitches themselves are PCI functions of
NVIDIA's "other bridge" class (0x068000) and are never GPUs.
"""

from __future__ import annotations

from gpudoctor.facts import Facts
from gpudoctor.facts.nvidia_driver import driver_branch
from gpudoctor.plugin import Area, Check, Findings, Result, Status

ID = "nvidia.fabric_manager"
SERVICE = "nvidia-fabricmanager"
HEALTHY_STATES = {"Completed"}
NOT_APPLICABLE = {"N/A", "Not Supported", "[N/A]", "[Not Supported]"}


def install_command(facts: Facts) -> str:
    branch = driver_branch(facts.nvidia_driver.module_version) or "<branch>"
    os_ids = {facts.os_release.get("ID", "")} | set(facts.os_release.get("ID_LIKE", "").split())
    if os_ids & {"ubuntu", "debian"}:
        return f"sudo apt install nvidia-fabricmanager-{branch}"
    if os_ids & {"fedora", "rhel", "centos", "rocky", "almalinux"}:
        return f"sudo dnf install nvidia-fabric-manager-{facts.nvidia_driver.module_version}"
    return f"install nvidia-fabricmanager {facts.nvidia_driver.module_version or ''} from " \
           "NVIDIA's CUDA repository"


class NvidiaFabricManager(Check):
    id = ID
    title = "Fabric Manager on NVSwitch systems"
    area = Area.KERNEL
    order = 50

    def applies(self, facts: Facts) -> str | None:
        if facts.wsl.is_wsl:
            return "this is WSL: there are no NVSwitches"
        if not facts.fabric_manager.present:
            return "no NVSwitch on this host (no NVIDIA bridge-class PCI device, no " \
                   "/dev/nvidia-nvswitch*)"
        return None

    def run(self, facts: Facts) -> Result:
        fm = facts.fabric_manager
        driver_version = facts.nvidia_driver.module_version
        found = Findings()
        ev = found.evidence
        for sw in fm.switches[:8]:
            ev.append(f"{sw.pci} NVSwitch {sw.ids} class 0x{sw.pci_class:06x}, driver "
                      f"{sw.driver or 'none'}: not a GPU, never selected")
        if len(fm.switches) > 8:
            ev.append(f"... and {len(fm.switches) - 8} more NVSwitches")
        if fm.switch_nodes:
            ev.append("device files: " + ", ".join(fm.switch_nodes))
        ev.append(f"Fabric Manager: {fm.version_source or fm.binary or 'not installed'}")
        ev.append(f"systemctl is-active {SERVICE}: {fm.active or 'not known here'}")
        for bus, state, status in fm.fabric:
            ev.append(f"nvidia-smi fabric of {bus}: state {state}, status {status}")
        if fm.fabric_error:
            ev.append(f"fabric state: {fm.fabric_error}")
        why = ("On NVSwitch systems CUDA works only after Fabric Manager has set up the NVLink "
               "fabric; until then every CUDA program, in or out of a container, fails with "
               "error 802 \"system not yet initialized\".")
        start = f"sudo systemctl enable --now {SERVICE}"
        if fm.package is None and fm.binary is None and fm.version is None:
            install = install_command(facts)
            found.add(Status.FAIL, f"{len(fm.switches) or len(fm.switch_nodes)} NVSwitch "
                      "device(s) but Fabric Manager is not installed", why,
                      f"Install Fabric Manager of the driver's version "
                      f"({driver_version or 'see nvidia-smi'}): `{install}`, then `{start}`.",
                      id=f"{ID}.not_installed", commands=(install, start))
            return found.result("", "")
        from gpudoctor.checks.nvidia_driver_mismatch import mismatch

        stale = mismatch(facts.nvidia_driver)
        if fm.version and driver_version and fm.version != driver_version and stale and \
                stale[1] == fm.version:
            return Result.fail(
                f"Fabric Manager {fm.version} matches the driver on disk, not the loaded module "
                f"{driver_version}: see nvidia.driver_mismatch", evidence=ev,
                details=why + " It refuses to run with a module of another version; the reboot "
                "that nvidia.driver_mismatch asks for brings both to one version.",
                cause="nvidia.driver_mismatch", findings=[f"{ID}.version_mismatch"])
        if fm.version and driver_version and fm.version != driver_version:
            install = install_command(facts)
            found.add(Status.FAIL, f"Fabric Manager {fm.version} does not match the driver "
                      f"{driver_version}",
                      why + " Fabric Manager refuses to run with a driver of another version.",
                      f"Install Fabric Manager {driver_version}: `{install}` (or reboot if the "
                      "driver on disk is newer than the loaded module), then "
                      f"`sudo systemctl restart {SERVICE}`.", id=f"{ID}.version_mismatch",
                      commands=(install, f"sudo systemctl restart {SERVICE}"))
        if fm.active is not None and fm.active != "active":
            found.add(Status.FAIL, f"the {SERVICE} service is {fm.active}", why,
                      f"Start it and keep it on: `{start}`; if it stops again, "
                      f"`journalctl -u {SERVICE} -b` says why.", id=f"{ID}.not_running",
                      commands=(start, f"journalctl -u {SERVICE} -b"))
        stuck = [(bus, state, status) for bus, state, status in fm.fabric
                 if state not in NOT_APPLICABLE and (state not in HEALTHY_STATES
                                                    or status != "Success")]
        if stuck:
            listed = ", ".join(f"{bus} ({state}, {status})" for bus, state, status in stuck[:4])
            found.add(Status.FAIL, f"the NVLink fabric is not ready on {len(stuck)} GPU(s): "
                      f"{listed}", why + " The driver reports the fabric state per GPU; "
                      "\"Completed\" with \"Success\" is the only usable one.",
                      f"`sudo systemctl restart {SERVICE}` and read `journalctl -u {SERVICE} "
                      "-b`; a GPU stuck \"In Progress\" needs a GPU reset or reboot.",
                      id=f"{ID}.fabric_not_ready",
                      commands=(f"sudo systemctl restart {SERVICE}",))
        running = "running" if fm.active == "active" else "installed"
        ready = [b for b, state, _ in fm.fabric if state in HEALTHY_STATES]
        summary = (f"Fabric Manager {fm.version or ''} is {running}".replace("  ", " ")
                   + (" and matches the driver" if fm.version == driver_version else "")
                   + (f"; fabric ready on {len(ready)} GPU(s)" if ready else ""))
        return found.result(summary, why)

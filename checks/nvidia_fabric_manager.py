"""nvidia.fabric_manager: on NVSwitch systems (HGX, DGX), Fabric Manager runs at the driver's
version and the fabric is up.

GPUs joined by NVSwitch stay unusable until nv-fabricmanager has trained the NVLink fabric and
registered them: CUDA fails with error 802 "system not yet initialized" in every container,
while nvidia-smi looks healthy. Fabric Manager must be installed, running, and of exactly the
driver's version (it refuses to start otherwise). NVSwitches themselves are PCI functions of
NVIDIA's "other bridge" class (0x068000) and are never GPUs.
"""

from __future__ import annotations

from gpudoctor import TYPE_CHECKING
from gpudoctor.plugin import Area, Check, Result, Say, Sentences, Status

if TYPE_CHECKING:
    from typing import Any

    from gpudoctor.facts import Facts

ID = "nvidia.fabric_manager"
SERVICE = "nvidia-fabricmanager"
HEALTHY_STATES = {"Completed"}
NOT_APPLICABLE = {"N/A", "Not Supported", "[N/A]", "[Not Supported]"}
START = f"sudo systemctl enable --now {SERVICE}"
RESTART = f"sudo systemctl restart {SERVICE}"
JOURNAL = f"journalctl -u {SERVICE} -b"
WHY = ("On NVSwitch systems CUDA works only after Fabric Manager has set up the NVLink fabric; "
       "until then every CUDA program, in or out of a container, fails with error 802 \"system "
       "not yet initialized\".")

SENTENCES = Sentences(ID, {
    "ok": Say(Status.PASS, "{fabric_manager} is {state} and matches the driver; fabric ready "
              "on {ready} GPU(s)", WHY),
    "ok_no_fabric": Say(Status.PASS, "{fabric_manager} is {state} and matches the driver", WHY),
    "ok_version_unknown": Say(Status.PASS, "{fabric_manager} is {state}; fabric ready on "
                              "{ready} GPU(s)", WHY),
    "ok_version_unknown_no_fabric": Say(Status.PASS, "{fabric_manager} is {state}", WHY),
    "not_installed": Say(
        Status.FAIL, "{switches} NVSwitch device(s) but Fabric Manager is not installed", WHY,
        "Install Fabric Manager of the driver's version ({driver}): `{install}`, then "
        f"`{START}`.", commands=("{install}", START)),
    "version_mismatch": Say(
        Status.FAIL, "Fabric Manager {fm_version} does not match the driver {driver}",
        WHY + " Fabric Manager refuses to run with a driver of another version.",
        "Install Fabric Manager {driver}: `{install}` (or reboot if the driver on disk is newer "
        f"than the loaded module), then `{RESTART}`.", commands=("{install}", RESTART)),
    "version_mismatch_stale_module": Say(
        Status.FAIL, "Fabric Manager {fm_version} matches the driver on disk, not the loaded "
        "module {driver}: see nvidia.driver_mismatch",
        WHY + " It refuses to run with a module of another version; the reboot that "
        "nvidia.driver_mismatch asks for brings both to one version.",
        finding="version_mismatch"),
    "not_running": Say(
        Status.FAIL, f"the {SERVICE} service is {{active}}", WHY,
        f"Start it and keep it on: `{START}`; if it stops again, `{JOURNAL}` says why.",
        commands=(START, JOURNAL)),
    "fabric_not_ready": Say(
        Status.FAIL, "the NVLink fabric is not ready on {count} GPU(s): {stuck}",
        WHY + " The driver reports the fabric state per GPU; \"Completed\" with \"Success\" is "
        "the only usable one.",
        f"`{RESTART}` and read `{JOURNAL}`; a GPU stuck \"In Progress\" needs a GPU reset or "
        "reboot.", commands=(RESTART,)),
})


def install_command(facts: Facts) -> str:
    from gpudoctor.facts.nvidia_driver import driver_branch

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
    sentences = SENTENCES

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
        found = self.findings()
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
        ready = [b for b, state, _ in fm.fabric if state in HEALTHY_STATES]
        values: dict[str, Any] = {
            "driver": driver_version or "see nvidia-smi", "fm_version": fm.version,
            "fabric_manager": f"Fabric Manager {fm.version or ''}".strip(),
            "state": "running" if fm.active == "active" else "installed", "ready": len(ready)}
        if fm.package is None and fm.binary is None and fm.version is None:
            found.say("not_installed", install=install_command(facts),
                      switches=len(fm.switches) or len(fm.switch_nodes), **values)
            return found.verdict("ok", **values)
        from gpudoctor.facts.nvidia_driver import version_mismatch

        stale = version_mismatch(facts.nvidia_driver)
        differs = bool(fm.version and driver_version and fm.version != driver_version)
        if differs and stale and stale[1] == fm.version:
            found.say("version_mismatch_stale_module", **values)
            result = found.verdict("ok", **values)
            result.cause = "nvidia.driver_mismatch"
            return result
        if differs:
            found.say("version_mismatch", install=install_command(facts), **values)
        if fm.active is not None and fm.active != "active":
            found.say("not_running", active=fm.active, **values)
        stuck = [(bus, state, status) for bus, state, status in fm.fabric
                 if state not in NOT_APPLICABLE and (state not in HEALTHY_STATES
                                                    or status != "Success")]
        if stuck:
            found.say("fabric_not_ready", count=len(stuck), **values,
                      stuck=", ".join(f"{bus} ({state}, {status})"
                                      for bus, state, status in stuck[:4]))
        matches = fm.version == driver_version
        key = ("ok" if matches else "ok_version_unknown") + ("" if ready else "_no_fabric")
        return found.verdict(key, **values)

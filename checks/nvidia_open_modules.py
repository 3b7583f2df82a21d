"""nvidia.open_modules: the loaded flavour of the nvidia module can drive every NVIDIA GPU.

NVIDIA ships two kernel modules of each driver: the proprietary one and the open one ("NVIDIA
UNIX Open Kernel Module" in /proc/driver/nvidia/version). Blackwell and newer GPUs work only
with the open modules: the proprietary module loads, then refuses them (kernel log: "requires
use of the NVIDIA open kernel modules"), so the GPU has no driver although nvidia is loaded.
The reverse holds for GPUs older than Turing, which the open modules do not support. This is
neither "no driver installed" nor nouveau holding the GPU (kernel.driver says those).
"""

from __future__ import annotations

from gpudoctor import TYPE_CHECKING
from gpudoctor.plugin import Area, Check, Result, Say, Sentences, Status

if TYPE_CHECKING:
    from typing import Any

    from gpudoctor.facts import Facts

ID = "nvidia.open_modules"
FIRST_BLACKWELL_BRANCH = 570

SENTENCES = Sentences(ID, {
    "ok": Say(Status.PASS, "{module} is loaded and suits every NVIDIA GPU here",
              "Blackwell and newer GPUs need the open kernel modules; GPUs older than Turing "
              "need the proprietary one. Nothing here is left without a driver for that "
              "reason."),
    "open_required": Say(
        Status.FAIL, "{gpus}: needs the NVIDIA open kernel modules, but the proprietary module "
        "is loaded",
        "{module} is loaded, but it does not bind {gpus}: Blackwell and newer GPUs are "
        "supported only by the open kernel modules (the kernel log says \"requires use of the "
        "NVIDIA open kernel modules\"). The GPU has no driver, so no container can use it.",
        "Install the open flavour of the driver (branch {first_blackwell} or newer for "
        "Blackwell): `{install}`, then `sudo reboot`.", commands=("{install}", "sudo reboot")),
    "proprietary_required": Say(
        Status.FAIL, "{gpus}: older than Turing, which the open kernel modules do not support",
        "{module} is loaded but does not bind {gpus}: the open modules support Turing and "
        "newer GPUs only.",
        "Install the proprietary flavour: `{install}`, then `sudo reboot`.",
        commands=("{install}", "sudo reboot")),
})


def install_command(facts: Facts, flavour: str) -> str:
    """The package that brings the wanted flavour on this distribution."""
    from gpudoctor.facts.nvidia_driver import driver_branch

    driver = facts.nvidia_driver
    branch = driver_branch(driver.module_version) or "<branch>"
    if flavour == "open" and branch.isdigit() and int(branch) < FIRST_BLACKWELL_BRANCH:
        branch = str(FIRST_BLACKWELL_BRANCH)  # Blackwell support begins with the 570 branch
    os_ids = {facts.os_release.get("ID", "")} | set(facts.os_release.get("ID_LIKE", "").split())
    server = "-server" if any("-server" in p.name for p in driver.installed_packages) else ""
    if "ubuntu" in os_ids:
        name = f"nvidia-driver-{branch}{server}" + ("-open" if flavour == "open" else "")
        return f"sudo apt install {name}"
    if "debian" in os_ids:
        return ("sudo apt install nvidia-open-kernel-dkms" if flavour == "open"
                else "sudo apt install nvidia-kernel-dkms")
    if os_ids & {"fedora", "rhel", "centos", "rocky", "almalinux"}:
        return ("sudo dnf install nvidia-open   # NVIDIA's CUDA repository" if flavour == "open"
                else "sudo dnf install cuda-drivers   # NVIDIA's CUDA repository")
    flag = "kernel-open" if flavour == "open" else "kernel"
    return f"sudo sh NVIDIA-Linux-$(uname -m)-{driver.module_version or '<version>'}.run -m={flag}"


class NvidiaOpenModules(Check):
    id = ID
    title = "The nvidia module's flavour (open or proprietary) suits the GPUs"
    area = Area.KERNEL
    order = 35
    sentences = SENTENCES

    def applies(self, facts: Facts) -> str | None:
        from gpudoctor.facts.applies import loaded_driver_skip_reason

        reason = loaded_driver_skip_reason(facts)
        if reason:
            return reason
        if facts.nvidia_driver.flavour is None:
            return "/proc/driver/nvidia/version does not say which flavour is loaded"
        return None

    def run(self, facts: Facts) -> Result:
        from gpudoctor.facts.nvidia_driver import wrong_flavour_gpus

        driver = facts.nvidia_driver
        found = self.findings()
        ev = found.evidence
        ev.append(f"/proc/driver/nvidia/version: {driver.proc_version_line}")
        wanted, gpus = wrong_flavour_gpus(facts)
        hits = facts.nvidia_kernel_log.hits.get("open_modules_required", [])
        if hits:
            ev.append(f"kernel log ({len(hits)}x): {hits[-1]}")
        for gpu in facts.gpus.by_vendor("nvidia", selected_only=False):
            ev.append(f"{gpu.pci} {gpu.ids} {gpu.name or ''}: driver {gpu.driver or 'none'}")
        module = f"the {driver.flavour} nvidia module {driver.module_version or ''}".strip()
        if gpus:
            values: dict[str, Any] = {"module": module, "install": install_command(facts, wanted),
                      "gpus": ", ".join(f"{g.short_pci} ({g.name or g.ids})" for g in gpus),
                      "first_blackwell": FIRST_BLACKWELL_BRANCH}
            found.say("open_required" if wanted == "open" else "proprietary_required", **values)
        return found.verdict("ok", module=module)

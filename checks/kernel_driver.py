"""kernel.driver: the right kernel driver is loaded and bound to each selected GPU.

Containers share the host's kernel: ROCm and CUDA inside an image only talk to /dev/kfd,
/dev/dri/renderD* and /dev/nvidia*, which exist only while amdgpu or nvidia drives the GPU.
The usual ways this goes wrong: nouveau (or the new Rust nova_core) claimed the NVIDIA GPU
first; the module was built by DKMS but Secure Boot refuses it because it is not signed with an
enrolled key; the module was never built for the running kernel; vfio-pci reserved the GPU for
a virtual machine.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gpudoctor.facts import Facts
from gpudoctor.facts.gpus import Gpu
from gpudoctor.facts.system import (
    find_module_file,
    kernel_cmdline,
    modprobe_lines,
    module_state,
    mok_key,
)
from gpudoctor.pasteable import quoted_commands
from gpudoctor.plugin import Area, Check, Result, Status

#: The driver containers need per vendor (the first one is the module to load).
EXPECTED = {"amd": ("amdgpu",), "nvidia": ("nvidia",), "intel": ("i915", "xe")}
#: Drivers that can claim an NVIDIA GPU instead of nvidia and cannot run CUDA.
NVIDIA_RIVALS = ("nouveau", "nova_core")
DEFAULT_MOK = "/var/lib/shim-signed/mok/MOK.der"


@dataclass
class Finding:
    """What was found for one GPU: fine, or a problem with its evidence and remedy."""

    gpu: Gpu
    ok: bool
    summary: str
    evidence: list[str] = field(default_factory=list)
    remedy: str = ""
    details: str = ""


def _binding(gpu: Gpu) -> str:
    return (f"/sys/bus/pci/devices/{gpu.pci}/driver -> .../drivers/{gpu.driver}" if gpu.driver
            else f"/sys/bus/pci/devices/{gpu.pci}/driver: no such link (no driver bound)")


def _initramfs_command(facts: Facts) -> str:
    os_ids = {facts.os_release.get("ID", "")} | set(facts.os_release.get("ID_LIKE", "").split())
    if os_ids & {"debian", "ubuntu"}:
        return "sudo update-initramfs -u"
    if os_ids & {"fedora", "rhel", "centos", "suse", "opensuse"}:
        return "sudo dracut --force"
    if "arch" in os_ids:
        return "sudo mkinitcpio -P"
    return "sudo update-initramfs -u   # or: sudo dracut --force (Fedora, RHEL, SUSE)"


def _install_nvidia_command(facts: Facts) -> str:
    os_id = facts.os_release.get("ID", "")
    if os_id == "ubuntu":
        return "sudo ubuntu-drivers install"
    if os_id == "debian":
        return "sudo apt install nvidia-driver firmware-misc-nonfree   # from non-free"
    if os_id == "fedora":
        return "sudo dnf install akmod-nvidia   # from RPM Fusion"
    return "install the NVIDIA driver packaged for your distribution"


class KernelDriver(Check):
    id = "kernel.driver"
    title = "Kernel driver loaded and bound to each GPU"
    area = Area.KERNEL
    order = 30
    requires = ("gpu.present",)

    def applies(self, facts: Facts) -> str | None:
        if not [g for g in facts.gpus.selected if g.vendor in EXPECTED]:
            return "no selected AMD, NVIDIA or Intel GPU to check a driver for"
        return None

    def run(self, facts: Facts) -> Result:
        gpus = [g for g in facts.gpus.selected if g.vendor in EXPECTED]
        findings = [self._examine(facts, gpu) for gpu in gpus]
        evidence: list[str] = []
        for finding in findings:
            evidence.extend(finding.evidence)
        versions, data = self._versions(facts, gpus)
        evidence.extend(versions)
        data["gpus"] = {f.gpu.pci: {"driver": f.gpu.driver, "ok": f.ok} for f in findings}
        bad = [f for f in findings if not f.ok]
        why = ("A container uses the host's kernel: ROCm and CUDA inside the image only reach the "
               "GPU through /dev/kfd, /dev/dri/renderD* and /dev/nvidia*, which exist only while "
               "amdgpu or nvidia drives it. Nothing in the image can load or replace the "
               "host's driver.")
        evidence = list(dict.fromkeys(evidence))
        if not bad:
            by_driver: dict[str, list[str]] = {}
            for f in findings:
                by_driver.setdefault(f.gpu.driver or "", []).append(f.gpu.short_pci)
            parts = []
            for driver, where in by_driver.items():
                version = data.get(f"{driver}_version")
                name = f"{driver} {version}" if version else driver
                target = (where[0] if len(where) == 1 else
                          f"the {len(where)} selected GPUs ({', '.join(where)})")
                parts.append(f"{name} is loaded and bound to {target}")
            return Result.passed("; ".join(parts), details=why, evidence=evidence)
        summary = bad[0].summary if len(bad) == 1 else (
            f"{len(bad)} of {len(findings)} selected GPUs lack their driver: "
            + "; ".join(f.summary for f in bad))
        details = " ".join(dict.fromkeys(f.details for f in bad if f.details)) + " " + why
        remedy = "\n\n".join(dict.fromkeys(f.remedy for f in bad if f.remedy))
        return Result(Status.FAIL, summary, details=details.strip(), evidence=evidence,
                      remedy=remedy, commands=list(quoted_commands(remedy)),
                      cause=_flavour_cause(facts, bad), findings=["kernel.driver.not_bound"])

    # ----- one GPU ------------------------------------------------------------------------------
    def _examine(self, facts: Facts, gpu: Gpu) -> Finding:
        expected = EXPECTED[gpu.vendor]
        who = f"{gpu.short_pci} ({gpu.name or gpu.ids})"
        if gpu.driver in expected:
            return self._bound(facts, gpu, who)
        if gpu.vendor == "nvidia" and gpu.driver in NVIDIA_RIVALS:
            return self._rival(facts, gpu, who)
        if gpu.driver == "vfio-pci":
            return Finding(
                gpu, False, f"{who} is bound to vfio-pci (reserved for a virtual machine)",
                evidence=[_binding(gpu), *self._cmdline_hits(facts, ("vfio",))],
                details="vfio-pci holds GPUs that are passed through to virtual machines; the "
                        "host cannot use them, and neither can its containers.",
                remedy="If the GPU should serve containers on this host, remove its id from "
                       "`vfio-pci.ids=` on the kernel command line and from /etc/modprobe.d, "
                       f"then `{_initramfs_command(facts)}` and reboot.")
        if gpu.vendor == "amd" and gpu.driver == "radeon":
            return Finding(
                gpu, False, f"{who} is driven by radeon, not amdgpu",
                evidence=[_binding(gpu)],
                details="ROCm needs amdgpu and /dev/kfd; the old radeon driver provides neither. "
                        "Southern/Sea Islands cards default to radeon.",
                remedy="Add `radeon.si_support=0 amdgpu.si_support=1 radeon.cik_support=0 "
                       "amdgpu.cik_support=1` to the kernel command line (GRUB_CMDLINE_LINUX in "
                       "/etc/default/grub, then `sudo update-grub`) and reboot.")
        if gpu.driver is not None:
            return Finding(
                gpu, False, f"{who} is bound to {gpu.driver}, not {' or '.join(expected)}",
                evidence=[_binding(gpu)],
                details=f"Containers need {expected[0]} on this GPU.",
                remedy=f"Unbind {gpu.driver} from the GPU and load {expected[0]}: "
                       f"`echo {gpu.pci} | sudo tee /sys/bus/pci/drivers/{gpu.driver}/unbind` "
                       f"then `sudo modprobe {expected[0]}`; make it permanent by blacklisting "
                       f"{gpu.driver} in /etc/modprobe.d.")
        return self._unbound(facts, gpu, who)

    def _bound(self, facts: Facts, gpu: Gpu, who: str) -> Finding:
        module = gpu.driver or ""
        loaded = facts.modules.get(module)
        state = loaded.state.lower() if loaded else module_state(facts.host, module)
        evidence = [_binding(gpu)]
        if loaded is not None:
            taint = f" ({loaded.taint})" if loaded.taint else ""
            evidence.append(f"/proc/modules: {module} {loaded.state}{taint}")
        elif state == "builtin":
            evidence.append(f"/sys/module/{module}: built into the kernel")
        if state not in (None, "live", "builtin"):
            return Finding(gpu, False, f"{module} on {who} is still {state}", evidence=evidence,
                           details=f"The {module} module has not finished loading.",
                           remedy=f"Look at `sudo dmesg | grep -i {module}` for a firmware or "
                                  "initialisation error.")
        return Finding(gpu, True, f"{module} is loaded and bound to {who}", evidence=evidence)

    def _rival(self, facts: Facts, gpu: Gpu, who: str) -> Finding:
        rival = gpu.driver or ""
        release = facts.kernel_release or "$(uname -r)"
        built = find_module_file(facts.host, facts.kernel_release, "nvidia") if (
            facts.kernel_release) else None
        evidence = [_binding(gpu)]
        loaded = facts.modules.get(rival)
        if loaded is not None:
            evidence.append(f"/proc/modules: {rival} {loaded.state}")
        evidence.append(f"nvidia.ko for {release}: {built or 'not found under /lib/modules'}")
        existing = modprobe_lines(facts.host, rival)
        evidence += [f"{path}: {line}" for path, line in existing]
        evidence += self._cmdline_hits(facts, (rival, "nomodeset"))
        conf = ("blacklist nouveau\noptions nouveau modeset=0" if rival == "nouveau"
                else "blacklist nova_core\nblacklist nova_drm")
        conf_file = f"/etc/modprobe.d/blacklist-{rival.replace('_', '-')}.conf"
        steps = []
        if not built:
            steps.append(f"Install the NVIDIA driver first: `{_install_nvidia_command(facts)}`.")
        if existing:
            steps.append(f"{rival} is already blacklisted ({existing[0][0]}), yet it drives the "
                         f"GPU: the initramfs still loads it, or the host was not rebooted since. "
                         f"Rebuild the initramfs: `{_initramfs_command(facts)}`, then "
                         "`sudo reboot`.")
        else:
            printf = "\\n".join(conf.splitlines()) + "\\n"
            steps.append(f"Keep {rival} off the GPU: create {conf_file} containing\n"
                         + "\n".join(f"    {line}" for line in conf.splitlines())
                         + f"\nfor example: `printf '{printf}' | sudo tee {conf_file}`\n"
                         f"then `{_initramfs_command(facts)}` and `sudo reboot`.")
        steps.append("After the reboot `lspci -k -s " + gpu.short_pci + "` shows "
                     "`Kernel driver in use: nvidia`.")
        return Finding(
            gpu, False, f"{rival}, not nvidia, holds the NVIDIA GPU {who}", evidence=evidence,
            details=f"{rival} is the open-source driver for NVIDIA GPUs; it cannot run CUDA, and "
                    "while it holds the GPU the nvidia module cannot bind (dmesg: `NVRM: The "
                    f"NVIDIA probe routine was not called ... {rival} ... obtained ownership`"
                    + (", or `already bound to NovaCore`" if rival == "nova_core" else "")
                    + "). The container toolkit then fails with `nvml error: driver not loaded`.",
            remedy="\n".join(steps))

    def _unbound(self, facts: Facts, gpu: Gpu, who: str) -> Finding:
        module = EXPECTED[gpu.vendor][0]
        release = facts.kernel_release
        evidence = [_binding(gpu)]
        loaded = facts.modules.get(module)
        if loaded is not None:
            evidence.append(f"/proc/modules: {module} {loaded.state}")
            return Finding(
                gpu, False, f"{module} is loaded but does not drive {who}", evidence=evidence,
                details=f"The {module} module is loaded yet did not bind to this GPU: the GPU "
                        "may be newer than this driver version, its firmware may be missing, "
                        "or probing failed.",
                remedy=f"Read `sudo dmesg | grep -iE '{module}|NVRM'` for the reason; a GPU "
                       "newer than the driver needs a newer driver (or kernel).")
        built = find_module_file(facts.host, release, module) if release else None
        evidence.append(f"/proc/modules: {module} is not loaded")
        evidence.append(f"{module}.ko for {release or 'the running kernel'}: "
                        f"{built or 'not found under /lib/modules/' + (release or '?')}")
        blocked = modprobe_lines(facts.host, module)
        evidence += [f"{path}: {line}" for path, line in blocked]
        hits = self._cmdline_hits(facts, (module, "nomodeset", "modprobe.blacklist"))
        evidence += hits
        secure = facts.secure_boot
        evidence.append("Secure Boot: " + {True: "on (SecureBoot EFI variable = 1)",
                                           False: "off (SecureBoot EFI variable = 0)",
                                           None: "unknown (not an EFI boot or not captured)"}
                        [secure])
        if built and secure:
            key = mok_key(facts.host)
            import_cmd = f"sudo mokutil --import {key or DEFAULT_MOK}"
            return Finding(
                gpu, False,
                f"{module} is built for this kernel but not loaded, and Secure Boot is on: it "
                f"was most likely refused as unsigned, so {who} has no driver",
                evidence=evidence,
                details="With Secure Boot on, the kernel only loads modules signed with a key "
                        "it trusts. A DKMS-built module is signed with the machine's own key "
                        "(MOK), which must be enrolled once in the firmware; until then "
                        f"`modprobe {module}` fails with `Key was rejected by service`.",
                remedy=f"Enroll the DKMS signing key and reboot: `{import_cmd}` (choose a "
                       "one-time password), `sudo reboot`, pick \"Enroll MOK\" in the blue MOK "
                       f"manager screen and enter the password; then `sudo modprobe {module}`."
                       + ("" if key else f" If {DEFAULT_MOK} does not exist, run "
                          f"`sudo dkms autoinstall` to create and sign with a key first.")
                       + " Or turn Secure Boot off in the firmware settings.")
        if built:
            reason = ""
            if blocked:
                reason = f" It is blacklisted in {blocked[0][0]}."
            elif hits:
                reason = f" The kernel command line has `{hits[0].split(': ', 1)[-1]}`."
            return Finding(
                gpu, False, f"{module} is built for this kernel but not loaded, so {who} has no "
                            "driver", evidence=evidence,
                details=f"{module}.ko exists for the running kernel but nothing loaded it."
                        + reason,
                remedy=f"`sudo modprobe {module}` and read its error; remove any blacklist "
                       f"line for {module} from /etc/modprobe.d and `nomodeset` from the kernel "
                       "command line, then reboot.")
        if module == "amdgpu":
            install = ("sudo apt install linux-modules-extra-$(uname -r)"
                       if facts.os_release.get("ID") == "ubuntu" else
                       "install your distribution's kernel modules package for this kernel")
        elif module == "nvidia":
            install = _install_nvidia_command(facts)
        else:
            install = f"install the kernel modules package that provides {module}"
        return Finding(
            gpu, False, f"no {module} module exists for kernel {release or '?'}, so {who} has "
                        "no driver", evidence=evidence,
            details=f"{module} is neither loaded nor built for the running kernel (a driver "
                    "installed for another kernel, or a DKMS build that failed).",
            remedy=f"`{install}`, then reboot. If a DKMS build failed, `sudo dkms status` and "
                   "`sudo dkms autoinstall` show why.")

    # ----- shared ---------------------------------------------------------------------------------
    @staticmethod
    def _cmdline_hits(facts: Facts, words: tuple[str, ...]) -> list[str]:
        return [f"/proc/cmdline: {w}" for w in kernel_cmdline(facts.host)
                if any(x in w for x in words)]

    @staticmethod
    def _versions(facts: Facts, gpus: list[Gpu]) -> tuple[list[str], dict]:
        lines: list[str] = []
        data: dict = {}
        vendors = {g.vendor for g in gpus}
        versions = facts.driver_versions
        if "nvidia" in vendors and "nvidia" in facts.modules:
            taint = facts.modules["nvidia"].taint
            flavour = ("open kernel module" if taint and "P" not in taint
                       else "proprietary kernel module" if taint else "")
            if "nvidia" in versions:
                version, source = versions["nvidia"]
                lines.append(f"nvidia kernel module {version}"
                             + (f" ({flavour})" if flavour else "") + f", from {source}")
                data["nvidia_version"] = version
            else:
                lines.append("nvidia kernel module version: neither /sys/module/nvidia/version "
                             "nor /proc/driver/nvidia/version gives one")
        if "amd" in vendors and "amdgpu" in facts.modules:
            if "amdgpu" in versions:
                version = versions["amdgpu"][0]
                lines.append(f"amdgpu {version} from amdgpu-dkms (out of tree, "
                             "/sys/module/amdgpu/version)")
                data["amdgpu_version"] = version
            else:
                lines.append(f"amdgpu of kernel {facts.kernel_release or '?'} (in tree: no "
                             "/sys/module/amdgpu/version)")
        return lines, data


def _flavour_cause(facts: Facts, bad: list[Finding]) -> str | None:
    """nvidia.open_modules when the loaded module's flavour is why every failing GPU is
    without a driver (it says so once, with the package to install)."""
    from gpudoctor.facts.nvidia_driver import wrong_flavour_gpus

    _, gpus = wrong_flavour_gpus(facts)
    refused = {g.pci for g in gpus}
    return "nvidia.open_modules" if refused and all(f.gpu.pci in refused for f in bad) else None

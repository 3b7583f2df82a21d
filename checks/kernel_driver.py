"""kernel.driver: the right kernel driver is loaded and bound to each selected GPU.

Containers share the host's kernel: ROCm and CUDA inside an image only talk to /dev/kfd,
/dev/dri/renderD* and /dev/nvidia*, which exist only while amdgpu or nvidia drives the GPU.
The usual ways this goes wrong: nouveau (or the new Rust nova_core) claimed the NVIDIA GPU
first; the module was built by DKMS but Secure Boot refuses it because it is not signed with an
enrolled key; the module was never built for the running kernel; vfio-pci reserved the GPU for
a virtual machine.
"""

from __future__ import annotations

from gpudoctor import TYPE_CHECKING
from gpudoctor.plugin import Area, Check, Findings, Result, Say, Sentences, Status, said_once

if TYPE_CHECKING:
    from typing import Any

    from gpudoctor.facts import Facts
    from gpudoctor.facts.gpus import Gpu

ID = "kernel.driver"
#: The driver containers need per vendor (the first one is the module to load).
EXPECTED = {"amd": ("amdgpu",), "nvidia": ("nvidia",), "intel": ("i915", "xe")}
#: Drivers that can claim an NVIDIA GPU instead of nvidia and cannot run CUDA.
NVIDIA_RIVALS = ("nouveau", "nova_core")
DEFAULT_MOK = "/var/lib/shim-signed/mok/MOK.der"
WHY = ("A container uses the host's kernel: ROCm and CUDA inside the image only reach the GPU "
       "through /dev/kfd, /dev/dri/renderD* and /dev/nvidia*, which exist only while amdgpu or "
       "nvidia drives it. Nothing in the image can load or replace the host's driver.")

# ----- nouveau or nova_core holds the NVIDIA GPU -----------------------------------------------
_RIVAL = "{rival}, not nvidia, holds the NVIDIA GPU {who}"
_RIVAL_WHY = ("{rival} is the open-source driver for NVIDIA GPUs; it cannot run CUDA, and while "
              "it holds the GPU the nvidia module cannot bind (dmesg: {dmesg}). The container "
              "toolkit then fails with `nvml error: driver not loaded`. " + WHY)
_INSTALL_FIRST = "Install the NVIDIA driver first: `{install}`.\n"
_BLACKLIST = ("Keep {rival} off the GPU: create {conf_file} containing\n{conf_lines}\nfor "
              "example: `printf '{printf}' | sudo tee {conf_file}`\nthen `{initramfs}` and "
              "`sudo reboot`.\n")
_REBUILD = ("{rival} is already blacklisted ({blacklist_file}), yet it drives the GPU: the "
            "initramfs still loads it, or the host was not rebooted since. Rebuild the "
            "initramfs: `{initramfs}`, then `sudo reboot`.\n")
_VERIFY = "After the reboot `lspci -k -s {pci}` shows `Kernel driver in use: nvidia`."
_BLACKLIST_CMDS = ("printf '{printf}' | sudo tee {conf_file}", "{initramfs}", "sudo reboot",
                   "lspci -k -s {pci}")
_REBUILD_CMDS = ("{initramfs}", "sudo reboot", "lspci -k -s {pci}")

# ----- built for this kernel but not loaded ----------------------------------------------------
_NOT_LOADED = "{module} is built for this kernel but not loaded, so {who} has no driver"
_NOT_LOADED_WHY = "{module}.ko exists for the running kernel but nothing loaded it."
_NOT_LOADED_REMEDY = ("`sudo modprobe {module}` and read its error; remove any blacklist line "
                      "for {module} from /etc/modprobe.d and `nomodeset` from the kernel "
                      "command line, then reboot.")
_SECURE_BOOT = ("{module} is built for this kernel but not loaded, and Secure Boot is on: it "
                "was most likely refused as unsigned, so {who} has no driver")
_SECURE_BOOT_WHY = ("With Secure Boot on, the kernel only loads modules signed with a key it "
                    "trusts. A DKMS-built module is signed with the machine's own key (MOK), "
                    "which must be enrolled once in the firmware; until then `modprobe {module}` "
                    "fails with `Key was rejected by service`. " + WHY)
_ENROLL = ("Enroll the DKMS signing key and reboot: `sudo mokutil --import {key}` (choose a "
           "one-time password), `sudo reboot`, pick \"Enroll MOK\" in the blue MOK manager "
           "screen and enter the password; then `sudo modprobe {module}`.")
_SB_OFF = " Or turn Secure Boot off in the firmware settings."
_ENROLL_CMDS = ("sudo mokutil --import {key}", "sudo reboot", "sudo modprobe {module}")


def _fail(summary: str, details: str, remedy: str, commands: tuple[str, ...] = (),
          finding: str = "") -> Say:
    return Say(Status.FAIL, summary, details, remedy, commands=commands, finding=finding)


SENTENCES = Sentences(ID, {
    # (The id predates the per-kind ids: it names the commonest way nvidia is not bound.)
    "not_bound": _fail(_RIVAL, _RIVAL_WHY, _BLACKLIST + _VERIFY, _BLACKLIST_CMDS),
    "not_bound_blacklisted": _fail(_RIVAL, _RIVAL_WHY, _REBUILD + _VERIFY, _REBUILD_CMDS,
                                   finding="not_bound"),
    "not_bound_no_nvidia": _fail(_RIVAL, _RIVAL_WHY, _INSTALL_FIRST + _BLACKLIST + _VERIFY,
                                 ("{install}", *_BLACKLIST_CMDS), finding="not_bound"),
    "not_bound_blacklisted_no_nvidia": _fail(
        _RIVAL, _RIVAL_WHY, _INSTALL_FIRST + _REBUILD + _VERIFY, ("{install}", *_REBUILD_CMDS),
        finding="not_bound"),
    "vfio": _fail(
        "{who} is bound to vfio-pci (reserved for a virtual machine)",
        "vfio-pci holds GPUs that are passed through to virtual machines; the host cannot use "
        "them, and neither can its containers. " + WHY,
        "If the GPU should serve containers on this host, remove its id from `vfio-pci.ids=` on "
        "the kernel command line and from /etc/modprobe.d, then `{initramfs}` and reboot.",
        ("{initramfs}",)),
    "radeon": _fail(
        "{who} is driven by radeon, not amdgpu",
        "ROCm needs amdgpu and /dev/kfd; the old radeon driver provides neither. Southern/Sea "
        "Islands cards default to radeon. " + WHY,
        "Add `radeon.si_support=0 amdgpu.si_support=1 radeon.cik_support=0 "
        "amdgpu.cik_support=1` to the kernel command line (GRUB_CMDLINE_LINUX in "
        "/etc/default/grub, then `sudo update-grub`) and reboot."),
    "other_driver": _fail(
        "{who} is bound to {driver}, not {expected}",
        "Containers need {module} on this GPU. " + WHY,
        "Unbind {driver} from the GPU and load {module}: `echo {pci_full} | sudo tee "
        "/sys/bus/pci/drivers/{driver}/unbind` then `sudo modprobe {module}`; make it permanent "
        "by blacklisting {driver} in /etc/modprobe.d.",
        ("echo {pci_full} | sudo tee /sys/bus/pci/drivers/{driver}/unbind",
         "sudo modprobe {module}")),
    "not_live": _fail(
        "{module} on {who} is still {state}", "The {module} module has not finished loading. "
        + WHY, "Look at `sudo dmesg | grep -i {module}` for a firmware or initialisation error.",
        ("sudo dmesg | grep -i {module}",)),
    "loaded_not_bound": _fail(
        "{module} is loaded but does not drive {who}",
        "The {module} module is loaded yet did not bind to this GPU: the GPU may be newer than "
        "this driver version, its firmware may be missing, or probing failed. " + WHY,
        "Read `sudo dmesg | grep -iE '{module}|NVRM'` for the reason; a GPU newer than the "
        "driver needs a newer driver (or kernel).", ("sudo dmesg | grep -iE '{module}|NVRM'",)),
    "secure_boot": _fail(_SECURE_BOOT, _SECURE_BOOT_WHY, _ENROLL + _SB_OFF, _ENROLL_CMDS),
    "secure_boot_no_key": _fail(
        _SECURE_BOOT, _SECURE_BOOT_WHY,
        _ENROLL + " If {key} does not exist, run `sudo dkms autoinstall` to create and sign "
        "with a key first." + _SB_OFF, ("sudo dkms autoinstall", *_ENROLL_CMDS),
        finding="secure_boot"),
    "not_loaded": _fail(_NOT_LOADED, _NOT_LOADED_WHY + " " + WHY, _NOT_LOADED_REMEDY,
                        ("sudo modprobe {module}",)),
    "not_loaded_blacklisted": _fail(
        _NOT_LOADED, _NOT_LOADED_WHY + " It is blacklisted in {blacklist_file}. " + WHY,
        _NOT_LOADED_REMEDY, ("sudo modprobe {module}",), finding="not_loaded"),
    "not_loaded_cmdline": _fail(
        _NOT_LOADED, _NOT_LOADED_WHY + " The kernel command line has `{word}`. " + WHY,
        _NOT_LOADED_REMEDY, ("sudo modprobe {module}",), finding="not_loaded"),
    "not_built": _fail(
        "no {module} module exists for kernel {release}, so {who} has no driver",
        "{module} is neither loaded nor built for the running kernel (a driver installed for "
        "another kernel, or a DKMS build that failed). " + WHY,
        "`{install}`, then reboot. If a DKMS build failed, `sudo dkms status` and "
        "`sudo dkms autoinstall` show why.",
        ("{install}", "sudo dkms status", "sudo dkms autoinstall")),
    "ok": Say(Status.PASS, "{driver} is loaded and bound to {target}", WHY),
    "ok_several": Say(Status.PASS, "each selected GPU has its driver: {bound}", WHY),
})


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


def _install_nvidia_command(facts: Facts) -> str | None:
    """The command that installs the NVIDIA driver here; None where gpudoctor knows none."""
    os_id = facts.os_release.get("ID", "")
    if os_id == "ubuntu":
        return "sudo ubuntu-drivers install"
    if os_id == "debian":
        return "sudo apt install nvidia-driver firmware-misc-nonfree   # from non-free"
    if os_id == "fedora":
        return "sudo dnf install akmod-nvidia   # from RPM Fusion"
    return None


class KernelDriver(Check):
    id = ID
    title = "Kernel driver loaded and bound to each GPU"
    area = Area.KERNEL
    order = 30
    requires = ("gpu.present",)
    sentences = SENTENCES

    def applies(self, facts: Facts) -> str | None:
        if not [g for g in facts.gpus.selected if g.vendor in EXPECTED]:
            return "no selected AMD, NVIDIA or Intel GPU to check a driver for"
        return None

    def run(self, facts: Facts) -> Result:
        gpus = [g for g in facts.gpus.selected if g.vendor in EXPECTED]
        found = self.findings()
        bad = [g for g in gpus if not self._examine(facts, found, g)]
        found.evidence.extend(self._versions(facts, gpus))
        found.evidence[:] = list(dict.fromkeys(found.evidence))
        by_driver: dict[str, list[str]] = {}
        for gpu in gpus:
            by_driver.setdefault(gpu.driver or "", []).append(gpu.short_pci)
        parts = []
        for driver, where in by_driver.items():
            version = facts.driver_versions.get(driver, ("",))[0] if (
                driver in facts.modules) else ""
            target = (where[0] if len(where) == 1 else
                      f"the {len(where)} selected GPUs ({', '.join(where)})")
            parts.append((f"{driver} {version}" if version else driver, target))
        if len(parts) == 1:
            result = found.verdict("ok", driver=parts[0][0], target=parts[0][1])
        else:
            result = found.verdict("ok_several", bound="; ".join(
                f"{name} is loaded and bound to {target}" for name, target in parts))
        if bad:
            result.cause = _flavour_cause(facts, bad)
        return said_once(result, WHY)

    # ----- one GPU ------------------------------------------------------------------------------
    def _examine(self, facts: Facts, found: Findings, gpu: Gpu) -> bool:
        """Judge one GPU's driver; True when it is fine, else a finding was said."""
        expected = EXPECTED[gpu.vendor]
        values: dict[str, Any] = {"who": f"{gpu.short_pci} ({gpu.name or gpu.ids})",
                                  "pci": gpu.short_pci, "pci_full": gpu.pci,
                                  "module": expected[0], "initramfs": _initramfs_command(facts),
                                  "release": facts.kernel_release or "?"}
        if gpu.driver in expected:
            return self._bound(facts, found, gpu, values)
        if gpu.vendor == "nvidia" and gpu.driver in NVIDIA_RIVALS:
            self._rival(facts, found, gpu, values)
        elif gpu.driver == "vfio-pci":
            found.evidence += [_binding(gpu), *self._cmdline_hits(facts, ("vfio",))]
            found.say("vfio", **values)
        elif gpu.vendor == "amd" and gpu.driver == "radeon":
            found.evidence.append(_binding(gpu))
            found.say("radeon", **values)
        elif gpu.driver is not None:
            found.evidence.append(_binding(gpu))
            found.say("other_driver", **values, driver=gpu.driver,
                      expected=" or ".join(expected))
        else:
            self._unbound(facts, found, gpu, values)
        return False

    def _bound(self, facts: Facts, found: Findings, gpu: Gpu, values: dict[str, Any]) -> bool:
        from gpudoctor.facts.system import module_state

        module = gpu.driver or ""
        loaded = facts.modules.get(module)
        state = loaded.state.lower() if loaded else module_state(facts.host, module)
        found.evidence.append(_binding(gpu))
        if loaded is not None:
            taint = f" ({loaded.taint})" if loaded.taint else ""
            found.evidence.append(f"/proc/modules: {module} {loaded.state}{taint}")
        elif state == "builtin":
            found.evidence.append(f"/sys/module/{module}: built into the kernel")
        if state not in (None, "live", "builtin"):
            found.say("not_live", **{**values, "module": module}, state=state)
            return False
        return True

    def _rival(self, facts: Facts, found: Findings, gpu: Gpu, values: dict[str, Any]) -> None:
        from gpudoctor.facts.system import find_module_file, modprobe_lines

        rival = gpu.driver or ""
        release = facts.kernel_release or "$(uname -r)"
        built = find_module_file(facts.host, facts.kernel_release, "nvidia") if (
            facts.kernel_release) else None
        evidence = found.evidence
        evidence.append(_binding(gpu))
        loaded = facts.modules.get(rival)
        if loaded is not None:
            evidence.append(f"/proc/modules: {rival} {loaded.state}")
        evidence.append(f"nvidia.ko for {release}: {built or 'not found under /lib/modules'}")
        existing = modprobe_lines(facts.host, rival)
        evidence += [f"{path}: {line}" for path, line in existing]
        evidence += self._cmdline_hits(facts, (rival, "nomodeset"))
        conf = (["blacklist nouveau", "options nouveau modeset=0"] if rival == "nouveau"
                else ["blacklist nova_core", "blacklist nova_drm"])
        dmesg = (f"`NVRM: The NVIDIA probe routine was not called ... {rival} ... obtained "
                 "ownership`" + (", or `already bound to NovaCore`" if rival == "nova_core"
                                 else ""))
        install = _install_nvidia_command(facts)
        key = "not_bound_blacklisted" if existing else "not_bound"
        commands = None
        if not built:
            key += "_no_nvidia"
            if install is None:  # prose, not a command to paste
                commands = SENTENCES[key].commands[1:]
        found.say(key, commands=commands, **values, rival=rival, dmesg=dmesg,
                  install=install or "install the NVIDIA driver packaged for your distribution",
                  conf_file=f"/etc/modprobe.d/blacklist-{rival.replace('_', '-')}.conf",
                  conf_lines="\n".join(f"    {line}" for line in conf),
                  printf="\\n".join(conf) + "\\n",
                  blacklist_file=existing[0][0] if existing else "")

    def _unbound(self, facts: Facts, found: Findings, gpu: Gpu, values: dict[str, Any]) -> None:
        from gpudoctor.facts.system import find_module_file, modprobe_lines, mok_key

        module = values["module"]
        release = facts.kernel_release
        evidence = found.evidence
        evidence.append(_binding(gpu))
        loaded = facts.modules.get(module)
        if loaded is not None:
            evidence.append(f"/proc/modules: {module} {loaded.state}")
            found.say("loaded_not_bound", **values)
            return
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
            found.say("secure_boot" if key else "secure_boot_no_key", **values,
                      key=key or DEFAULT_MOK)
        elif built and blocked:
            found.say("not_loaded_blacklisted", **values, blacklist_file=blocked[0][0])
        elif built and hits:
            found.say("not_loaded_cmdline", **values, word=hits[0].split(": ", 1)[-1])
        elif built:
            found.say("not_loaded", **values)
        else:
            install = None
            prose = f"install the kernel modules package that provides {module}"
            if module == "amdgpu" and facts.os_release.get("ID") == "ubuntu":
                install = "sudo apt install linux-modules-extra-$(uname -r)"
            elif module == "amdgpu":
                prose = "install your distribution's kernel modules package for this kernel"
            elif module == "nvidia":
                install = _install_nvidia_command(facts)
                prose = "install the NVIDIA driver packaged for your distribution"
            found.say("not_built", **values, install=install or prose,
                      commands=None if install else SENTENCES["not_built"].commands[1:])

    # ----- shared ---------------------------------------------------------------------------------
    @staticmethod
    def _cmdline_hits(facts: Facts, words: tuple[str, ...]) -> list[str]:
        from gpudoctor.facts.system import kernel_cmdline

        return [f"/proc/cmdline: {w}" for w in kernel_cmdline(facts.host)
                if any(x in w for x in words)]

    @staticmethod
    def _versions(facts: Facts, gpus: list[Gpu]) -> list[str]:
        lines: list[str] = []
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
            else:
                lines.append("nvidia kernel module version: neither /sys/module/nvidia/version "
                             "nor /proc/driver/nvidia/version gives one")
        if "amd" in vendors and "amdgpu" in facts.modules:
            if "amdgpu" in versions:
                lines.append(f"amdgpu {versions['amdgpu'][0]} from amdgpu-dkms (out of tree, "
                             "/sys/module/amdgpu/version)")
            else:
                lines.append(f"amdgpu of kernel {facts.kernel_release or '?'} (in tree: no "
                             "/sys/module/amdgpu/version)")
        return lines


def _flavour_cause(facts: Facts, bad: list[Gpu]) -> str | None:
    """nvidia.open_modules when the loaded module's flavour is why every failing GPU is
    without a driver (it says so once, with the package to install)."""
    from gpudoctor.facts.nvidia_driver import wrong_flavour_gpus

    _, gpus = wrong_flavour_gpus(facts)
    refused = {g.pci for g in gpus}
    return "nvidia.open_modules" if refused and all(g.pci in refused for g in bad) else None


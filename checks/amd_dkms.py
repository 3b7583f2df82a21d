"""amd.dkms: the amdgpu that is loaded is the one ROCm's installer built, for this kernel.

ROCm's installer ships amdgpu as DKMS source (amdgpu-dkms) and builds it for each installed
kernel. When a kernel update arrives that the DKMS source cannot compile against (`Error! Bad
return status for module build on kernel: 6.14.0-24-generic`), the new kernel boots with its
own in-tree amdgpu, or none: containers then run on a driver the ROCm release was not tested
with, or get no /dev/kfd at all. Which module is loaded is told by /sys/module/amdgpu/version,
which only the DKMS build declares.
"""

from __future__ import annotations

from gpudoctor import TYPE_CHECKING
from gpudoctor.plugin import Area, Check, Result, Say, Sentences, Status

if TYPE_CHECKING:
    from typing import Any

    from gpudoctor.facts import Facts

ID = "amd.dkms"
WHY = ("ROCm's installer builds amdgpu with DKMS for each kernel; a kernel it cannot build for "
       "boots with the in-tree driver or none.")
IN_TREE = ("ROCm's userspace in your images was released and tested with the amdgpu-dkms "
           "driver; the in-tree amdgpu usually works for recent GPUs but lacks fixes and "
           "features of that release.")
NONE = "Without amdgpu there is no /dev/kfd and no render node, so no container can use the GPU."
#: the build for this kernel was tried and failed (make.log has its error)
BUILD_FAILED = (" The last build failed: `{build_error}` ({make_log}): this amdgpu-dkms release "
                "does not compile against {kernel}.")


def _not_built(loaded: bool, failed: bool, elsewhere: bool, no_headers: bool) -> Say:
    """amdgpu-dkms is not built for the running kernel: with the in-tree amdgpu loaded or none;
    the build tried and failed or not; built for other kernels or none; headers missing or
    not. Two findings, worded for each host."""
    summary = ("amdgpu-dkms {version} is not built for {kernel}"
               + ("; DKMS built it for {others} only" if elsewhere else "")
               + ("; the kernel's own amdgpu runs instead" if loaded
                  else ", and no amdgpu is loaded"))
    remedy = ("Build it for this kernel: `{install}`"
              + (" (after `{headers}`)" if no_headers else "")
              + ". If it does not compile, this kernel is newer than the amdgpu-dkms release "
              "supports: boot a kernel it was built for" + (" ({others})" if elsewhere else "")
              + ", install a newer amdgpu-dkms, or remove amdgpu-dkms and use the kernel's own "
              "amdgpu.")
    return Say(Status.WARN if loaded else Status.FAIL, summary,
               (IN_TREE if loaded else NONE) + (BUILD_FAILED if failed else ""), remedy,
               commands=("{headers}", "{install}") if no_headers else ("{install}",),
               finding="not_built_in_tree_loaded" if loaded else "not_built_none_loaded")


def not_built_key(loaded: bool, failed: bool, elsewhere: bool, no_headers: bool) -> str:
    """The row of `_not_built` for this host."""
    return ("not_built_in_tree_loaded" if loaded else "not_built_none_loaded") + (
        "_build_failed" if failed else "") + ("_elsewhere" if elsewhere else "") + (
        "_no_headers" if no_headers else "")


_FLAGS = (False, True)
SENTENCES = Sentences(ID, {
    "ok_loaded": Say(Status.PASS, "amdgpu-dkms {version} is built for {kernel} and loaded", WHY),
    "ok_built": Say(Status.PASS, "amdgpu-dkms {version} is built for {kernel}", WHY),
    **{not_built_key(*flags): _not_built(*flags)
       for flags in ((a, b, c, d) for a in _FLAGS for b in _FLAGS for c in _FLAGS for d in _FLAGS)},
    "reboot_pending": Say(
        Status.WARN, "amdgpu {loaded} is loaded, but amdgpu-dkms built {for_running} for "
        "{kernel}",
        "The module in memory is not the one on disk: amdgpu-dkms was upgraded and the host "
        "not rebooted since. Containers run against the old driver until then.",
        "Reboot to load the new module: `sudo reboot`.", commands=("sudo reboot",)),
    "in_tree_loaded": Say(
        Status.WARN, "amdgpu-dkms is built for {kernel} but the in-tree amdgpu is loaded",
        "The DKMS module exists for this kernel, yet the kernel's own amdgpu was loaded: the "
        "initramfs still carries the old one, or the host was not rebooted since the install.",
        "Rebuild the initramfs and reboot: `sudo update-initramfs -u -k {kernel}` then "
        "`sudo reboot`.", commands=("sudo update-initramfs -u -k {kernel}", "sudo reboot")),
})


class AmdDkms(Check):
    id = ID
    title = "amdgpu-dkms built for the running kernel"
    area = Area.KERNEL
    order = 40
    requires = ("gpu.present",)
    sentences = SENTENCES

    def applies(self, facts: Facts) -> str | None:
        from gpudoctor.facts.amd import DKMS_TREE, amdgpu_driver

        if not facts.gpus.by_vendor("amd"):
            return "no selected AMD GPU"
        drv = amdgpu_driver(facts)
        if not drv.installed and drv.loaded_version:
            return (f"amdgpu {drv.loaded_version} from amdgpu-dkms is loaded, but neither "
                    f"`dkms status` nor {DKMS_TREE} shows its builds, so the kernels it was "
                    "built for are unknown")
        if not drv.installed:
            return (f"amdgpu-dkms is not installed ({DKMS_TREE} is absent and `dkms status` "
                    "lists no amdgpu): the kernel's own amdgpu is the driver")
        return None

    def run(self, facts: Facts) -> Result:
        from gpudoctor.facts.amd import DKMS_TREE, amdgpu_driver

        drv = amdgpu_driver(facts)
        kernel = drv.kernel or "the running kernel"
        found = self.findings()
        built = drv.built_kernels()
        for version, kernels in built.items():
            found.evidence.append(f"amdgpu-dkms {version}: built for "
                                  + (", ".join(kernels) if kernels else "no kernel"))
        if drv.dkms_status is not None:
            found.evidence += [f"dkms status: {e.line}" for e in drv.dkms_status]
        elif drv.dkms_error:
            found.evidence.append(f"dkms status: {drv.dkms_error}")
        else:
            found.evidence.append(f"`dkms status` was not recorded; read {DKMS_TREE}")
        for version, error in drv.make_errors.items():
            found.evidence.append(f"{DKMS_TREE}/{version}/build/make.log: {error}")
        if drv.loaded:
            found.evidence.append(
                f"loaded: amdgpu {drv.loaded_version} from amdgpu-dkms "
                f"(/sys/module/amdgpu/version{', taint ' + drv.taint if drv.taint else ''})"
                if drv.loaded_version else
                f"loaded: the in-tree amdgpu of {kernel} (no /sys/module/amdgpu/version)")
        else:
            found.evidence.append("/proc/modules: amdgpu is not loaded")
        if drv.headers is not None:
            found.evidence.append(f"/lib/modules/{kernel}/build (kernel headers): "
                                  + ("present" if drv.headers else "missing"))
        versions = sorted(built) or ["VERSION"]
        version = versions[-1]
        install = f"sudo dkms install amdgpu/{version} -k {kernel}"
        headers = f"sudo apt install linux-headers-{kernel}"
        values: dict[str, Any] = {"version": version, "kernel": kernel, "install": install,
                                  "headers": headers}
        if not drv.built_for_running:
            others = sorted({k for ks in built.values() for k in ks})
            key = not_built_key(drv.loaded, version in drv.make_errors, bool(others),
                                drv.headers is False)
            found.say(key, others=", ".join(others),
                      build_error=drv.make_errors.get(version, ""),
                      make_log=f"{DKMS_TREE}/{version}/build/make.log", **values)
        elif drv.loaded_version and not any(
                v.split("-")[0] == drv.loaded_version.split("-")[0]
                for v, ks in built.items() if drv.kernel in ks):
            found.say("reboot_pending", loaded=drv.loaded_version, **values,
                      for_running=", ".join(v for v, ks in built.items() if drv.kernel in ks))
        elif drv.loaded and not drv.loaded_version:
            found.say("in_tree_loaded", **values)
        if drv.loaded:
            values["version"] = drv.loaded_version or version
            return found.verdict("ok_loaded", **values)
        return found.verdict("ok_built", **values)

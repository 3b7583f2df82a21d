"""amd.dkms: the amdgpu that is loaded is the one ROCm's installer built, for this kernel.

ROCm's installer ships amdgpu as DKMS source (amdgpu-dkms) and builds it for each installed
kernel. When a kernel update arrives that the DKMS source cannot compile against (`Error! Bad
return status for module build on kernel: 6.14.0-24-generic`), the new kernel boots with its
own in-tree amdgpu, or none: containers then run on a driver the ROCm release was not tested
with, or get no /dev/kfd at all. Which module is loaded is told by /sys/module/amdgpu/version,
which only the DKMS build declares.
"""

from __future__ import annotations

from gpudoctor.facts import Facts
from gpudoctor.facts.amd import DKMS_TREE, amdgpu_driver
from gpudoctor.plugin import Area, Check, Findings, Result, Status


class AmdDkms(Check):
    id = "amd.dkms"
    title = "amdgpu-dkms built for the running kernel"
    area = Area.KERNEL
    order = 40
    requires = ("gpu.present",)

    def applies(self, facts: Facts) -> str | None:
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
        drv = amdgpu_driver(facts)
        kernel = drv.kernel or "the running kernel"
        found = Findings()
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
        if not drv.built_for_running:
            others = sorted({k for ks in built.values() for k in ks})
            commands = ((headers,) if drv.headers is False else ()) + (install,)
            where = (f"; DKMS built it for {', '.join(others)} only" if others else "")
            log = (f" The last build failed: `{drv.make_errors[version]}` ({DKMS_TREE}/{version}"
                   "/build/make.log): this amdgpu-dkms release does not compile against "
                   f"{kernel}." if version in drv.make_errors else "")
            remedy = (f"Build it for this kernel: `{install}`"
                      + (f" (after `{headers}`)" if drv.headers is False else "")
                      + ". If it does not compile, this kernel is newer than the amdgpu-dkms "
                        "release supports: boot a kernel it was built for"
                      + (f" ({', '.join(others)})" if others else "")
                      + ", install a newer amdgpu-dkms, or remove amdgpu-dkms and use the "
                        "kernel's own amdgpu.")
            if drv.loaded:
                found.add(Status.WARN, f"amdgpu-dkms {version} is not built for {kernel}{where}"
                          f"; the kernel's own amdgpu runs instead", "ROCm's userspace in "
                          "your images was released and tested with the amdgpu-dkms driver; "
                          "the in-tree amdgpu usually works for recent GPUs but lacks fixes "
                          f"and features of that release.{log}", remedy,
                          id="amd.dkms.not_built_in_tree_loaded", commands=commands)
            else:
                found.add(Status.FAIL, f"amdgpu-dkms {version} is not built for {kernel}"
                          f"{where}, and no amdgpu is loaded", "Without amdgpu there is no "
                          f"/dev/kfd and no render node, so no container can use the GPU.{log}",
                          remedy, id="amd.dkms.not_built_none_loaded", commands=commands)
        elif drv.loaded_version and not any(
                v.split("-")[0] == drv.loaded_version.split("-")[0]
                for v, ks in built.items() if drv.kernel in ks):
            for_running = [v for v, ks in built.items() if drv.kernel in ks]
            found.add(Status.WARN, f"amdgpu {drv.loaded_version} is loaded, but amdgpu-dkms "
                      f"built {', '.join(for_running)} for {kernel}", "The module in memory is "
                      "not the one on disk: amdgpu-dkms was upgraded and the host not rebooted "
                      "since. Containers run against the old driver until then.",
                      "Reboot to load the new module: `sudo reboot`.",
                      id="amd.dkms.reboot_pending", commands=("sudo reboot",))
        elif drv.loaded and not drv.loaded_version:
            found.add(Status.WARN, f"amdgpu-dkms is built for {kernel} but the in-tree amdgpu "
                      "is loaded", "The DKMS module exists for this kernel, yet the kernel's own "
                      "amdgpu was loaded: the initramfs still carries the old one, or the host "
                      "was not rebooted since the install.", "Rebuild the initramfs and "
                      "reboot: `sudo update-initramfs -u -k " + kernel + "` then `sudo reboot`.",
                      id="amd.dkms.in_tree_loaded",
                      commands=(f"sudo update-initramfs -u -k {kernel}", "sudo reboot"))
        result = found.result(
            f"amdgpu-dkms {drv.loaded_version or version} is built for {kernel} and loaded"
            if drv.loaded else f"amdgpu-dkms {version} is built for {kernel}",
            "ROCm's installer builds amdgpu with DKMS for each kernel; a kernel it cannot build "
            "for boots with the in-tree driver or none.")
        return result

"""nvidia.wsl: on WSL2 the Windows driver supplies the GPU, and nothing inside breaks that.

Under WSL2 the GPU is paravirtualised: /dev/dxg is the device, and the Windows NVIDIA driver
mounts its Linux libraries (libcuda.so.1, libnvidia-ml.so.1, nvidia-smi) into /usr/lib/wsl/lib.
There is no PCI GPU, no nvidia module and no /dev/nvidia0, and that is right: `docker run --gpus
all` works once the container toolkit is installed in the distribution. WSL1 has no GPU at all,
and a Linux NVIDIA driver installed inside the distribution shadows the Windows one's
libraries and breaks CUDA.
"""

from __future__ import annotations

from gpudoctor import TYPE_CHECKING
from gpudoctor.plugin import Area, Check, Result, Say, Sentences, Status

if TYPE_CHECKING:
    from typing import Any

    from gpudoctor.facts import Facts

ID = "nvidia.wsl"
WHY = ("Under WSL2 the Windows NVIDIA driver supplies the GPU through /dev/dxg and its "
       "libraries in {lib_dir}; a PCI GPU, the nvidia module and /dev/nvidia0 are absent by "
       "design. With the NVIDIA Container Toolkit installed in this distribution, `docker run "
       "--gpus all` works.")
LINUX_DRIVER = (WHY + " A Linux driver installed in the distribution puts its own libnvidia-ml "
                "and libcuda in front of the Windows driver's, and CUDA then fails (NVML cannot "
                "talk to /dev/dxg). Only the CUDA toolkit, never a driver, belongs inside WSL.")
CUDA_PACKAGES = ("Install CUDA with the `cuda-toolkit-*` packages, not `cuda` or "
                 "`cuda-drivers`.")

SENTENCES = Sentences(ID, {
    "ok": Say(Status.PASS, "WSL2: the Windows driver supplies the GPU through /dev/dxg", WHY),
    "ok_listed": Say(Status.PASS, "WSL2: the Windows driver supplies the GPU through /dev/dxg; "
                     "nvidia-smi lists {count} GPU(s)", WHY),
    "wsl1": Say(Status.FAIL, "WSL1 has no GPU support", WHY,
                "Convert the distribution to WSL2, in Windows PowerShell: "
                "`wsl --set-version <distribution> 2`.",
                commands=("wsl --set-version <distribution> 2",)),
    "no_dxg": Say(Status.FAIL, "WSL2 without /dev/dxg: Windows passes no GPU in",
                  WHY + " The container toolkit says \"WSL environment detected but no "
                  "adapters were found\".",
                  "Install or update the NVIDIA driver on Windows (the Game Ready or Studio "
                  "driver; nothing inside WSL), then in PowerShell `wsl --update` and "
                  "`wsl --shutdown`.", commands=("wsl --update", "wsl --shutdown")),
    "no_windows_driver": Say(Status.FAIL, "{lib_dir} lacks {missing}: the Windows NVIDIA "
                             "driver is missing or too old", WHY,
                             "Install a current NVIDIA driver on Windows, then "
                             "`wsl --shutdown` in PowerShell.", commands=("wsl --shutdown",)),
    "linux_driver_installed": Say(
        Status.FAIL, "a Linux NVIDIA driver is installed inside WSL", LINUX_DRIVER,
        "Remove it: `{purge}`, then `sudo ldconfig`. " + CUDA_PACKAGES,
        commands=("{purge}", "sudo ldconfig")),
    "linux_driver_files": Say(
        Status.FAIL, "a Linux NVIDIA driver is installed inside WSL", LINUX_DRIVER,
        "Remove the driver's libraries listed above, then `sudo ldconfig`. " + CUDA_PACKAGES,
        commands=("sudo ldconfig",), finding="linux_driver_installed"),
    "nvidia_smi_fails": Say(Status.WARN, "nvidia-smi fails under WSL2: {error}", WHY,
                            "Update the Windows NVIDIA driver and run `wsl --shutdown`.",
                            commands=("wsl --shutdown",)),
})


class NvidiaWsl(Check):
    id = ID
    title = "WSL2's GPU from the Windows driver"
    area = Area.HARDWARE
    order = 15
    sentences = SENTENCES

    def applies(self, facts: Facts) -> str | None:
        return None if facts.wsl.is_wsl else "not WSL"

    def run(self, facts: Facts) -> Result:
        from gpudoctor.facts.wsl import WSL_LIB_DIR

        wsl = facts.wsl
        found = self.findings()
        ev = found.evidence
        ev += wsl.evidence
        ev += [f"{WSL_LIB_DIR}/{name}: {'present' if there else 'missing'}"
               for name, there in wsl.libs.items()]
        ev += [f"Linux driver inside WSL: {item}" for item in wsl.linux_driver]
        values: dict[str, Any] = {"lib_dir": WSL_LIB_DIR}
        if wsl.version == 1:
            found.say("wsl1", **values)
            return found.verdict("ok", **values)
        if not wsl.dxg:
            found.say("no_dxg", **values)
        missing = [name for name, there in wsl.libs.items() if not there]
        if wsl.dxg and missing:
            found.say("no_windows_driver", missing=", ".join(missing), **values)
        if wsl.linux_driver:
            packages = [item.split()[1] for item in wsl.linux_driver
                        if item.startswith("package ")]
            if packages:
                found.say("linux_driver_installed",
                          purge="sudo apt-get purge " + " ".join(packages), **values)
            else:
                found.say("linux_driver_files", **values)
        smi = facts.nvidia_smi_list
        if smi.ok:
            ev += [f"nvidia-smi -L: {line}" for line in smi.lines]
        elif smi.ran:
            ev.append(f"nvidia-smi -L: {smi.error}")
            if not found.items:
                found.say("nvidia_smi_fails", error=smi.error, **values)
        return found.verdict("ok_listed" if smi.ok else "ok", count=len(smi.lines), **values)

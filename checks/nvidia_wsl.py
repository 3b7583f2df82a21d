"""nvidia.wsl: on WSL2 the Windows driver supplies the GPU, and nothing inside breaks that.

Under WSL2 the GPU is paravirtualised: /dev/dxg is the device, and the Windows NVIDIA driver
mounts its Linux libraries (libcuda.so.1, libnvidia-ml.so.1, nvidia-smi) into /usr/lib/wsl/lib.
There is no PCI GPU, no nvidia module and no /dev/nvidia0, and that is right: `docker run --gpus
all` works once the container toolkit is installed in the distribution. WSL1 has no GPU at all,
and a Linux NVIDIA driver installed inside the distribution shadows the Windows one's
libraries and breaks CUDA.
"""

from __future__ import annotations

from gpudoctor.facts import Facts
from gpudoctor.facts.nvidia_driver import WSL_LIB_DIR
from gpudoctor.plugin import Area, Check, Findings, Result, Status

ID = "nvidia.wsl"


def present_on_wsl(facts: Facts, evidence: list[str]) -> Result:
    """gpu.present's verdict on WSL, where no GPU is on the PCI bus by design."""
    wsl = facts.wsl
    evidence = evidence + wsl.evidence
    if wsl.version == 2 and wsl.dxg:
        return Result.passed(
            "WSL2: the GPU is paravirtualised through /dev/dxg (no PCI GPU, by design)",
            evidence=evidence,
            details="Under WSL2 the Windows driver supplies the GPU; nvidia.wsl judges it.")
    return Result.fail("WSL without a usable GPU (see nvidia.wsl)", evidence=evidence,
                       cause=ID, details="WSL has no PCI GPU; its GPU comes through /dev/dxg "
                       "under WSL2 only.")


class NvidiaWsl(Check):
    id = ID
    title = "WSL2's GPU from the Windows driver"
    area = Area.HARDWARE
    order = 15

    def applies(self, facts: Facts) -> str | None:
        return None if facts.wsl.is_wsl else "not WSL"

    def run(self, facts: Facts) -> Result:
        wsl = facts.wsl
        found = Findings()
        ev = found.evidence
        ev += wsl.evidence
        ev += [f"{WSL_LIB_DIR}/{name}: {'present' if there else 'missing'}"
               for name, there in wsl.libs.items()]
        ev += [f"Linux driver inside WSL: {item}" for item in wsl.linux_driver]
        why = ("Under WSL2 the Windows NVIDIA driver supplies the GPU through /dev/dxg and its "
               f"libraries in {WSL_LIB_DIR}; a PCI GPU, the nvidia module and /dev/nvidia0 are "
               "absent by design. With the NVIDIA Container Toolkit installed in this "
               "distribution, `docker run --gpus all` works.")
        if wsl.version == 1:
            found.add(Status.FAIL, "WSL1 has no GPU support", why,
                      "Convert the distribution to WSL2, in Windows PowerShell: "
                      "`wsl --set-version <distribution> 2`.", id=f"{ID}.wsl1",
                      commands=("wsl --set-version <distribution> 2",))
            return found.result("", "")
        if not wsl.dxg:
            found.add(Status.FAIL, "WSL2 without /dev/dxg: Windows passes no GPU in", why
                      + " The container toolkit says \"WSL environment detected but no "
                      "adapters were found\".",
                      "Install or update the NVIDIA driver on Windows (the Game Ready or "
                      "Studio driver; nothing inside WSL), then in PowerShell `wsl --update` "
                      "and `wsl --shutdown`.", id=f"{ID}.no_dxg",
                      commands=("wsl --update", "wsl --shutdown"))
        missing = [name for name, there in wsl.libs.items() if not there]
        if wsl.dxg and missing:
            found.add(Status.FAIL, f"{WSL_LIB_DIR} lacks {', '.join(missing)}: the Windows "
                      "NVIDIA driver is missing or too old", why,
                      "Install a current NVIDIA driver on Windows, then `wsl --shutdown` "
                      "in PowerShell.", id=f"{ID}.no_windows_driver",
                      commands=("wsl --shutdown",))
        if wsl.linux_driver:
            packages = [item.split()[1] for item in wsl.linux_driver
                        if item.startswith("package ")]
            purge = "sudo apt-get purge " + " ".join(packages) if packages else ""
            found.add(Status.FAIL, "a Linux NVIDIA driver is installed inside WSL",
                      why + " A Linux driver installed in the distribution puts its own "
                      "libnvidia-ml and libcuda in front of the Windows driver's, and CUDA "
                      "then fails (NVML cannot talk to /dev/dxg). Only the CUDA toolkit, "
                      "never a driver, belongs inside WSL.",
                      (f"Remove it: `{purge}`, then `sudo ldconfig`" if purge else
                       "Remove the driver's libraries listed above, then `sudo ldconfig`")
                      + ". Install CUDA with the `cuda-toolkit-*` packages, not `cuda` or "
                      "`cuda-drivers`.", id=f"{ID}.linux_driver_installed",
                      commands=tuple(c for c in (purge, "sudo ldconfig") if c))
        smi = facts.nvidia_smi_list
        if smi.ok:
            ev += [f"nvidia-smi -L: {line}" for line in smi.lines]
        elif smi.ran:
            ev.append(f"nvidia-smi -L: {smi.error}")
            if not found.items:
                found.add(Status.WARN, f"nvidia-smi fails under WSL2: {smi.error}", why,
                          "Update the Windows NVIDIA driver and run `wsl --shutdown`.",
                          id=f"{ID}.nvidia_smi_fails", commands=("wsl --shutdown",))
        listed = f"; nvidia-smi lists {len(smi.lines)} GPU(s)" if smi.ok else ""
        return found.result("WSL2: the Windows driver supplies the GPU through /dev/dxg"
                            + listed, why)

"""example.kernel_release: the running kernel is recent enough for current GPU drivers.

A check reads facts (never the host directly), decides with finding ids, and says what was
seen, why it matters for containers, and what to do, with the pasteable command.
"""

from __future__ import annotations

from gpudoctor.facts import Facts
from gpudoctor.plugin import Area, Check, Findings, Result, Status

#: Current amdgpu/ROCm and NVIDIA open-module releases support kernels from 5.15 on.
OLDEST = (5, 15)


class KernelRelease(Check):
    id = "example.kernel_release"
    title = "The kernel is recent enough for current GPU drivers"
    area = Area.KERNEL
    order = 15  # between kernel.driver (10) and the next built-in kernel check

    def applies(self, facts: Facts) -> str | None:
        return None if facts.kernel_release else "the kernel release was not captured"

    def run(self, facts: Facts) -> Result:
        release = facts.kernel_release or ""
        found = Findings(evidence=[f"/proc/sys/kernel/osrelease: {release}"])
        parts = release.split(".")
        version = (int(parts[0]), int(parts[1].split("-")[0])) if len(parts) > 1 and \
            parts[0].isdigit() and parts[1].split("-")[0].isdigit() else None
        if version is not None and version < OLDEST:
            found.add(Status.WARN, f"kernel {release} is older than "
                      f"{OLDEST[0]}.{OLDEST[1]}",
                      "Current GPU driver releases are built and tested for newer kernels; "
                      "an older one may fail to load the module that containers need.",
                      remedy="Install your distribution's current kernel and reboot.",
                      fixes=("example.note",), id="example.kernel_release.old",
                      commands=("sudo apt-get install linux-generic",))
        return found.result(f"kernel {release}",
                            "The kernel is recent enough for current GPU drivers.")

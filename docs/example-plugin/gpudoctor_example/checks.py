"""example.kernel_release: the running kernel is recent enough for current GPU drivers.

A check reads facts (never the host directly), decides with finding keys and values, and says
from its sentence table what was seen, why it matters for containers, and what to do, with
the pasteable command.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gpudoctor.plugin import Area, Check, Result, Say, Sentences, Status

if TYPE_CHECKING:
    from gpudoctor.facts import Facts

#: Current amdgpu/ROCm and NVIDIA open-module releases support kernels from 5.15 on.
OLDEST = (5, 15)

SENTENCES = Sentences("example.kernel_release", {
    "ok": Say(Status.PASS, "kernel {release}",
              "The kernel is recent enough for current GPU drivers."),
    "old": Say(Status.WARN, "kernel {release} is older than {oldest}",
               "Current GPU driver releases are built and tested for newer kernels; an older "
               "one may fail to load the module that containers need.",
               remedy="Install your distribution's current kernel and reboot.",
               fixes=("example.note",), commands=("sudo apt-get install linux-generic",)),
})


def _major_minor(release: str) -> tuple[int, int] | None:
    parts = release.split(".")
    if len(parts) < 2 or not parts[0].isdigit():
        return None
    minor = parts[1].split("-")[0]
    return (int(parts[0]), int(minor)) if minor.isdigit() else None


class KernelRelease(Check):
    id = "example.kernel_release"
    title = "The kernel is recent enough for current GPU drivers"
    area = Area.KERNEL
    order = 15  # between kernel.driver (10) and the next built-in kernel check
    sentences = SENTENCES

    def applies(self, facts: Facts) -> str | None:
        return None if facts.kernel_release else "the kernel release was not captured"

    def run(self, facts: Facts) -> Result:
        release = facts.kernel_release or ""
        found = self.findings([f"/proc/sys/kernel/osrelease: {release}"])
        version = _major_minor(release)
        if version is not None and version < OLDEST:
            found.say("old", release=release, oldest=f"{OLDEST[0]}.{OLDEST[1]}")
        return found.verdict("ok", release=release)

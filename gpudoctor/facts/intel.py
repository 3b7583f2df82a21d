"""Intel GPU facts: which driver may drive each GPU (i915 or xe), from which kernel on, and
what the kernel said when it refused one.

The families come from PCI device ids (the kernel's own i915/xe id tables), because what
matters is which driver *can* bind: Alchemist (DG2) runs on i915 by default from Linux 6.2
(force_probe before), Battlemage and Lunar Lake only on xe (Battlemage by default from 6.12,
Lunar Lake from 6.11), Meteor Lake on i915 from 6.7. A GPU whose driver refused it for want of
`force_probe` says so in the kernel log, with its device id; that line is the evidence.
Compute inside images (Level Zero, compute-runtime) cannot be judged from the host.
"""

from __future__ import annotations

import re

from gpudoctor import TYPE_CHECKING
from gpudoctor.facts.gpus import kernel_version
from gpudoctor.facts.kernel_log import kernel_log
from gpudoctor.record import record

if TYPE_CHECKING:
    from gpudoctor.facts import Facts
    from gpudoctor.facts.gpus import Gpu


@record(frozen=True)
class IntelFamily:
    """An Intel GPU family and the kernels whose i915 or xe drive it."""

    name: str
    #: first kernel whose i915 binds it without force_probe (None: i915 never supports it)
    i915_since: tuple[int, int] | None
    #: first kernel whose xe binds it without force_probe (None: only with force_probe)
    xe_since: tuple[int, int] | None


ALCHEMIST = IntelFamily("Arc Alchemist (DG2)", (6, 2), None)
BATTLEMAGE = IntelFamily("Arc Battlemage (BMG)", None, (6, 12))
LUNAR_LAKE = IntelFamily("Lunar Lake (Xe2)", None, (6, 11))
METEOR_LAKE = IntelFamily("Meteor Lake (Xe-LPG)", (6, 7), None)
OLDER = IntelFamily("Intel processor graphics (Gen12 or older)", (5, 0), None)

_RANGES: tuple[tuple[int, int, IntelFamily], ...] = (
    (0x5690, 0x56C2, ALCHEMIST),
    (0xE202, 0xE223, BATTLEMAGE),
    (0x6420, 0x6420, LUNAR_LAKE), (0x64A0, 0x64A0, LUNAR_LAKE), (0x64B0, 0x64B0, LUNAR_LAKE),
    (0x7D40, 0x7DD5, METEOR_LAKE),
)

#: i915 (one printk, split over lines by the kernel): "Your graphics device 56a5 is not properly
#: supported by i915 in this / kernel version. To force driver probe anyway, use
#: i915.force_probe=56a5 ..." (older kernels: "by the driver"); xe: "Your graphics device e20b
#: is not officially supported / by xe driver in this kernel version. To force Xe probe, / use
#: xe.force_probe='e20b' and i915.force_probe='!e20b' ...". Only the first line is relied on.
#: (Compiled on first use, case-insensitive: only hosts with an Intel GPU read the log for it.)
FORCE_PROBE_RE = (
    r"(?:\b(?P<prefix>i915|xe) (?P<bdf>[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]):?\s+)?"
    r"Your graphics device (?P<id>[0-9a-f]{4}) is not (?P<how>properly|officially) supported")


def family(device_id: int) -> IntelFamily:
    for low, high, fam in _RANGES:
        if low <= device_id <= high:
            return fam
    return OLDER


@record
class ForceProbeLine:
    """A kernel log line where i915 or xe wanted force_probe for a GPU."""

    device_id: int
    driver: str  # i915 or xe
    line: str


def force_probe_lines(facts: Facts) -> list[ForceProbeLine]:
    """Kernel log lines where i915 or xe refused a GPU for want of force_probe."""
    def compute() -> list[ForceProbeLine]:
        found = []
        for line in kernel_log(facts):
            match = re.search(FORCE_PROBE_RE, line, re.I)
            if not match:
                continue
            prefix = (match.group("prefix") or "").lower()
            driver = prefix or ("xe" if match.group("how").lower() == "officially" else "i915")
            found.append(ForceProbeLine(int(match.group("id"), 16), driver, line.strip()))
        return found

    return facts.memo("intel.force_probe", compute)


def force_probe_param(facts: Facts, driver: str) -> str | None:
    """The force_probe module parameter in effect (sysfs), e.g. "56a5" or "!e20b"."""
    value = facts.host.read_attr(f"/sys/module/{driver}/parameters/force_probe")
    return value or None


def running_kernel(facts: Facts) -> tuple[int, int] | None:
    return kernel_version(facts.kernel_release)


def intel_gpus(facts: Facts) -> list[Gpu]:
    """Selected Intel GPUs, plus any discrete Intel GPU (an Arc card with no driver is still
    the card the person means)."""
    return [g for g in facts.gpus.gpus
            if g.vendor == "intel" and (g.selected or not g.integrated)]

"""kernel.log: what the NVIDIA driver said in this boot's kernel log.

The driver reports its own failures only there: `NVRM: Xid` errors, a GPU that has "fallen off
the bus", "API mismatch" between module and libraries, a GPU that "requires use of the NVIDIA
open kernel modules", "RmInitAdapter failed". Containers only ever see the consequence. The
log comes from `journalctl -k -b` (recorded as `journalctl-kernel`) or `dmesg` (`dmesg`); a
host root without either skips this check. A hit is a warning with its count and last line,
never a guess at more.
"""

from __future__ import annotations

import re

from gpudoctor import TYPE_CHECKING
from gpudoctor.plugin import Area, Check, Result, Say, Sentences, Status

if TYPE_CHECKING:
    from gpudoctor.facts import Facts

ID = "kernel.log"
_XID = re.compile(r"NVRM: Xid \(PCI:([0-9a-fA-F:.]+)\): (\d+)")
SEEN = ("The kernel log of this boot has {count} line(s) saying {meaning}; the last one: "
        "`{last}`.")
XID = ("Look up each Xid number in NVIDIA's Xid catalogue (docs.nvidia.com, \"XID Errors\"); "
       "repeated Xid 48/63/64/79/94/95 mean failing hardware or memory: drain the GPU and have "
       "it checked.")

SENTENCES = Sentences(ID, {
    "ok": Say(Status.PASS, "no NVIDIA driver errors in {lines} kernel log lines",
              "Xid errors, fallen-off-the-bus, API mismatch, open-module and RmInitAdapter "
              "messages were looked for."),
    "xid": Say(Status.WARN, "{count} x {meaning} ({codes})", SEEN, XID),
    "xid_uncoded": Say(Status.WARN, "{count} x {meaning}", SEEN, XID, finding="xid"),
    "fallen_off_bus": Say(
        Status.WARN, "{count} x {meaning}", SEEN,
        "The GPU stopped answering on PCIe (power, cooling or a failing card): reboot; if it "
        "recurs, check power and seating and have it replaced."),
    "api_mismatch": Say(
        Status.WARN, "{count} x {meaning}", SEEN,
        "The libraries and the loaded module are different versions (see "
        "nvidia.driver_mismatch): reboot."),
    "open_modules_required": Say(
        Status.WARN, "{count} x {meaning}", SEEN,
        "Install the NVIDIA open kernel modules (see nvidia.open_modules)."),
    "rm_init_failed": Say(
        Status.WARN, "{count} x {meaning}", SEEN,
        "The driver could not bring a GPU up: read the lines around it (`sudo journalctl -k -b "
        "| grep -B5 RmInitAdapter`); often firmware, power or a GPU the driver version does not "
        "support."),
})


class KernelLog(Check):
    id = ID
    title = "NVIDIA driver errors in the kernel log"
    area = Area.KERNEL
    order = 90
    sentences = SENTENCES

    def applies(self, facts: Facts) -> str | None:
        from gpudoctor.facts.applies import not_an_nvidia_host

        reason = not_an_nvidia_host(facts)
        if reason:
            return reason
        log = facts.nvidia_kernel_log
        if log.source is None:
            if all("was not recorded" in p for p in log.error.split("; ")):
                return "the kernel log was not recorded (neither journalctl-kernel nor dmesg)"
            return "the kernel log cannot be read here: " + log.error
        return None

    def run(self, facts: Facts) -> Result:
        from gpudoctor.facts.nvidia_platform import KERNEL_SIGNALS

        log = facts.nvidia_kernel_log
        found = self.findings()
        found.evidence.append(f"{log.lines} kernel log lines of this boot, from {log.source}")
        for key, meaning, _ in KERNEL_SIGNALS:
            lines = log.hits.get(key)
            if not lines:
                continue
            found.evidence.append(f"{meaning}: {len(lines)} line(s); last: {lines[-1]}")
            codes: dict[str, int] = {}
            for line in lines if key == "xid" else ():
                match = _XID.search(line)
                if match:
                    label = f"Xid {match.group(2)} on PCI:{match.group(1)}"
                    codes[label] = codes.get(label, 0) + 1
            row = key if key != "xid" or codes else "xid_uncoded"
            found.say(row, count=len(lines), meaning=meaning, last=lines[-1],
                      codes=", ".join(f"{k}: {n}x" for k, n in codes.items()))
        result = found.verdict("ok", lines=log.lines)
        keys = set(log.hits)
        if keys and keys <= {"api_mismatch"}:
            from gpudoctor.facts.nvidia_driver import version_mismatch

            if version_mismatch(facts.nvidia_driver):
                result.cause = "nvidia.driver_mismatch"
        elif keys and keys <= {"open_modules_required", "rm_init_failed"}:
            from gpudoctor.facts.nvidia_driver import wrong_flavour_gpus

            if wrong_flavour_gpus(facts)[1]:
                result.cause = "nvidia.open_modules"
        return result

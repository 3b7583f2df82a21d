"""pciids.fresh: which pci.ids the host uses, how old it is, and which GPUs it cannot name.

Names are for people only: gpudoctor never classifies a GPU by its pci.ids name, and a stale
file changes nothing for containers. It only makes `lspci` print `Device 7550` where a person
expects `Radeon RX 9070 XT`, or an old name that points at the wrong product (Debian 12's file
calls 1002:7480 "Navi 33 [Radeon RX 7700S/7600S]", a laptop name for desktop RX 7600s too).
So this check warns at most.
"""

from __future__ import annotations

from datetime import datetime, timezone

from gpudoctor.errors import HostError
from gpudoctor.facts import Facts
from gpudoctor.facts.pciids import PCI_IDS_PATHS
from gpudoctor.plugin import Area, Check, Result

#: A pci.ids older than this misses most GPUs released since.
STALE_DAYS = 365


class PciidsFresh(Check):
    id = "pciids.fresh"
    title = "pci.ids names the GPUs"
    area = Area.HARDWARE
    order = 20

    def run(self, facts: Facts) -> Result:
        db = facts.pci_names
        gpus = facts.gpus.gpus
        why = ("pci.ids only gives lspci and gpudoctor the names people read; gpudoctor never "
               "classifies GPUs by name, so a stale file does not affect containers.")
        if db.path is None:
            return Result.warn(
                "no pci.ids found: lspci shows numbers instead of GPU names",
                details="Looked for " + ", ".join(PCI_IDS_PATHS) + ". " + why,
                evidence=[f"{p}: not found" for p in PCI_IDS_PATHS] + list(db.problems),
                remedy="Install it: `sudo apt install pci.ids` (Debian/Ubuntu) or `sudo dnf "
                       "install hwdata` (Fedora/RHEL), or let gpudoctor fetch it: `sudo "
                       "gpudoctor fix pciids.update`.",
                fixes=["pciids.update"], findings=["pciids.fresh.missing"])
        evidence = [f"{db.path}: Version {db.version or '(none)'}, Date "
                    f"{db.date.strftime('%Y-%m-%d') if db.date else '(none)'}"]
        evidence += list(db.problems)
        warnings: list[str] = []
        date = db.date
        if date is None:
            try:
                st = facts.host.stat(db.path)
            except HostError:
                st = None
            if st is not None and st.mtime > 0:
                date = datetime.fromtimestamp(st.mtime, tz=timezone.utc)
                evidence.append(f"no Date header; file modified {date.strftime('%Y-%m-%d')}")
        now = datetime.fromtimestamp(facts.host.now(), tz=timezone.utc)
        age_days = (now - date).days if date else None
        stale = age_days is not None and age_days > STALE_DAYS
        if date is not None and age_days is not None:
            evidence.append(f"age: {age_days} days on {now.strftime('%Y-%m-%d')} "
                            f"({'older' if stale else 'not older'} than {STALE_DAYS} days)")
            if stale:
                warnings.append(f"{db.path} is {age_days // 365} year(s) old "
                                f"({db.version or date.strftime('%Y-%m-%d')})")
        else:
            warnings.append(f"{db.path} has no Version/Date header: its age is unknown")
        if not db.has_class_section:
            warnings.append(f"{db.path} has no class section: probably truncated")
        unnamed = [g for g in gpus if not g.name]
        fixable = []
        for gpu in unnamed:
            vendor_known = db.vendor_name(gpu.vendor_id) is not None
            if vendor_known:
                fixable.append(gpu)
                evidence.append(f"{gpu.pci} {gpu.ids}: not in this pci.ids (lspci shows "
                                f"`Device {gpu.device_id:04x}`)")
            else:
                evidence.append(f"{gpu.pci} {gpu.ids}: vendor {gpu.vendor_id:04x} is not in "
                                "pci.ids at all (no update names it; the real database lacks "
                                "it too)")
        if fixable:
            warnings.append("it does not name " + ", ".join(f"{g.short_pci} ({g.ids})"
                                                           for g in fixable))
        named = [g for g in gpus if g.name]
        if named:
            evidence += [f"{g.pci} {g.ids}: {g.name}" for g in named]
        if warnings:
            return Result.warn(
                "; ".join(warnings), details=why + " Names come from the first pci.ids found: "
                + ", ".join(PCI_IDS_PATHS) + ".", evidence=evidence,
                remedy=self._remedy(db.path), fixes=["pciids.update"],
                findings=["pciids.fresh.stale_or_incomplete"])
        coverage = ("names every GPU found" if not unnamed else
                    "names every GPU whose vendor the PCI ID database lists")
        return Result.passed(
            f"{db.path} ({db.version or 'no version'}) is {age_days} days old and {coverage}",
            details=why, evidence=evidence)

    @staticmethod
    def _remedy(path: str) -> str:
        if path.startswith("/usr/share/hwdata/"):
            return ("Update the hwdata package that owns it: `sudo dnf upgrade hwdata` (Fedora/"
                    "RHEL), or `sudo gpudoctor fix pciids.update`. Optional: names are cosmetic.")
        return ("Refresh it: `sudo update-pciids` (pciutils; downloads from pci-ids.ucw.cz), or "
                "`sudo gpudoctor fix pciids.update`. Your package manager may replace it on the "
                "next pci.ids/pciutils upgrade. Optional: names are cosmetic.")

"""pciids.fresh: which pci.ids the host uses, how old it is, and which GPUs it cannot name.

Names are for people only: gpudoctor never classifies a GPU by its pci.ids name, and a stale
file changes nothing for containers. It only makes `lspci` print `Device 7550` where a person
expects `Radeon RX 9070 XT`, or an old name that points at the wrong product (Debian 12's file
calls 1002:7480 "Navi 33 [Radeon RX 7700S/7600S]", a laptop name for desktop RX 7600s too).
So this check warns at most.
"""

from __future__ import annotations

from gpudoctor import TYPE_CHECKING
from gpudoctor.plugin import Area, Check, Result, Say, Sentences, Status

if TYPE_CHECKING:
    from typing import Any

    from gpudoctor.facts import Facts

ID = "pciids.fresh"
FIX = "pciids.update"
#: A pci.ids older than this misses most GPUs released since.
STALE_DAYS = 365
WHY = ("pci.ids only gives lspci and gpudoctor the names people read; gpudoctor never "
       "classifies GPUs by name, so a stale file does not affect containers.")
_FROM = WHY + " Names come from the first pci.ids found: {paths}."
_REFRESH = ("Refresh it: `sudo update-pciids` (pciutils; downloads from pci-ids.ucw.cz), or "
            "`sudo gpudoctor fix pciids.update`. Your package manager may replace it on the "
            "next pci.ids/pciutils upgrade. Optional: names are cosmetic.")
#: For a file the hwdata package owns (Fedora, RHEL): its package is what updates it.
_UPGRADE_HWDATA = ("Update the hwdata package that owns it: `sudo dnf upgrade hwdata` (Fedora/"
                   "RHEL), or `sudo gpudoctor fix pciids.update`. Optional: names are cosmetic.")
#: What can be wrong with a pci.ids that exists, by finding key.
_PROBLEMS = {
    "stale": "{path} is {years} year(s) old ({version})",
    "undated": "{path} has no Version/Date header: its age is unknown",
    "truncated": "{path} has no class section: probably truncated",
    "unnamed": "{path} does not name {gpus}",
}


def _rows(hwdata: bool) -> dict[str, Say]:
    """One warning per problem, with the remedy for who owns the file."""
    suffix = "_hwdata" if hwdata else ""
    return {key + suffix: Say(Status.WARN, summary, _FROM,
                              _UPGRADE_HWDATA if hwdata else _REFRESH, (FIX,),
                              finding=key if hwdata else "")
            for key, summary in _PROBLEMS.items()}


SENTENCES = Sentences(ID, {
    "missing": Say(
        Status.WARN, "no pci.ids found: lspci shows numbers instead of GPU names",
        "Looked for {paths}. " + WHY,
        "Install it: `sudo apt install pci.ids` (Debian/Ubuntu) or `sudo dnf install hwdata` "
        "(Fedora/RHEL), or let gpudoctor fetch it: `sudo gpudoctor fix pciids.update`.", (FIX,)),
    **_rows(hwdata=False),
    **_rows(hwdata=True),
    "ok": Say(Status.PASS, "{path} ({version}) is {age_days} days old and names every GPU found",
              WHY),
    "ok_known_vendors": Say(
        Status.PASS, "{path} ({version}) is {age_days} days old and names every GPU whose "
        "vendor the PCI ID database lists", WHY),
})


class PciidsFresh(Check):
    id = ID
    title = "pci.ids names the GPUs"
    area = Area.HARDWARE
    order = 20
    sentences = SENTENCES

    def run(self, facts: Facts) -> Result:
        from datetime import datetime, timezone

        from gpudoctor.errors import HostError
        from gpudoctor.facts.pciids import PCI_IDS_PATHS

        db = facts.pci_names
        gpus = facts.gpus.gpus
        paths = ", ".join(PCI_IDS_PATHS)
        if db.path is None:
            found = self.findings([f"{p}: not found" for p in PCI_IDS_PATHS] + list(db.problems))
            found.say("missing", paths=paths)
            return found.verdict("ok")
        found = self.findings([f"{db.path}: Version {db.version or '(none)'}, Date "
                               f"{db.date.strftime('%Y-%m-%d') if db.date else '(none)'}"])
        evidence = found.evidence
        evidence += list(db.problems)
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
        suffix = "_hwdata" if db.path.startswith("/usr/share/hwdata/") else ""
        values: dict[str, Any] = {"path": db.path, "paths": paths, "age_days": age_days,
                  "version": db.version or (date.strftime("%Y-%m-%d") if date else "no version")}
        if date is not None and age_days is not None:
            stale = age_days > STALE_DAYS
            evidence.append(f"age: {age_days} days on {now.strftime('%Y-%m-%d')} "
                            f"({'older' if stale else 'not older'} than {STALE_DAYS} days)")
            if stale:
                found.say("stale" + suffix, years=age_days // 365, **values)
        else:
            found.say("undated" + suffix, **values)
        if not db.has_class_section:
            found.say("truncated" + suffix, **values)
        unnamed = [g for g in gpus if not g.name]
        fixable = []
        for gpu in unnamed:
            if db.vendor_name(gpu.vendor_id) is not None:
                fixable.append(gpu)
                evidence.append(f"{gpu.pci} {gpu.ids}: not in this pci.ids (lspci shows "
                                f"`Device {gpu.device_id:04x}`)")
            else:
                evidence.append(f"{gpu.pci} {gpu.ids}: vendor {gpu.vendor_id:04x} is not in "
                                "pci.ids at all (no update names it; the real database lacks "
                                "it too)")
        if fixable:
            found.say("unnamed" + suffix, **values,
                      gpus=", ".join(f"{g.short_pci} ({g.ids})" for g in fixable))
        evidence += [f"{g.pci} {g.ids}: {g.name}" for g in gpus if g.name]
        values["version"] = db.version or "no version"
        return found.verdict("ok_known_vendors" if unnamed else "ok", **values)

"""The pci.ids database the host uses: where it is, how old, and the names it gives.

Names are for people only: gpudoctor never classifies a GPU by its pci.ids name.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

from gpudoctor.errors import HostError
from gpudoctor.host.base import Host
from gpudoctor.record import field, record

#: Where distributions keep pci.ids, in the order lspci would find them.
PCI_IDS_PATHS = (
    "/usr/share/misc/pci.ids",
    "/usr/share/hwdata/pci.ids",
    "/var/lib/pciutils/pci.ids",
    "/usr/share/pci.ids",
)

_VERSION_RE = re.compile(r"^#\s*Version:\s*(\S+)", re.M)
_DATE_RE = re.compile(r"^#\s*Date:\s*([0-9-]+(?:\s+[0-9:]+)?)", re.M)


@record
class PciIds:
    """The pci.ids database the host uses: where, version, date."""

    path: str | None
    version: str | None = None
    date: datetime | None = None
    text: str = ""
    size: int = 0
    problems: list[str] = field(default_factory=list)
    has_class_section: bool = False

    def name(self, vendor: int, device: int) -> str | None:
        """The device's name, or None when this pci.ids does not know it."""
        if not self.text:
            return None
        start = self.text.find(f"\n{vendor:04x}  ")
        if start < 0:
            return None
        pos = self.text.find("\n", start + 1)
        needle = f"\t{device:04x}  "
        while pos >= 0:
            nxt = self.text.find("\n", pos + 1)
            line = self.text[pos + 1: nxt if nxt >= 0 else None]
            if line and not line.startswith("\t") and not line.startswith("#"):
                return None  # the next vendor starts: the device is not listed
            if line.startswith(needle):
                return line[len(needle):].strip()
            pos = nxt
        return None

    def vendor_name(self, vendor: int) -> str | None:
        start = self.text.find(f"\n{vendor:04x}  ")
        if start < 0:
            return None
        end = self.text.find("\n", start + 1)
        return self.text[start + 7: end].strip()


def _utc(year: str, month: str, day: str, rest: str = "") -> datetime | None:
    """A UTC datetime from header fields, without datetime.strptime (whose import of
    _strptime and calendar costs more than the rest of the --json path's date handling)."""
    try:
        h, m, sec = (int(p) for p in [*rest.split(":"), "0", "0", "0"][:3]) if rest else (0, 0, 0)
        return datetime(int(year), int(month), int(day), h, m, sec, tzinfo=timezone.utc)
    except ValueError:
        return None


def parse_header(text: str) -> tuple[str | None, datetime | None]:
    head = text[:4096]
    version = _VERSION_RE.search(head)
    date = _DATE_RE.search(head)
    parsed: datetime | None = None
    if date:
        day, _, clock = date.group(1).strip().partition(" ")
        parts = day.split("-")
        if len(parts) == 3:
            parsed = _utc(parts[0], parts[1], parts[2], clock.strip())
    if parsed is None and version:
        parts = version.group(1).split(".")
        if len(parts) == 3:
            parsed = _utc(*parts)
    return (version.group(1) if version else None), parsed


def find_pci_ids(host: Host) -> PciIds:
    """The first pci.ids found on the host, parsed; PciIds(path=None) when there is none."""
    problems: list[str] = []
    for path in PCI_IDS_PATHS:
        try:
            text = host.read_optional(path, 16 * 1024 * 1024)
        except HostError as exc:
            problems.append(f"{path}: {exc.reason}")
            continue
        if text is None:
            continue
        version, date = parse_header(text)
        return PciIds(path=path, version=version, date=date, text="\n" + text, size=len(text),
                      problems=problems, has_class_section="\nC 00" in text or
                      text.startswith("C "))
    return PciIds(path=None, problems=problems)

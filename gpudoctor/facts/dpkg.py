"""dpkg's status database: which packages are installed, at which version, in which state.

One parser for the facts (the toolkit's four packages) and the install fix (every package a
bundle depends on), so both read the database the same way. A status file can be tens of
megabytes; asked for a few names, only their paragraphs are parsed.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from gpudoctor.record import record

DPKG_STATUS = "/var/lib/dpkg/status"


@record
class InstalledPackage:
    """One package as the package database records it."""

    name: str
    version: str | None
    status: str  # dpkg's Status field ("install ok installed"), or "installed" for rpm
    source: str  # "dpkg" or "rpm"

    @property
    def installed(self) -> bool:
        return self.status.endswith(" installed") or self.status == "installed"

    @property
    def half_installed(self) -> bool:
        """Unpacked or half-configured: dpkg stopped in the middle (a failed install)."""
        state = self.status.split()[-1] if self.status else ""
        return state in ("unpacked", "half-configured", "half-installed", "triggers-awaited",
                         "triggers-pending")


def _fields(paragraph: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in paragraph.splitlines():
        key, sep, value = line.partition(":")
        if sep and not line.startswith((" ", "\t")):
            fields[key.strip()] = value.strip()
    return fields


def _paragraphs(text: str, names: Collection[str] | None) -> list[str]:
    if names is None:
        return text.split("\n\n")
    if not names:
        return []
    pattern = re.compile(r"^Package: (" + "|".join(re.escape(n) for n in names) + r")\n",
                         re.MULTILINE)
    found = []
    for match in pattern.finditer(text):
        end = text.find("\n\n", match.start())
        found.append(text[match.start(): end if end >= 0 else len(text)])
    return found


def parse_dpkg_status(text: str | None,
                      names: Collection[str] | None = None) -> dict[str, InstalledPackage]:
    """Package name -> InstalledPackage from a dpkg status file (only `names`, when given).

    Multi-arch copies of one package: the installed one wins."""
    found: dict[str, InstalledPackage] = {}
    for paragraph in _paragraphs(text or "", names):
        fields = _fields(paragraph)
        name = fields.get("Package")
        if not name:
            continue
        pkg = InstalledPackage(name, fields.get("Version"), fields.get("Status", ""), "dpkg")
        previous = found.get(name)
        if previous is None or (pkg.installed and not previous.installed):
            found[name] = pkg
    return found


def installed_version(status: dict[str, InstalledPackage], name: str) -> str | None:
    """The installed version of `name`, or None when it is not (fully) installed."""
    pkg = status.get(name)
    return pkg.version if pkg is not None and pkg.installed else None

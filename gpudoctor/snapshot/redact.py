"""Redaction: hostnames, serial numbers, GPU UUIDs, credentials, replaced consistently."""

from __future__ import annotations

import re
from collections.abc import Iterable

from gpudoctor import TYPE_CHECKING
from gpudoctor.credentials import redact_fields, redact_json_value
from gpudoctor.snapshot.limits import KEPT_ENV

if TYPE_CHECKING:
    from typing import Any

_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)([^\s/?#\"'<>`]*@)")
_GPU_UUID = re.compile(
    r"(?i)\b(GPU|MIG)-([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\b")
#: ROCm's `GPU-<unique_id in hex>` (rocm-smi, amd-smi).
_AMD_GPU_ID = re.compile(r"(?i)\bGPU-([0-9a-f]{16})\b")
_SERIAL_VALUE = re.compile(
    r"(?im)(?<![a-z0-9])(?:board|product|chassis|module|system|gpu)?[ _-]?serial"
    r"(?:[ _-]?(?:number|num|no\.?))?[\"']?[ \t]*[:=][ \t]*[\"']?([^\"'\n,;<>{}\[\]]*)")
_SERIAL_XML = re.compile(r"(?i)<(?:serial|board_serial|serial_number)>([^<]*)</")
_UNIQUE_ID_LINE = re.compile(r"(?im)^(unique_id[ \t]+)(\d+)[ \t]*$")
_UNIQUE_ID_VALUE = re.compile(r"(?i)(unique[ _]?id[ \t]*[:=][ \t]*)(0x[0-9a-f]+|\d+)\b")
#: Files named like this hold nothing but a serial number or a machine's UUID.
SERIAL_FILES = frozenset({"serial", "serial_number", "product_serial", "board_serial",
                          "chassis_serial", "product_uuid", "board_serial_number"})
#: Where the host's firmware keeps its serials (root-only); scrubbed wherever they appear.
DMI_SERIALS = tuple(f"/sys/class/dmi/id/{n}" for n in ("product_serial", "board_serial",
                                                       "chassis_serial", "product_uuid"))
#: Values firmware and tools print instead of a serial.
NOT_SERIALS = frozenset({"", "n/a", "[n/a]", "na", "none", "null", "not specified",
                         "to be filled by o.e.m.", "default string", "unknown",
                         "not available", "not applicable", "system serial number",
                         "chassis serial number", "0123456789", "not supported",
                         "[not supported]", "redacted"})
#: Files where a word equal to the hostname is something else (a user, group, module, package
#: or distribution name); changing it there would change the diagnosis.
HOSTNAME_EXEMPT = frozenset({"/etc/passwd", "/etc/group", "/etc/os-release",
                             "/usr/lib/os-release", "/proc/modules", "/proc/devices",
                             "/var/lib/dpkg/status", "/var/log/dpkg.log"})
#: Names the machine did not choose for itself.
GENERIC_HOSTNAMES = frozenset({"localhost", "localhost.localdomain", "localdomain", "(none)",
                               "docker-desktop", "redacted-hostname"})
#: Stand-ins start with this, so re-capturing a snapshot keeps them as they are.
STAND_IN_UUID = "00000000-0000-0000-0000-"
#: Real unique_ids are 64-bit chip identifiers; small numbers are stand-ins or none.
MIN_UNIQUE_ID = 0x10000
REDACTED = "REDACTED"
REDACTED_HOSTNAME = "REDACTED-HOSTNAME"


def _is_serial(value: str) -> bool:
    """A value worth hiding: a token with a digit, not a placeholder such as `N/A`."""
    value = value.strip()
    if len(value) < 4 or value.lower() in NOT_SERIALS or value.startswith(REDACTED):
        return False
    if any(c.isspace() for c in value) or not any(c.isdigit() for c in value):
        return False
    return len(set(value.replace("-", "").replace(":", ""))) > 1


class Redactor:
    """Finds the host's identities and secrets, and replaces them everywhere consistently."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self.hostnames: set[str] = set()
        self.serials: dict[str, str] = {}
        self.uuids: dict[str, str] = {}
        self.unique_ids: dict[int, int] = {}
        self.found: set[tuple[str, str]] = set()
        self._hostname_re: re.Pattern[str] | None = None
        self._serial_re: re.Pattern[str] | None = None
        self._compiled = False

    # ----- learning -----------------------------------------------------------------------------
    def learn_hostname(self, name: str | None) -> None:
        name = (name or "").strip().rstrip(".")
        if not name or name.lower() in GENERIC_HOSTNAMES or len(name) < 2:
            return
        self.hostnames.add(name)
        short = name.split(".", 1)[0]
        if short != name and len(short) >= 2 and short.lower() not in GENERIC_HOSTNAMES:
            self.hostnames.add(short)

    def learn_serial(self, value: str | None) -> None:
        value = (value or "").strip()
        if _is_serial(value) and value not in self.serials:
            self.serials[value] = f"{REDACTED}-SERIAL-{len(self.serials) + 1}"

    def learn_unique_id(self, value: int) -> None:
        if value >= MIN_UNIQUE_ID and value not in self.unique_ids:
            self.unique_ids[value] = len(self.unique_ids) + 1

    def learn_from_text(self, text: str, name: str = "") -> None:
        """Serials and unique ids a file or an output states about itself."""
        if name in SERIAL_FILES:
            self.learn_serial(text)
        elif name == "unique_id":
            try:
                self.learn_unique_id(int(text.strip(), 16))
            except ValueError:
                pass
        if "erial" in text:
            for match in _SERIAL_VALUE.finditer(text):
                self.learn_serial(match.group(1))
            for match in _SERIAL_XML.finditer(text):
                self.learn_serial(match.group(1))
        if "nique" in text:
            for match in _UNIQUE_ID_LINE.finditer(text):
                self.learn_unique_id(int(match.group(2)))
            for match in _UNIQUE_ID_VALUE.finditer(text):
                raw = match.group(2)
                self.learn_unique_id(int(raw, 16) if raw.lower().startswith("0x") else int(raw))
        for match in _AMD_GPU_ID.finditer(text):
            self.learn_unique_id(int(match.group(1), 16))

    def learn_json(self, value: Any) -> None:
        for text in _strings(value):
            self.learn_from_text(text)

    def _compile(self) -> None:
        """Build the patterns of what was learnt; learning ends with the first replacement."""
        self._compiled = True
        names = sorted(self.hostnames, key=len, reverse=True)
        self._hostname_re = re.compile(
            r"(?i)(?<![A-Za-z0-9_-])(?:" + "|".join(map(re.escape, names)) + r")(?![A-Za-z0-9_-])"
        ) if names else None
        serials = sorted(self.serials, key=len, reverse=True)
        self._serial_re = re.compile(
            r"(?<![A-Za-z0-9])(?:" + "|".join(map(re.escape, serials)) + r")(?![A-Za-z0-9])"
        ) if serials else None

    # ----- replacing ----------------------------------------------------------------------------
    def _gpu_uuid(self, match: re.Match[str], where: str) -> str:
        prefix, key = match.group(1), match.group(2).lower()
        if key.startswith(STAND_IN_UUID):
            return match.group(0)
        if key not in self.uuids:
            self.uuids[key] = f"{STAND_IN_UUID}{len(self.uuids) + 1:012x}"
        return self._hit("GPU UUID", where, f"{prefix}-{self.uuids[key]}")

    def _amd_gpu_id(self, match: re.Match[str], where: str) -> str:
        value = int(match.group(1), 16)
        if value < MIN_UNIQUE_ID:
            return match.group(0)
        return self._hit("GPU UUID", where, f"GPU-{self._unique(value):016x}")

    def _unique(self, value: int) -> int:
        self.learn_unique_id(value)
        return self.unique_ids.get(value, value)

    def text(self, text: str, where: str, name: str = "", hostnames: bool = True) -> str:
        """Redact one text (a file's content, an output, a JSON string)."""
        if not self.enabled or not text:
            return text
        if not self._compiled:
            self._compile()
        out = text
        if "://" in out:
            out = _URL_CREDENTIALS.sub(lambda m: self._creds(m, where), out)
        out = redact_fields(out, lambda: self._hit("credentials", where, ""))
        if "-" in out:
            out = _GPU_UUID.sub(lambda m: self._gpu_uuid(m, where), out)
            out = _AMD_GPU_ID.sub(lambda m: self._amd_gpu_id(m, where), out)
        if name == "unique_id" and out.strip():
            try:
                value = int(out.strip(), 16)
            except ValueError:
                value = 0
            if value >= MIN_UNIQUE_ID:
                width = len(out.strip())
                out = f"{self._unique(value):0{width}x}" + out[len(out.rstrip()):]
                self._hit("serial number", where, "")
        if "unique" in out.lower():
            out = _UNIQUE_ID_LINE.sub(lambda m: self._unique_line(m, where), out)
            out = _UNIQUE_ID_VALUE.sub(lambda m: self._unique_value(m, where), out)
        if self._serial_re is not None:
            out = self._serial_re.sub(lambda m: self._hit("serial number", where,
                                                          self.serials[m.group(0)]), out)
        if hostnames and self._hostname_re is not None:
            out = self._hostname_re.sub(lambda m: self._hit("hostname", where,
                                                            REDACTED_HOSTNAME), out)
        return out

    def _hit(self, what: str, where: str, replacement: str) -> str:
        self.found.add((what, where))
        return replacement

    def _creds(self, match: re.Match[str], where: str) -> str:
        if match.group(2) == f"{REDACTED}@":
            return match.group(0)
        return self._hit("URL credentials", where, f"{match.group(1)}{REDACTED}@")

    def _unique_line(self, match: re.Match[str], where: str) -> str:
        value = int(match.group(2))
        if value < MIN_UNIQUE_ID:
            return match.group(0)
        return self._hit("serial number", where, f"{match.group(1)}{self._unique(value)}")

    def _unique_value(self, match: re.Match[str], where: str) -> str:
        raw = match.group(2)
        is_hex = raw.lower().startswith("0x")
        value = int(raw, 16) if is_hex else int(raw)
        if value < MIN_UNIQUE_ID:
            return match.group(0)
        new = self._unique(value)
        shown = f"0x{new:0{len(raw) - 2}x}" if is_hex else str(new)
        return self._hit("serial number", where, f"{match.group(1)}{shown}")

    def json(self, value: Any, where: str) -> Any:
        """Redact every string (keys included) of a JSON value."""
        if not self.enabled:
            return value
        if isinstance(value, str):
            return self.text(value, where)
        if isinstance(value, list):
            return [self.json(v, where) for v in value]
        if isinstance(value, dict):
            out = {}
            for k, v in value.items():
                secret, v = redact_json_value(str(k), v)
                if secret:
                    self._hit("credentials", where, "")
                out[self.text(str(k), where)] = v if secret else self.json(v, where)
            return out
        return value

    def env_value(self, name: str, value: str, where: str) -> str:
        """Environment values are replaced, except the few that only name paths or endpoints."""
        if not self.enabled:
            return value
        if name not in KEPT_ENV:
            return self._hit("environment value", f"{where} {name}", REDACTED)
        return self.text(value, f"{where} {name}")

    def path(self, path: str, near: str | None = None) -> str:
        """A member name (or a link target beside `near`): identities in it are replaced.

        Hostnames are left alone in the kernel's trees, whose names the kernel chose.
        """
        if not self.enabled:
            return path
        kernel = (near or path).startswith(("/sys/", "/proc/", "/dev/"))
        return self.text(path, near or path, hostnames=not kernel)

    def report(self) -> list[dict[str, str]]:
        return [{"what": what, "where": where} for what, where in sorted(self.found)]


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)

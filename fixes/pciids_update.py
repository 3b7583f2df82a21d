"""pciids.update: download a current pci.ids and replace the host's copy safely.

Names in pci.ids are only for people (gpudoctor never classifies GPUs by them), so this fix
never risks a working setup: it refuses rather than guesses. It downloads over HTTPS with
`requests` (a timeout, a size cap, a progress bar on a terminal), accepts only a complete
pci.ids (its Version header, vendor lines, and the class section that ends the file, so a
truncated download is caught), keeps the old file as a timestamped backup and replaces it
atomically. It refuses where the file is read-only or belongs to a package, because the
package manager would overwrite it at the next upgrade (and its integrity check would flag
it): there the package is the way to update it.
"""

from __future__ import annotations

import os
import re
import sys
import time

from gpudoctor import TYPE_CHECKING, fixer
from gpudoctor.errors import HostError
from gpudoctor.facts import Facts
from gpudoctor.facts.pciids import PCI_IDS_PATHS, parse_header
from gpudoctor.fixer import Log
from gpudoctor.host import safefile
from gpudoctor.host.base import Host
from gpudoctor.plugin import Fix, FixContext, FixFailed, Outcome, Plan, Step, StepKind

if TYPE_CHECKING:
    from typing import Any

DEFAULT_URL = "https://pci-ids.ucw.cz/v2.2/pci.ids"
DEFAULT_MAX_BYTES = 16 * 1024 * 1024
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 30.0
#: The whole download, however the server trickles it (1.5 MB at 5 KB/s takes 300 s).
TOTAL_TIMEOUT = 300.0
_VENDOR_RE = re.compile(r"^[0-9a-f]{4}  \S", re.M)
_CLASS_RE = re.compile(r"^C [0-9a-f]{2}  \S", re.M)


def validate_pci_ids(data: bytes) -> tuple[str | None, str]:
    """(problem or None, Version) for downloaded bytes: a complete pci.ids or a reason."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"it is not UTF-8 text (byte {exc.start})", ""
    version, _ = parse_header(text)
    if not version:
        return "it has no `# Version:` header, so it is not a pci.ids file", ""
    if not _VENDOR_RE.search(text):
        return "it lists no vendors", version
    classes = _CLASS_RE.findall(text)
    if not classes:
        return "it has no class section (`C xx` lines): the download is truncated", version
    if not re.search(r"^C ff  ", text, re.M):
        return ("its class section stops before the last class (`C ff`): the download is "
                "truncated"), version
    if not text.endswith("\n"):
        return "its last line is cut off: the download is truncated", version
    return None, version


def package_owner(facts: Facts, path: str) -> str | None:
    """The package that ships `path` (dpkg or rpm), or None."""
    host = facts.host
    if host.exists("/var/lib/dpkg/status"):
        result = host.run("dpkg-query-S", ["dpkg-query", "-S", path], 15.0)
        if result is not None and result.ok:
            for line in result.stdout.splitlines():
                owner, sep, owned = line.partition(": ")
                if sep and owned.strip() == path and not owner.startswith("diversion"):
                    return f"{owner.strip()} (dpkg)"
    if host.exists("/var/lib/rpm") or host.exists("/usr/lib/sysimage/rpm"):
        result = host.run("rpm-qf", ["rpm", "-qf", path], 15.0)
        if result is not None and result.ok and "not owned" not in result.stdout:
            return f"{result.stdout.strip()} (rpm)"
    return None


def _read_only(host: Host, path: str) -> str | None:
    """Why `path` cannot be replaced in place (read-only mount, mode, folder), or None."""
    folder = os.path.dirname(path) or "."
    if host.read_only_mount(folder):
        return f"{folder} is on a read-only filesystem"
    try:
        st = host.stat(path)
    except HostError:
        st = None
    if st is not None and not st.mode & 0o222:
        return f"{path} has mode {st.mode:04o}: it was made read-only on purpose"
    if host.writable(folder) is False:
        return f"{folder} is not writable"
    return None


def human_bytes(size: int) -> str:
    """412 bytes, 3.4 KiB, 1.2 MiB: a small download never reads `0 / 0 KiB`."""
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KiB"
    return f"{size / (1024 * 1024):.1f} MiB"

class _Progress:
    """A one-line progress bar on stderr, only when stderr is a terminal."""

    def __init__(self, total: int | None):
        self.total = total
        self.enabled = sys.stderr.isatty()
        self.last = 0.0

    def update(self, done: int) -> None:
        if not self.enabled or time.monotonic() - self.last < 0.1:
            return
        self.last = time.monotonic()
        if self.total:
            filled = int(30 * done / self.total)
            sys.stderr.write(f"\r  [{'#' * filled}{'.' * (30 - filled)}] "
                             f"{human_bytes(done)} / {human_bytes(self.total)}")
        else:
            sys.stderr.write(f"\r  {human_bytes(done)}")
        sys.stderr.flush()

    def done(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")
            sys.stderr.flush()


def download(url: str, max_bytes: int, log: Any, timeout: float = READ_TIMEOUT,
             total: float = TOTAL_TIMEOUT) -> bytes:
    """GET url within `total` seconds in all (a server that sends a byte every few seconds
    never trips the per-read `timeout`), with a size cap; gzip bodies are unpacked within it.

    The transfer runs in a daemon thread that this waits for at most `total` seconds; a
    transfer given up on is left to die with the process, having written nothing.
    """
    import threading

    done = threading.Event()
    outcome: dict[str, Any] = {}

    def transfer() -> None:
        try:
            outcome["data"] = _download(url, max_bytes, log, timeout)
        except BaseException as exc:  # handed to the waiting thread
            outcome["error"] = exc
        finally:
            done.set()

    threading.Thread(target=transfer, daemon=True, name="pciids-download").start()
    if not done.wait(total):
        raise FixFailed(f"{url} did not finish sending within {total:g} s (it still sends, but "
                        "too slowly); nothing was changed")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["data"]


def _download(url: str, max_bytes: int, log: Any, timeout: float) -> bytes:
    import requests  # only this fix pays for requests

    try:
        response = requests.get(url, stream=True, timeout=(min(CONNECT_TIMEOUT, timeout), timeout),
                                headers={"User-Agent": "gpudoctor (pciids.update)"})
    except requests.exceptions.Timeout as exc:
        raise FixFailed(f"{url} did not answer within {timeout:g} s") from exc
    except requests.exceptions.RequestException as exc:
        raise FixFailed(f"cannot download {url}: {_short(exc)}") from exc
    with response:
        if response.status_code != 200:
            raise FixFailed(f"{url} answered HTTP {response.status_code} "
                            f"{response.reason or ''}".rstrip())
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        if total is not None and total > max_bytes:
            raise FixFailed(f"{url} is {total} bytes, more than the {max_bytes}-byte cap; "
                            "a pci.ids is about 1.5 MB")
        chunks: list[bytes] = []
        size = 0
        progress = _Progress(total)
        try:
            for chunk in response.iter_content(65536):
                size += len(chunk)
                if size > max_bytes:
                    raise FixFailed(f"{url} sent more than the {max_bytes}-byte cap; stopped "
                                    "(a pci.ids is about 1.5 MB)")
                chunks.append(chunk)
                progress.update(size)
        except requests.exceptions.ConnectionError as exc:
            if "timed out" in str(exc).lower():
                raise FixFailed(f"{url} stopped sending for {timeout:g} s") from exc
            raise FixFailed(f"the download from {url} broke off: {_short(exc)}") from exc
        except requests.exceptions.RequestException as exc:
            raise FixFailed(f"the download from {url} broke off: {_short(exc)}") from exc
        finally:
            progress.done()
    data = b"".join(chunks)
    if data[:2] == b"\x1f\x8b":
        import zlib

        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        data = inflater.decompress(data, max_bytes + 1)
        if len(data) > max_bytes:
            raise FixFailed(f"{url} unpacks to more than the {max_bytes}-byte cap")
    log(f"  downloaded {len(data)} bytes from {url}")
    return data


def _header(data: bytes | None) -> bytes | None:
    """The comment lines at the top (Version, Date): the part of a pci.ids diff people read."""
    if data is None:
        return None
    lines = data.split(b"\n", 40)[:40]
    return b"".join(ln + b"\n" for ln in lines if ln.startswith(b"#"))


def _short(exc: Exception) -> str:
    text = str(exc)
    match = re.search(r"\[Errno -?\d+\] ([^')\]]+)", text)
    return match.group(1) if match else text[:200]


class UpdatePciIds(Fix):
    id = "pciids.update"
    title = "Download a current pci.ids (names of PCI devices)"
    order = 60

    def plan(self, facts: Facts, ctx: FixContext) -> Plan:
        plan = Plan(self.id, self.title)
        host = facts.host
        url = ctx.options.pciids_url or DEFAULT_URL
        if not url.startswith(("https://", "http://")):
            plan.blocked = f"--pciids-url {url}: only http(s) URLs can be downloaded"
            return plan
        path = ctx.options.pciids_path
        if not path:
            try:
                path = facts.pci_names.path
            except HostError:
                path = None
        path = path or PCI_IDS_PATHS[0]
        plan.data.update({"path": path, "url": url,
                          "max_bytes": int(ctx.options.pciids_max_bytes or DEFAULT_MAX_BYTES),
                          "timeout": float(ctx.options.pciids_timeout or READ_TIMEOUT)})
        owner = package_owner(facts, path)
        if owner:
            plan.blocked = (
                f"{path} belongs to the package {owner}: the package manager would overwrite a "
                "downloaded copy at its next upgrade and report the file as modified. Update the "
                "package instead (e.g. `apt-get install --only-upgrade pci.ids` or `dnf upgrade "
                "hwdata`); names are cosmetic, so nothing else breaks meanwhile")
            return plan
        if host.live:
            reason = _read_only(host, path)
            if reason:
                plan.blocked = (f"{reason}; gpudoctor does not remount or chmod to get around "
                                "that, since someone chose it")
                return plan
        current = None
        try:
            current = host.read_optional(path, 64 * 1024 * 1024)
        except HostError as exc:
            plan.blocked = f"cannot read {path}: {exc.reason}"
            return plan
        version, _ = parse_header(current) if current else (None, None)
        if url.startswith("http://"):
            plan.notes.append(f"{url} is plain HTTP: the download is not protected in transit; "
                              "it is checked to be a complete pci.ids before use")
        plan.steps.append(Step(StepKind.COMMAND,
                               f"download {url} with a {plan.data['timeout']:g} s "
                               "timeout "
                               f"and a {plan.data['max_bytes']}-byte cap, and accept it only "
                               "if it is a complete pci.ids (Version header, vendor lines, the "
                               "class section through `C ff`)"))
        was = f"Version {version}" if version else ("no Version header" if current else "")
        plan.steps.append(Step(
            StepKind.WRITE, (f"replace {path} ({was}) atomically, keeping the old file as a "
                      "timestamped backup beside it" if current is not None else
                      f"create {path}") + "; its new content is known only after the download",
            path=path))
        plan.data["old_sha"] = fixer.sha256(current.encode() if current is not None else None)
        plan.data["old_version"] = version
        return plan

    def apply(self, plan: Plan, facts: Facts, ctx: FixContext, log: Log) -> None:
        path, url = plan.data["path"], plan.data["url"]
        if fixer.sha256(safefile.read_current(path)) != plan.data["old_sha"]:
            raise fixer.PlanOutdated(f"{path} changed since the plan was made")
        data = download(url, plan.data["max_bytes"], log, plan.data.get("timeout", READ_TIMEOUT))
        problem, version = validate_pci_ids(data)
        if problem:
            raise FixFailed(f"the file from {url} is not a complete pci.ids: {problem}; "
                            f"{path} was left as it is")
        current = safefile.read_current(path)
        if fixer.sha256(current) != plan.data["old_sha"]:
            raise FixFailed(f"{path} changed during the download; it was left as it is")
        if current == data:
            plan.outcome = Outcome.UNCHANGED
            log(f"  nothing to do: {path} is already identical to {url} (Version {version})")
            return
        old_version = plan.data.get("old_version")
        if old_version and version < old_version:
            raise FixFailed(f"the file from {url} (Version {version}) is older than {path} "
                            f"(Version {old_version}); kept the newer one")
        header = safefile.unified_diff(_header(current), _header(data), path, context=0)
        for line in header.splitlines():
            log(f"    {line}")
        result = safefile.atomic_write(path, data, backup=True)
        fixer.record_write(ctx, self.id, result, data)
        if result.backup:
            log(f"  kept the previous {path} as {result.backup}")
        log(f"  wrote {path}: Version {old_version or 'none'} -> {version}")

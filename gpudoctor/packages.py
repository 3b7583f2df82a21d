"""Package files and bundles: .deb/.rpm metadata, an offline bundle, install order, dpkg's status.

What installing packages from files needs, kept apart from any one fix: reading a package's
name, version and dependencies from the file itself, collecting the packages of a bundle (a
folder or a release tarball, unpacked into a private folder), ordering them by their Depends,
and reading which versions dpkg has installed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

from gpudoctor.errors import UserError
from gpudoctor.fixer import sha256
from gpudoctor.host import changes, safefile
from gpudoctor.host.base import CommandResult
from gpudoctor.record import field, record

MAX_MEMBER = 1024 * 1024 * 1024
#: The largest package file gpudoctor fingerprints (a folder bundle has no MAX_MEMBER cap).
MAX_PACKAGE = 4 * 1024 * 1024 * 1024
PACKAGE_QUERY_TIMEOUT = 30.0
_DEB_NAME = re.compile(r"^(?P<name>[a-z0-9][a-z0-9+.-]+)_(?P<version>[^_]+)_(?P<arch>[^_]+)\.deb$")
_RPM_NAME = re.compile(r"^(?P<name>.+)-(?P<version>[^-]+-[^-]+)\.(?P<arch>[^.]+)\.rpm$")


@record
class Package:
    """One package file of an offline bundle (.deb or .rpm)."""

    name: str
    version: str
    arch: str
    path: str
    kind: str  # "deb" or "rpm"
    depends: list[str] = field(default_factory=list)
    sha: str | None = None


def _from_filename(path: str) -> Package | None:
    base = os.path.basename(path)
    match = _DEB_NAME.match(base) or _RPM_NAME.match(base)
    if not match:
        return None
    kind = "deb" if base.endswith(".deb") else "rpm"
    return Package(match["name"], match["version"], match["arch"], path, kind)


def _dep_names(depends: str) -> list[str]:
    names = []
    for clause in depends.split(","):
        first = clause.split("|")[0].strip()
        name = first.split("(")[0].strip().split(":")[0]
        if name and name not in names:
            names.append(name)
    return names


def read_package(path: str) -> Package:
    """Name, version, architecture and dependencies from the package itself."""
    guess = _from_filename(path)
    if path.endswith(".deb"):
        result = changes.execute(["dpkg-deb", "-f", path, "Package", "Version", "Architecture",
                                  "Depends", "Pre-Depends"], PACKAGE_QUERY_TIMEOUT)
        if not result.missing:
            return _deb_package(path, result, guess)
    if path.endswith(".rpm"):
        result = changes.execute(["rpm", "-qp", "--qf", "%{NAME}\t%{VERSION}-%{RELEASE}\t%{ARCH}\n",
                                  "--requires", path], PACKAGE_QUERY_TIMEOUT)
        lines = result.stdout.splitlines()
        if result.ok and lines and lines[0].count("\t") == 2:
            name, version, arch = lines[0].split("\t")
            deps = [ln.split()[0] for ln in lines[1:] if ln.strip() and not ln.startswith("/")
                    and "(" not in ln.split()[0]]
            return Package(name, version, arch, path, "rpm", deps)
    if guess is None:
        raise UserError(f"{path}: cannot tell which package this is (name it "
                        "NAME_VERSION_ARCH.deb or NAME-VERSION-RELEASE.ARCH.rpm)")
    return guess


def _deb_package(path: str, result: CommandResult, guess: Package | None) -> Package:
    """A Package from `dpkg-deb -f`'s answer (the file name fills in what it lacks)."""
    if not result.ok:
        said = (result.stderr or result.stdout).strip().splitlines()
        reason = ("dpkg-deb did not answer in time" if result.timed_out else
                  said[-1] if said else f"dpkg-deb exited with status {result.returncode}")
        raise UserError(f"{path} is not a readable .deb package: {reason}")
    fields: dict[str, str] = {}
    for line in result.stdout.splitlines():
        key, sep, value = line.partition(": ")
        if sep:
            fields[key] = value.strip()
    deps = ", ".join(v for v in (fields.get("Depends"), fields.get("Pre-Depends")) if v)
    return Package(fields.get("Package", guess.name if guess else ""),
                   fields.get("Version", guess.version if guess else ""),
                   fields.get("Architecture", guess.arch if guess else ""), path, "deb",
                   _dep_names(deps))


def collect_bundle(bundle: str) -> list[Package]:
    """Every .deb/.rpm in the bundle (a tarball is unpacked by host/archive.py's vetted
    extraction into a private temporary folder)."""
    from gpudoctor.host import archive

    path = os.path.abspath(os.path.expanduser(bundle))
    if not os.path.exists(path):
        raise UserError(f"--bundle {bundle}: no such file or folder")
    if not os.path.isdir(path):
        if path.endswith((".deb", ".rpm")):
            raise UserError(f"--bundle {bundle}: a bundle is a folder or the release .tar.gz "
                            "holding the four packages, not a single package")
        if not os.path.isfile(path):  # a FIFO or a device would be read without end
            from gpudoctor.host.regular import describe_kind

            raise UserError(f"--bundle {bundle}: it is {describe_kind(os.stat(path).st_mode)}, "
                            "not a folder or a .tar.gz archive")
        path = archive.unpack(path, changes.remember_scratch, what="--bundle",
                              prefix="gpudoctor-bundle-")
    files: list[str] = []
    seen: set[str] = set()
    for folder, _, names in sorted(os.walk(path)):
        for name in sorted(names):
            full = os.path.join(folder, name)
            if (name.endswith((".deb", ".rpm")) and name not in seen and os.path.isfile(full)
                    and not os.path.islink(full)):
                files.append(full)
                seen.add(name)
    if not files:
        raise UserError(f"--bundle {bundle}: it holds no .deb or .rpm packages")
    packages = [read_package(f) for f in files]
    for pkg in packages:
        pkg.sha = package_sha(pkg.path)
    return packages


def package_sha(path: str) -> str | None:
    """The fingerprint of a bundle's package file, to notice when it changes before installing."""
    return sha256(safefile.read_current(path, MAX_PACKAGE))


def dependency_order(chosen: list[Package], preferred: Sequence[str] = ()) -> list[Package]:
    """Each package after the ones among `chosen` it depends on (`preferred` order on ties)."""
    names = {p.name for p in chosen}
    rank = {n: i for i, n in enumerate(preferred)}
    pending = sorted(chosen, key=lambda p: rank.get(p.name, len(rank)))
    ordered: list[Package] = []
    while pending:
        done = {p.name for p in ordered}
        for pkg in pending:
            if all(d in done or d not in names or d == pkg.name for d in pkg.depends):
                ordered.append(pkg)
                pending.remove(pkg)
                break
        else:
            ordered.extend(pending)
            break
    return ordered

"""nvidia.install_toolkit: from an offline bundle of real .deb packages (built with dpkg-deb),
installed with dpkg into a scratch root (`dpkg --root`), and the online plans per distribution.

The bundle has NVIDIA's release layout, names, versions and Depends, including the -dev, -dbg
and operator-extensions packages the fix must leave out (nvidia-container-stack.md §6 and the
field guide seeds/004). Nothing is installed on the test machine itself: its dpkg database is
compared before and after.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from gpudoctor import fixer
from gpudoctor.errors import UserError
from gpudoctor.facts import Options
from gpudoctor.host.live import LiveHost
from gpudoctor.report import Doctor
from tests.support import debs, nvidia_layer_roots
from tests.support.cli import run_gpudoctor
from tests.support.fix_plan import plan_text, plans_for
from tests.support.hostroot import HostRootBuilder

INSTALL = "nvidia.install_toolkit"
HOST_STATUS = Path("/var/lib/dpkg/status")



def host_status_digest() -> str:
    return hashlib.sha256(HOST_STATUS.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def tarball(tmp_path_factory) -> Path:
    return debs.build_bundle_tarball(tmp_path_factory.mktemp("bundle"))


def plan_install(options: dict) -> tuple[Doctor, fixer.Plan]:
    doctor = Doctor(LiveHost(), Options())
    [plan] = fixer.plan_fixes(doctor, [INSTALL], options)
    return doctor, plan


def names_in(argv: list[str]) -> list[str]:
    return [Path(a).name.split("_")[0] for a in argv if a.endswith(".deb")]


def test_release_tarball_installs_the_four_packages_in_dependency_order(tarball, tmp_path):
    root = debs.seed_dpkg_root(tmp_path / "root")
    digest = host_status_digest()
    doctor, plan = plan_install({"bundle": str(tarball), "install_root": str(root)})
    assert not plan.blocked and not plan.noop
    [step] = plan.steps
    assert step.argv[:3] == ["dpkg", f"--root={root}", "-i"]
    assert names_in(step.argv) == list(debs.NEEDED)
    text = fixer.render_plan([plan])
    assert "libnvidia-container-dev, libnvidia-container1-dbg, " \
           "nvidia-container-toolkit-operator-extensions" in text
    assert "not needed" in text

    lines: list[str] = []
    result = fixer.apply_plans(doctor, [plan], {"bundle": str(tarball),
                                                "install_root": str(root)}, lines.append)
    assert result.ok and result.applied == [INSTALL], (result, lines)
    installed = debs.installed_packages(root)
    for name in debs.NEEDED:
        assert installed[name] == ("install ok installed", "1.17.8-1"), name
    assert not set(debs.EXTRAS) & set(installed)
    log = "\n".join(lines)
    unpacked = [name for name in debs.NEEDED if f"Unpacking {name} " in log]
    assert unpacked == list(debs.NEEDED)
    assert log.index("Unpacking libnvidia-container1 ") < log.index(
        "Unpacking nvidia-container-toolkit (")
    ctk = subprocess.run([str(root / "usr/bin/nvidia-ctk"), "--version"], capture_output=True,
                         text=True, timeout=30)
    assert "NVIDIA Container Toolkit CLI version 1.17.8" in ctk.stdout
    assert (root / "usr/bin/nvidia-container-runtime-hook").is_file()
    assert not (root / "usr/include/nvc.h").exists()  # the -dev package stayed out
    # Nothing outside the scratch root was touched.
    assert host_status_digest() == digest
    assert not Path("/usr/bin/nvidia-container-runtime-hook").exists()

    _, again = plan_install({"bundle": str(tarball), "install_root": str(root)})
    assert again.noop
    assert "already installed" in again.reason


def test_a_bundle_folder_is_ordered_by_depends_not_by_name(tmp_path):
    """In a plain folder the files sort alphabetically (tools before lib1, toolkit before base);
    the install order still follows the packages' Depends."""
    bundle = debs.build_bundle_dir(tmp_path / "bundle", include_extras=False)
    flat = tmp_path / "flat"
    flat.mkdir()
    for deb in bundle.rglob("*.deb"):
        shutil.copy(deb, flat / deb.name)
    root = debs.seed_dpkg_root(tmp_path / "root")
    doctor, plan = plan_install({"bundle": str(flat), "install_root": str(root)})
    assert sorted(names_in(plan.steps[0].argv)) != names_in(plan.steps[0].argv)
    assert names_in(plan.steps[0].argv) == list(debs.NEEDED)
    result = fixer.apply_plans(doctor, [plan], {"install_root": str(root)}, lambda _: None)
    assert result.ok, result


def test_a_bundle_without_one_of_the_four_is_refused(tmp_path):
    bundle = debs.build_bundle_dir(tmp_path / "bundle", skip=("nvidia-container-toolkit-base",))
    root = debs.seed_dpkg_root(tmp_path / "root")
    before = (root / "var/lib/dpkg/status").read_bytes()
    _, plan = plan_install({"bundle": str(bundle), "install_root": str(root)})
    assert "lacks nvidia-container-toolkit-base" in plan.blocked
    assert (root / "var/lib/dpkg/status").read_bytes() == before


def test_packages_of_different_versions_are_refused(tmp_path):
    bundle = debs.build_bundle_dir(tmp_path / "new", include_extras=False,
                                   skip=("libnvidia-container1",))
    old = debs.build_bundle_dir(tmp_path / "old", version="1.17.7", include_extras=False)
    [lib] = old.rglob("libnvidia-container1_*.deb")
    shutil.copy(lib, next(bundle.rglob("*.deb")).parent / lib.name)
    root = debs.seed_dpkg_root(tmp_path / "root")
    _, plan = plan_install({"bundle": str(bundle), "install_root": str(root)})
    assert "do not share one version" in plan.blocked
    assert "libnvidia-container1 1.17.7-1" in plan.blocked


def test_a_dependency_outside_the_bundle_must_already_be_installed(tarball, tmp_path):
    root = debs.seed_dpkg_root(tmp_path / "root")
    (root / "var/lib/dpkg/status").write_text("")  # no libc6
    _, plan = plan_install({"bundle": str(tarball), "install_root": str(root)})
    assert "libnvidia-container1 needs libc6" in plan.blocked


def test_rpm_bundle_on_a_dpkg_host_is_refused(tmp_path):
    bundle = tmp_path / "rpms"
    bundle.mkdir()
    for name in debs.NEEDED:
        (bundle / f"{name}-1.17.8-1.x86_64.rpm").write_bytes(b"\xed\xab\xee\xdb not really")
    root = debs.seed_dpkg_root(tmp_path / "root")
    _, plan = plan_install({"bundle": str(bundle), "install_root": str(root)})
    assert "holds only .rpm ones" in plan.blocked


def test_a_hostile_bundle_is_refused_and_nothing_lands_outside(tarball, tmp_path):
    hostile = tmp_path / "hostile.tar.gz"
    outside = tmp_path / "evil.deb"
    with tarfile.open(tarball) as src, tarfile.open(hostile, "w:gz") as dst:
        for member in src.getmembers():
            dst.addfile(member, src.extractfile(member) if member.isfile() else None)
        for name in ("../evil.deb", str(outside)):
            info = tarfile.TarInfo(name)
            payload = b"not a package"
            info.size = len(payload)
            dst.addfile(info, io.BytesIO(payload))
    root = debs.seed_dpkg_root(tmp_path / "root")
    # The bundle goes through the same vetted extraction as a snapshot: refused as a whole.
    with pytest.raises(UserError, match=r"refusing archive member '\.\./evil\.deb'"):
        plan_install({"bundle": str(hostile), "install_root": str(root)})
    assert not outside.exists()


def test_bad_bundle_paths_are_a_clear_error(tmp_path):
    with pytest.raises(UserError, match="no such file or folder"):
        plan_install({"bundle": str(tmp_path / "missing.tar.gz")})
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"this is not an archive")
    run = run_gpudoctor("fix", INSTALL, "--bundle", junk, "--dry-run")
    assert run.returncode == 2
    assert "it is not a tar archive (plain, gzip, bzip2 or xz)" in run.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    run = run_gpudoctor("fix", INSTALL, "--bundle", empty, "--dry-run")
    assert run.returncode == 2 and "holds no .deb or .rpm packages" in run.stderr


def test_cli_dry_run_with_a_bundle_shows_the_plan_and_installs_nothing(tarball):
    digest = host_status_digest()
    run = run_gpudoctor("fix", INSTALL, "--bundle", tarball, "--dry-run")
    assert "Traceback" not in run.stderr
    out = run.stdout
    assert "install libnvidia-container1, libnvidia-container-tools, " \
           "nvidia-container-toolkit-base, nvidia-container-toolkit 1.17.8-1 together" in out
    assert "dpkg -i " in out and "Dry run: nothing was changed." in out
    assert "Docker must then be restarted, not reloaded" in out
    assert host_status_digest() == digest


# ----- online: NVIDIA's package source per distribution (host roots: shown, never applied) ------
def _root(tmp_path: Path, os_release: str, dpkg: bool) -> Path:
    builder = HostRootBuilder(tmp_path / "root")
    builder.write("/etc/os-release", os_release)
    if dpkg:
        builder.write("/var/lib/dpkg/status", "")
    builder.set_kernel()
    return builder.finish()


def test_ubuntu_gets_the_documented_apt_source(tmp_path):
    root = _root(tmp_path, 'NAME="Ubuntu"\nID=ubuntu\nID_LIKE=debian\nVERSION_ID="24.04"\n'
                 'PRETTY_NAME="Ubuntu 24.04.1 LTS"\n', dpkg=True)
    run = run_gpudoctor("fix", INSTALL, "--root", root)
    out = run.stdout
    assert "+deb [signed-by=/usr/share/keyrings/nvidia-container-toolkit-keyring.gpg] " \
           "https://nvidia.github.io/libnvidia-container/stable/deb/$(ARCH) /" in out
    assert "+#deb [signed-by=/usr/share/keyrings/nvidia-container-toolkit-keyring.gpg] " \
           "https://nvidia.github.io/libnvidia-container/experimental/deb/$(ARCH) /" in out
    assert "--- /dev/null" in out and "+++ /etc/apt/sources.list.d/nvidia-container-toolkit.list" \
        in out
    assert "gpg --dearmor -o /usr/share/keyrings/nvidia-container-toolkit-keyring.gpg" in out
    assert "apt-get install -y nvidia-container-toolkit nvidia-container-toolkit-base " \
           "libnvidia-container-tools libnvidia-container1" in out
    assert "Not applied:" in out and "is not the machine gpudoctor runs on" in out
    assert not (root / "etc/apt/sources.list.d/nvidia-container-toolkit.list").exists()


def test_rocky_gets_the_documented_repo_file(tmp_path):
    root = _root(tmp_path, 'NAME="Rocky Linux"\nID="rocky"\nID_LIKE="rhel centos fedora"\n'
                 'VERSION_ID="9.4"\nPRETTY_NAME="Rocky Linux 9.4 (Blue Onyx)"\n', dpkg=False)
    out = plan_text(root, INSTALL)
    assert "+++ /etc/yum.repos.d/nvidia-container-toolkit.repo" in out
    for line in ("+[nvidia-container-toolkit]",
                 "+baseurl=https://nvidia.github.io/libnvidia-container/stable/rpm/$basearch",
                 "+repo_gpgcheck=1", "+gpgcheck=0",
                 "+gpgkey=https://nvidia.github.io/libnvidia-container/gpgkey",
                 "+[nvidia-container-toolkit-experimental]", "+enabled=0"):
        assert line in out, line
    assert "install -y nvidia-container-toolkit" in out


def test_opensuse_uses_zypper_and_unknown_distributions_get_the_bundle_advice(tmp_path):
    suse = _root(tmp_path / "suse", 'NAME="openSUSE Leap"\nID="opensuse-leap"\n'
                 'ID_LIKE="suse opensuse"\nVERSION_ID="15.6"\n', dpkg=False)
    out = plan_text(suse, INSTALL)
    assert "zypper --non-interactive ar https://nvidia.github.io/libnvidia-container/stable/" \
           "rpm/nvidia-container-toolkit.repo" in out
    arch = _root(tmp_path / "arch", 'NAME="Arch Linux"\nID=arch\n', dpkg=False)
    out = plan_text(arch, INSTALL)
    assert "blocked: NVIDIA publishes no package source for Arch Linux" in out
    assert "--bundle FILE.tar.gz" in out


def test_the_signing_key_is_dearmored_exactly_as_gpg_does(tmp_path):
    """The apt keyring is written without needing gpg on the host: same bytes as gpg's."""
    from gpudoctor.fixes.nvidia_install_toolkit import dearmor

    payload = bytes(range(256)) * 3
    armored = subprocess.run(["gpg", "--enarmor"], input=payload, capture_output=True,
                             check=True, timeout=30).stdout
    assert armored.startswith(b"-----BEGIN PGP ARMORED FILE-----\nComment:")
    by_gpg = subprocess.run(["gpg", "--dearmor"], input=armored, capture_output=True,
                            check=True, timeout=30).stdout
    assert dearmor(armored) == by_gpg == payload
    assert dearmor(payload) == payload  # already binary: kept as it is


# ----- an installed toolkit with known advisories is upgraded; an affected bundle refused -----
def test_install_fix_upgrades_a_toolkit_with_advisories(tmp_path: Path) -> None:
    old = nvidia_layer_roots.toolkit_version(tmp_path / "old", "1.16.1-1")
    out = plan_text(old, INSTALL)
    assert "upgrading nvidia-container-toolkit 1.16.1-1, affected by CVE-2024-0132" in out
    assert "first safe version is 1.17.8" in out
    assert "apt-get install -y" in out
    new = nvidia_layer_roots.toolkit_version(tmp_path / "new", "1.17.8-1")
    fixed = plans_for(new, INSTALL)
    assert "1.17.8-1 is installed, complete and of one version" in fixer.render_plan(fixed)
    assert not any(fixer.is_active(p) for p in fixed)  # `gpudoctor fix`: "Nothing to apply"


def test_an_offline_bundle_that_is_itself_affected_is_refused(tmp_path: Path) -> None:
    """A release bundle of 1.17.3 (real .deb files built with dpkg-deb) would install a toolkit
    with known advisories: refused, naming them and the version to get; nothing installed."""
    bundle = debs.build_bundle_dir(tmp_path / "bundle", version="1.17.3", include_extras=False)
    root = debs.seed_dpkg_root(tmp_path / "root")
    before = (root / "var/lib/dpkg/status").read_bytes()
    doctor = Doctor(LiveHost(), Options())
    [planned] = fixer.plan_fixes(doctor, [INSTALL],
                                 {"bundle": str(bundle), "install_root": str(root)})
    assert "1.17.3-1 is itself affected by" in planned.blocked
    assert "CVE-2025-23359" in planned.blocked and "1.17.8 or newer" in planned.blocked
    assert (root / "var/lib/dpkg/status").read_bytes() == before

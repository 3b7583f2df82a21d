"""The NVIDIA container layer's fixes: planned on host roots (what they would change, shown as
commands and diffs), applied on this host where that is safe here, idempotent.

docker.cgroupfs_driver is also applied to a real dockerd in tests/test_nvidia_layer_docker.py.
The stand-in nvidia-ctk answers `cdi generate` as the real one does on a host without a driver.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fixes.nvidia_dev_char_links import RULE_PATH, rule_text
from tests.support import container_roots as cr
from tests.support import nvidia_layer_roots as nr
from tests.support.cli import run_gpudoctor
from tests.support.standins import standin_dir


@pytest.fixture(autouse=True)
def private_lock(tmp_path, monkeypatch):
    monkeypatch.setenv("GPUDOCTOR_LOCK_FILE", str(tmp_path / "gpudoctor.lock"))


def plan(root: Path, *fix_ids: str) -> str:
    run = run_gpudoctor("fix", *fix_ids, "--root", root, "--dry-run")
    assert run.returncode in (0, 1), run.stderr
    return run.stdout


# ----- nvidia.dev_char_links -------------------------------------------------------------------
def test_dev_char_links_plan_names_each_link_and_the_udev_rule(tmp_path: Path) -> None:
    out = plan(nr.legacy_systemd_exposed(tmp_path / "root"), "nvidia.dev_char_links")
    assert "/dev/char/195:0 -> /dev/nvidia0" in out
    assert "/usr/bin/nvidia-ctk system create-dev-char-symlinks --create-all" in out
    assert f"+++ {RULE_PATH}" in out
    assert ('+ACTION=="add", DEVPATH=="/bus/pci/drivers/nvidia", '
            'RUN+="/usr/bin/nvidia-ctk system create-dev-char-symlinks --create-all"') in out
    assert "recreate them" in out


def test_dev_char_links_with_links_and_rule_in_place_is_a_no_op(tmp_path: Path) -> None:
    r = nr.nvidia_host(tmp_path / "root", links=True)
    r.b.write(RULE_PATH, rule_text("/usr/bin/nvidia-ctk"))
    out = plan(r.finish(), "nvidia.dev_char_links")
    assert "nothing to do:" in out and "is in place" in out


@pytest.mark.machine
def test_dev_char_links_applied_here_writes_the_rule_once(tmp_path: Path) -> None:
    """This machine has no NVIDIA device files: the links need nothing, the rule is written
    (atomically, mode 0644), and a second run changes nothing."""
    ctk_dir = tmp_path / "bin"
    ctk_dir.mkdir()
    (ctk_dir / "nvidia-ctk").write_bytes((standin_dir() / "nvidia-ctk").read_bytes())
    (ctk_dir / "nvidia-ctk").chmod(0o755)
    env = {"PATH": f"{ctk_dir}:{os.environ['PATH']}"}
    rule = Path(RULE_PATH)
    assert not rule.exists(), f"{rule} exists on this machine; the test would overwrite it"
    try:
        run = run_gpudoctor("fix", "nvidia.dev_char_links", "--yes", env=env)
        assert run.returncode == 0, run.stdout + run.stderr
        assert rule.read_text() == rule_text(str(ctk_dir / "nvidia-ctk"))
        assert oct(rule.stat().st_mode & 0o777) == "0o644"
        again = run_gpudoctor("fix", "nvidia.dev_char_links", "--yes", env=env)
        assert again.returncode == 0 and "nothing to do:" in again.stdout
    finally:
        rule.unlink(missing_ok=True)


# ----- nvidia.cdi_regenerate -------------------------------------------------------------------
def _stale_with_generate(root: Path, stdout: str, returncode: int = 0,
                         stderr: str = "") -> Path:
    r = cr.ContainerRoot(root)
    r.toolkit(installed_at=cr.DOCKERD_START - 86400)
    r.system_dockerd()
    r.answers()
    r.driver_libs(cr.DRIVER)
    r.cdi_spec("/etc/cdi/nvidia.yaml", driver=cr.OLD_DRIVER)
    r.b.add_command("nvidia-ctk-cdi-generate", ["/usr/bin/nvidia-ctk", "cdi", "generate"],
                    stdout=stdout, stderr=stderr, returncode=returncode)
    return r.finish()


def test_cdi_regenerate_shows_the_new_spec_as_a_diff_of_the_stale_one(tmp_path: Path) -> None:
    fresh = cr.nvidia_cdi_yaml(cr.DRIVER, 8)
    out = plan(_stale_with_generate(tmp_path / "root", fresh), "nvidia.cdi_regenerate")
    assert "--- /etc/cdi/nvidia.yaml" in out
    assert f"-    hostPath: {cr.LIBDIR}/libcuda.so.{cr.OLD_DRIVER}" in out
    assert f"+    hostPath: {cr.LIBDIR}/libcuda.so.{cr.DRIVER}" in out
    # the check that finds the stale spec offers this fix
    report = run_gpudoctor("--json", "--root", tmp_path / "root").json
    cdi = next(c for c in report["checks"] if c["id"] == "docker.cdi")
    assert cdi["status"] == "fail"
    assert cdi["fixes"] == ["nvidia.cdi_regenerate"]


def test_cdi_regenerate_is_a_no_op_when_the_spec_matches(tmp_path: Path) -> None:
    stale = cr.nvidia_cdi_yaml(cr.OLD_DRIVER, 8)
    out = plan(_stale_with_generate(tmp_path / "root", stale), "nvidia.cdi_regenerate")
    assert "nothing to do:" in out


def test_cdi_regenerate_refuses_when_nvidia_ctk_fails(tmp_path: Path) -> None:
    root = _stale_with_generate(
        tmp_path / "root", "", returncode=1,
        stderr='time="2026-02-13T09:00:00Z" level=error msg="failed to generate CDI spec: '
               'failed to create device CDI specs: failed to initialize NVML: '
               'ERROR_LIBRARY_NOT_FOUND"\n')
    out = plan(root, "nvidia.cdi_regenerate")
    assert "cannot be applied" in out or "blocked" in out.lower()
    assert "ERROR_LIBRARY_NOT_FOUND" in out
    assert "the spec was left as it is" in out


@pytest.mark.machine
def test_cdi_regenerate_on_this_host_without_a_driver_changes_nothing(tmp_path: Path) -> None:
    ctk_dir = tmp_path / "bin"
    ctk_dir.mkdir()
    (ctk_dir / "nvidia-ctk").write_bytes((standin_dir() / "nvidia-ctk").read_bytes())
    (ctk_dir / "nvidia-ctk").chmod(0o755)
    before = {p: p.read_bytes() for d in ("/etc/cdi", "/var/run/cdi") if os.path.isdir(d)
              for p in Path(d).iterdir() if p.is_file()}
    run = run_gpudoctor("fix", "nvidia.cdi_regenerate", "--yes",
                        env={"PATH": f"{ctk_dir}:{os.environ['PATH']}"})
    assert "failed to initialize NVML: ERROR_LIBRARY_NOT_FOUND" in run.stdout
    after = {p: p.read_bytes() for d in ("/etc/cdi", "/var/run/cdi") if os.path.isdir(d)
             for p in Path(d).iterdir() if p.is_file()}
    assert after == before


# ----- nvidia.install_toolkit upgrades an affected toolkit ---------------------------------------
def test_install_fix_upgrades_a_toolkit_with_advisories(tmp_path: Path) -> None:
    out = plan(nr.toolkit_version(tmp_path / "old", "1.16.1-1"), "nvidia.install_toolkit")
    assert "upgrading nvidia-container-toolkit 1.16.1-1, affected by CVE-2024-0132" in out
    assert "first safe version is 1.17.8" in out
    assert "apt-get install -y" in out
    fixed = plan(nr.toolkit_version(tmp_path / "new", "1.17.8-1"), "nvidia.install_toolkit")
    assert "1.17.8-1 is installed, complete and of one version" in fixed
    assert "Nothing to apply" in fixed


# ----- docker.cgroupfs_driver ------------------------------------------------------------------
def test_cgroupfs_plan_splices_exec_opts_and_restarts(tmp_path: Path) -> None:
    out = plan(nr.legacy_systemd_exposed(tmp_path / "root"), "docker.cgroupfs_driver",
               "docker.reload")
    assert '+    "exec-opts": [' in out and '+        "native.cgroupdriver=cgroupfs"' in out
    assert '         "path": "nvidia-container-runtime"' in out  # the person's keys stay
    assert '`"exec-opts": ["native.cgroupdriver=cgroupfs"]`' in out
    assert "the cgroup driver (`exec-opts`) is read only when dockerd starts" in out
    assert "interrupts running containers: yes" in out


def test_cgroupfs_is_refused_for_rootless_docker(tmp_path: Path) -> None:
    out = plan(cr.rootless_docker(tmp_path / "root"), "docker.cgroupfs_driver")
    assert "rootless Docker needs the systemd cgroup driver" in out


def test_an_offline_bundle_that_is_itself_affected_is_refused(tmp_path: Path) -> None:
    """A release bundle of 1.17.3 (real .deb files built with dpkg-deb) would install a toolkit
    with known advisories: refused, naming them and the version to get; nothing installed."""
    from gpudoctor import fixer
    from gpudoctor.facts import Options
    from gpudoctor.host.live import LiveHost
    from gpudoctor.report import Doctor
    from tests.support import debs

    bundle = debs.build_bundle_dir(tmp_path / "bundle", version="1.17.3", include_extras=False)
    root = debs.seed_dpkg_root(tmp_path / "root")
    before = (root / "var/lib/dpkg/status").read_bytes()
    doctor = Doctor(LiveHost(), Options())
    [planned] = fixer.plan_fixes(doctor, ["nvidia.install_toolkit"],
                                 {"bundle": str(bundle), "install_root": str(root)})
    assert "1.17.3-1 is itself affected by" in planned.blocked
    assert "CVE-2025-23359" in planned.blocked and "1.17.8 or newer" in planned.blocked
    assert (root / "var/lib/dpkg/status").read_bytes() == before

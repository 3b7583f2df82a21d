"""nvidia.cdi_regenerate: a stale CDI spec made again with `nvidia-ctk cdi generate`, shown as a
diff of the old spec on host roots (in process); refused, leaving the spec as it is, when
nvidia-ctk fails. On this machine, which has no driver, the stand-in nvidia-ctk answers as the
real one does, and no spec changes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gpudoctor.facts import Options
from gpudoctor.host import open_host
from gpudoctor.plugin import Status
from gpudoctor.report import Doctor
from tests.support import container_roots as cr
from tests.support.cli import run_gpudoctor
from tests.support.fix_plan import plan_text
from tests.support.standins import standin_dir

FIX = "nvidia.cdi_regenerate"



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
    root = _stale_with_generate(tmp_path / "root", fresh)
    out = plan_text(root, FIX)
    assert "--- /etc/cdi/nvidia.yaml" in out
    assert f"-    hostPath: {cr.LIBDIR}/libcuda.so.{cr.OLD_DRIVER}" in out
    assert f"+    hostPath: {cr.LIBDIR}/libcuda.so.{cr.DRIVER}" in out
    # the check that finds the stale spec offers this fix
    doctor = Doctor(open_host(str(root)), Options())
    doctor.run()
    cdi = next(o.result for o in doctor.outcomes if o.id == "docker.cdi")
    assert cdi.status is Status.FAIL
    assert cdi.fixes == [FIX]


def test_cdi_regenerate_is_a_no_op_when_the_spec_matches(tmp_path: Path) -> None:
    stale = cr.nvidia_cdi_yaml(cr.OLD_DRIVER, 8)
    out = plan_text(_stale_with_generate(tmp_path / "root", stale), FIX)
    assert "nothing to do:" in out


def test_cdi_regenerate_refuses_when_nvidia_ctk_fails(tmp_path: Path) -> None:
    root = _stale_with_generate(
        tmp_path / "root", "", returncode=1,
        stderr='time="2026-02-13T09:00:00Z" level=error msg="failed to generate CDI spec: '
               'failed to create device CDI specs: failed to initialize NVML: '
               'ERROR_LIBRARY_NOT_FOUND"\n')
    out = plan_text(root, FIX)
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
    run = run_gpudoctor("fix", FIX, "--yes",
                        env={"PATH": f"{ctk_dir}:{os.environ['PATH']}"})
    assert "failed to initialize NVML: ERROR_LIBRARY_NOT_FOUND" in run.stdout
    after = {p: p.read_bytes() for d in ("/etc/cdi", "/var/run/cdi") if os.path.isdir(d)
             for p in Path(d).iterdir() if p.is_file()}
    assert after == before

"""crio.configure_nvidia_runtime: the nvidia runtime in a crio.conf.d drop-in, planned on a host
root in process; the previous drop-in is kept outside the folder CRI-O reads."""

from __future__ import annotations

from pathlib import Path

from gpudoctor import fixer
from gpudoctor.fixes._toml_runtime import roll_back
from gpudoctor.fixes.crio_configure_nvidia_runtime import ConfigureCrioNvidiaRuntime
from gpudoctor.plugin import FixContext, Plan
from tests.support import engine_roots as er
from tests.support.fix_plan import plan_text

FIX = "crio.configure_nvidia_runtime"



def test_crio_fix_plan_on_a_root_writes_the_dropin(tmp_path: Path) -> None:
    out = plan_text(er.k8s_crio(tmp_path / "root"), FIX)
    assert "+++ /etc/crio/crio.conf.d/99-nvidia.toml" in out
    added = "\n".join(line[1:] for line in out.splitlines()
                      if line.strip().startswith("+") and not line.strip().startswith("+++"))
    assert "runtime_path" in added


def test_crio_dropin_backup_is_kept_outside_the_folder_crio_reads(tmp_path: Path) -> None:
    """CRI-O reads every file of crio.conf.d; a `.bak` beside the drop-in would be applied
    after it. The previous drop-in is kept one folder up, and the rollback journal knows it."""
    conf_d = tmp_path / "crio/crio.conf.d"
    conf_d.mkdir(parents=True)
    dropin = conf_d / "99-nvidia.toml"
    old = b"[crio.runtime.runtimes.nvidia]\nruntime_path = \"/opt/old/runtime\"\n"
    dropin.write_bytes(old)
    new = b"[crio.runtime.runtimes.nvidia]\nruntime_path = \"/usr/bin/nvidia-container-runtime\"\n"
    plan = Plan(FIX, "test",
                data={"dropin": str(dropin), "old_sha": {str(dropin): fixer.sha256(old)}})
    plan.steps.append(fixer.write_step(str(dropin), old, new, "rewrite"))
    options = FixContext()
    log: list[str] = []
    ConfigureCrioNvidiaRuntime().apply(plan, None, options, log.append)  # type: ignore[arg-type]
    assert [p.name for p in conf_d.iterdir()] == ["99-nvidia.toml"]
    assert dropin.read_bytes() == new
    [backup] = [p for p in (tmp_path / "crio").iterdir() if p.is_file()]
    assert backup.name.startswith("99-nvidia.toml.gpudoctor-") and backup.read_bytes() == old
    assert roll_back([str(dropin)], options, log.append)
    assert dropin.read_bytes() == old

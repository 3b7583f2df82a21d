"""nvidia.load_uvm: load nvidia_uvm now and at every boot, shown as a plan first, idempotent.

On host roots (this machine has no NVIDIA driver to load) the plan is shown and nothing is
applied; the apply step writes its modules-load.d file through safefile into a scratch folder;
on this machine itself the fix refuses, because the nvidia module it needs is not loaded.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from gpudoctor import fixer, registry
from gpudoctor.facts import Facts, Options
from gpudoctor.host import open_host
from gpudoctor.plugin import FixContext, Plan
from tests.support import nvidia_roots as nr
from tests.support.cli import run_gpudoctor
from tests.support.fix_plan import plan_text

FIX = "nvidia.load_uvm"



def digest(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        h.update(str(path.relative_to(root)).encode())
        if path.is_file() and not path.is_symlink():
            h.update(path.read_bytes())
    return h.hexdigest()


def tool(b) -> None:
    b.write("/usr/bin/nvidia-modprobe", b"\x7fELF", mode=0o4755)


def plan_for(root: Path) -> Plan:
    fix_cls = registry.load(third_party=False).fixes[FIX]
    return fix_cls().plan(Facts(open_host(str(root)), Options()), {})


def test_the_plan_loads_the_module_and_persists_it_and_changes_nothing(tmp_path):
    root = nr.build(tmp_path / "r", nr.Spec(uvm_loaded=False, uvm_node=False,
                                            toolkit_config=nr.CDI_CONFIG, extra=[tool]))
    before = digest(root)
    run = run_gpudoctor("fix", FIX, "--root", root, "--yes")
    out = run.stdout
    assert "/usr/bin/nvidia-modprobe -u -c=0" in out
    assert "+++ /etc/modules-load.d/nvidia-uvm.conf" in out and "+nvidia-uvm" in out
    assert digest(root) == before  # a host root is never changed
    assert run.returncode != 0


def test_without_nvidia_modprobe_it_uses_modprobe(tmp_path):
    def modprobe(b) -> None:
        b.write("/usr/sbin/modprobe", b"\x7fELF", mode=0o755)

    root = nr.build(tmp_path / "r", nr.Spec(uvm_loaded=False, uvm_node=False,
                                            extra=[modprobe]))
    plan = plan_for(root)
    assert [s.argv for s in plan.steps if s.kind == "command"] == [
        ["/usr/sbin/modprobe", "nvidia_uvm"]]


def test_an_existing_modules_load_file_is_kept_and_extended(tmp_path):
    def existing(b) -> None:
        b.write("/etc/modules-load.d/nvidia-uvm.conf", "# local\nnvidia_peermem\n")

    root = nr.build(tmp_path / "r", nr.Spec(extra=[existing]))
    plan = plan_for(root)
    assert [s.kind for s in plan.steps] == ["write"]  # loaded already: only persistence
    assert plan.steps[0].new_content.startswith(b"# local\nnvidia_peermem\n")
    assert b"\nnvidia-uvm\n" in plan.steps[0].new_content


@pytest.mark.parametrize("line", ["nvidia-uvm", "nvidia_uvm"])
def test_a_host_that_already_has_it_gets_nothing_to_do(tmp_path, line):
    root = nr.build(tmp_path / "r", nr.Spec(extra=[
        lambda b: b.write("/etc/modules", f"# /etc/modules\n{line}\n")]))
    flat = " ".join(plan_text(root, FIX).split())
    assert "nothing to do: nvidia_uvm is loaded, /dev/nvidia-uvm exists, and /etc/modules " \
           "loads it at boot" in flat


def test_apply_writes_the_file_atomically_and_refuses_a_changed_one(tmp_path):
    root = nr.build(tmp_path / "r", nr.Spec())  # loaded, not persisted
    facts = Facts(open_host(str(root)), Options())
    fix = registry.load(third_party=False).fixes[FIX]()
    plan = fix.plan(facts, FixContext())
    target = tmp_path / "etc" / "modules-load.d" / "nvidia-uvm.conf"
    plan.steps[0].path = str(target)
    lines: list[str] = []
    fix.apply(plan, facts, FixContext(), lines.append)
    assert target.read_bytes().endswith(b"\nnvidia-uvm\n")
    assert target.stat().st_mode & 0o777 == 0o644
    target.write_text("changed by someone\n")
    with pytest.raises(fixer.PlanOutdated):
        fix.apply(plan, facts, FixContext(), lines.append)
    assert target.read_text() == "changed by someone\n"


def test_on_this_machine_without_the_nvidia_module_it_refuses(tmp_path):
    modules = Path("/proc/modules")
    loaded = modules.read_text() if modules.exists() else ""
    assert "nvidia " not in loaded, "this test expects a machine without the NVIDIA driver"
    run = run_gpudoctor("fix", FIX, "--yes")
    assert run.returncode == 1
    assert "blocked: the nvidia kernel module is not loaded" in run.stdout
    assert not Path("/etc/modules-load.d/nvidia-uvm.conf").exists()

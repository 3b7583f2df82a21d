"""nvidia.uvm in process, on the NVIDIA host roots of tests/support/nvidia_roots.py: each
finding on the root that gives it, with its fix and commands, and no alarm where something
loads the module on demand."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpudoctor.plugin import Result
from tests.support import nvidia_roots as nr
from tests.support.check_run import run_only

ID = "nvidia.uvm"
LOAD = "sudo nvidia-modprobe -u -c=0"
PERSIST = "echo nvidia-uvm | sudo tee /etc/modules-load.d/nvidia-uvm.conf"


def results(root: Path, *ids: str) -> dict[str, Result]:
    return run_only(root, ID, *ids)


def check(root: Path) -> Result:
    return results(root)[ID]


def _no_toolkit(b) -> None:
    status = (b.root / "var/lib/dpkg/status").read_text().split("\n\n")
    b.write("/var/lib/dpkg/status", "\n\n".join(p for p in status if "container" not in p))
    (b.root / "etc/nvidia-container-runtime/config.toml").unlink()


def test_loaded_with_its_node_passes(tmp_path):
    result = check(nr.build(tmp_path / "r"))
    assert (result.status.value, result.findings) == ("pass", [])
    assert result.summary == "nvidia_uvm is loaded and /dev/nvidia-uvm exists"
    assert "/dev/nvidia-uvm: char 510:0 mode 0666" in result.evidence


def test_loaded_on_demand_by_the_hook_is_no_alarm(tmp_path):
    result = check(nr.build(tmp_path / "r", nr.Spec(uvm_loaded=False, uvm_node=False)))
    assert (result.status.value, result.findings) == ("pass", [])
    assert "load-kmods = true" in result.summary


@pytest.mark.parametrize(("spec", "reason"), [
    (nr.Spec(uvm_loaded=False, uvm_node=False, toolkit_config=nr.CDI_CONFIG,
             extra=[nr.nvidia_modprobe]), 'sets mode = "cdi"'),
    (nr.Spec(uvm_loaded=False, uvm_node=False, toolkit_config=nr.NO_KMODS),
     "sets load-kmods = false"),
    (nr.Spec(uvm_loaded=False, uvm_node=False, extra=[nr.cdi_spec]),
     "NVIDIA CDI specs exist (/etc/cdi/nvidia.yaml)"),
], ids=["cdi_mode", "no_kmods", "cdi_spec"])
def test_missing_where_nothing_loads_it_fails_with_the_fix(tmp_path, spec, reason):
    got = results(nr.build(tmp_path / "r", spec), "devices.nodes")
    result = got[ID]
    assert (result.status.value, result.findings) == ("fail", ["nvidia.uvm.not_loaded"])
    assert reason in result.summary
    assert result.fixes == ["nvidia.load_uvm"]
    assert result.commands == [LOAD, PERSIST]
    nodes = got["devices.nodes"]
    assert nodes.status.value == "warn" and nodes.cause == ID


def test_without_the_toolkit_it_is_a_warning_of_the_same_finding(tmp_path):
    spec = nr.Spec(uvm_loaded=False, uvm_node=False, extra=[_no_toolkit])
    result = check(nr.build(tmp_path / "r", spec))
    assert (result.status.value, result.findings) == ("warn", ["nvidia.uvm.not_loaded"])
    assert result.summary == ("nvidia_uvm is not loaded (the NVIDIA Container Toolkit is not "
                              "installed)")
    assert result.fixes == ["nvidia.load_uvm"] and result.commands == [LOAD, PERSIST]


def test_loaded_without_its_node_asks_to_create_it(tmp_path):
    result = check(nr.build(tmp_path / "r", nr.Spec(uvm_node=False)))
    assert (result.status.value, result.findings) == ("warn", ["nvidia.uvm.node_missing"])
    assert result.fixes == ["nvidia.load_uvm"]
    assert result.commands == [LOAD]
    assert "/dev/nvidia-uvm: does not exist" in result.evidence


def test_a_host_without_the_nvidia_module_skips(tmp_path):
    from tests.support import scenarios as sc

    result = check(sc.build("nvidia_nouveau", tmp_path / "r"))
    assert result.status.value == "skip"

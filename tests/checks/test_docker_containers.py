"""docker.containers in process on host roots: existing containers whose device paths, GPU
requests or runtime no longer fit the host give docker.containers.stale_devices; containers
that fit, and hosts without containers, give none."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.support import container_roots as cr
from tests.support import nvidia_layer_roots as nr
from tests.support.check_run import result_of, verdict

ID = "docker.containers"


def devices(*paths: str) -> dict[str, Any]:
    """An inspect body of `docker run --device PATH ...` (Docker 28)."""
    return {"HostConfig": {"Devices": [
        {"PathOnHost": p, "PathInContainer": p, "CgroupPermissions": "rwm"} for p in paths],
        "DeviceRequests": None, "Runtime": "runc"}}


def amd_desktop(root: Path, containers: dict[str, dict[str, Any]]) -> Path:
    """Two 7900 XTX + Raphael iGPU (renderD128), a system dockerd and these containers."""
    r = cr.ContainerRoot(root, hardware="amd_desktop_two_7900xtx_igpu")
    r.system_dockerd()
    r.answers(containers=containers)
    return r.finish()


def test_reused_containers_mapping_the_igpu_or_a_gone_node(tmp_path: Path) -> None:
    result = result_of(cr.amd_containers_reused(tmp_path / "root"), ID)
    assert verdict(result) == ("warn", ["docker.containers.stale_devices"])
    assert "llm-igpu" in result.summary and "llm-old" in result.summary
    assert "llm-good" not in result.summary
    evidence = "\n".join(result.evidence)
    assert "llm-igpu (exited): --device /dev/dri/renderD128: now belongs to the integrated " \
        "GPU" in evidence
    assert "llm-old (exited): --device /dev/dri/renderD131: the device file no longer exists" \
        in evidence
    assert "llm-good" not in evidence
    assert "docker rm" in result.remedy
    assert result.commands == ["gpudoctor devices"]
    assert "makes ROCm crash or pick the wrong device" in result.details


def test_a_gone_node_alone_does_not_blame_an_igpu(tmp_path: Path) -> None:
    result = result_of(amd_desktop(tmp_path / "root", {
        "llm-old": devices("/dev/kfd", "/dev/dri/renderD131")}), ID)
    assert verdict(result) == ("warn", ["docker.containers.stale_devices"])
    assert "integrated GPU" not in result.details


def test_gpus_containers_the_daemon_cannot_serve(tmp_path: Path) -> None:
    result = result_of(nr.cdi_mode_gpus_used(tmp_path / "root"), ID)
    assert verdict(result) == ("warn", ["docker.containers.stale_devices"])
    assert any("hook refuses" in e for e in result.evidence)


def test_containers_that_fit_pass(tmp_path: Path) -> None:
    result = result_of(amd_desktop(tmp_path / "root", {
        "llm-good": devices("/dev/kfd", "/dev/dri/renderD129", "/dev/dri/renderD130")}), ID)
    assert verdict(result) == ("pass", [])
    assert result.summary == "1 container(s) checked; their GPU mappings fit this host"


def test_no_containers(tmp_path: Path) -> None:
    result = result_of(cr.nvidia_all_good(tmp_path / "root"), ID)
    assert verdict(result) == ("pass", [])
    assert result.summary == "no containers exist"


def test_skips_where_the_daemon_was_not_captured_or_does_not_answer(tmp_path: Path) -> None:
    result = result_of(cr.not_captured(tmp_path / "root"), ID)
    assert verdict(result) == ("skip", [])
    assert "host.json" in result.summary
    down = result_of(cr.daemon_json_trailing_comma(tmp_path / "down"), ID)
    assert verdict(down) == ("skip", [])
    assert down.summary == "the daemon does not answer (see docker.daemon)"


def edit_docker(root: Path, edit) -> Path:
    host_json = root / ".gpudoctor/host.json"
    doc = json.loads(host_json.read_text())
    edit(doc["docker"])
    host_json.write_text(json.dumps(doc))
    return root


def test_a_container_list_that_cannot_be_read_skips(tmp_path: Path) -> None:
    root = edit_docker(cr.nvidia_all_good(tmp_path / "root"),
                       lambda docker: docker.pop("containers"))
    result = result_of(root, ID)
    assert verdict(result) == ("skip", [])
    assert result.summary.startswith("the container list could not be read: ")
    bad = edit_docker(cr.nvidia_all_good(tmp_path / "bad"),
                      lambda docker: docker.update(containers={"Id": "x"}))
    assert result_of(bad, ID).summary == "the daemon's container list is not a list"

"""Engines beyond Docker on host roots, end to end: Podman, containerd under a kubelet and CRI-O
through `gpudoctor --json --root` (schema-validated) as a person runs it: which engine is
judged, the run arguments and snapshots. Each check's findings on these roots are
tested in process in tests/checks/ (test_podman_cdi.py, test_containerd_nvidia_runtime.py,
test_crio_nvidia_runtime.py, test_kubelet_runtime.py, test_engines_present.py), the fix plans in
tests/fixes/ (test_containerd_*.py, test_crio_*.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import tomllib

from tests.support import engine_roots as er
from tests.support.cli import check_of, report_for, run_gpudoctor

DOCKER_CHECKS = ("docker.daemon", "docker.nvidia_runtime", "docker.cdi", "docker.containers")


def engine_names(report: dict) -> list[tuple[str, str | None, bool]]:
    return [(e["name"], e["version"], e["in_use"]) for e in report["engines"]]


# ----- Podman ----------
def test_podman_only_host_is_judged_for_podman_not_docker(tmp_path: Path) -> None:
    report = report_for(er.podman_nvidia(tmp_path / "root"), expect_rc=0)
    assert engine_names(report) == [("podman", "4.3.1", True)]
    assert report["engines"][0]["mode"] == "rootful"
    for check_id in DOCKER_CHECKS:
        check = check_of(report, check_id)
        assert check["status"] == "skip", check
        assert "Docker is not installed on this host" in check["summary"]
        assert "podman 4.3.1" in check["summary"]
    podman = check_of(report, "podman.cdi")
    assert podman["status"] == "pass"
    assert "--device=nvidia.com/gpu=all" in podman["summary"]
    assert report["run_args"] == {"podman": ["--device=nvidia.com/gpu=all"]}
    assert report["docker_run_args"] == []
    assert report["ready"] is True and report["blocking"] == []  # ready for the engine in use
    assert check_of(report, "engines.present")["summary"] == "podman 4.3.1 (in use)"


def test_rootful_podman_gets_numeric_groups_like_docker(tmp_path: Path) -> None:
    root = er.podman_rootless_amd(tmp_path / "root")
    host_json = root / ".gpudoctor/host.json"
    import json

    doc = json.loads(host_json.read_text())
    doc["user"] = {"name": "root", "uid": 0, "gid": 0, "groups": [0]}
    host_json.write_text(json.dumps(doc))
    report = report_for(root)
    args = report["run_args"]["podman"]
    assert args[:2] == ["--device=/dev/kfd", "--device=/dev/dri/renderD128"]
    assert args[2].startswith("--group-add=") and args[2] != "--group-add=keep-groups"


# ----- containerd ----------
def test_kubelet_node_on_containerd_without_nvidia_runtime(tmp_path: Path) -> None:
    report = report_for(er.k8s_containerd17(tmp_path / "root"), expect_rc=1)
    assert engine_names(report) == [("containerd", "1.7.27", True)]
    assert report["engines"][0]["mode"] == "kubelet"
    check = check_of(report, "containerd.nvidia_runtime")
    assert check["status"] == "fail"
    assert check["findings"] == ["containerd.nvidia_runtime.not_declared"]
    assert check["fixes"] == ["containerd.configure_nvidia_runtime", "containerd.restart"]
    assert check["commands"] == [
        "sudo nvidia-ctk runtime configure --runtime=containerd "
        "--config=/etc/containerd/config.toml", "sudo systemctl restart containerd"]
    kubelet = check_of(report, "kubelet.runtime")
    assert kubelet["status"] == "pass"
    assert "containerd" in kubelet["summary"]
    assert any("kubeadm-flags.env" in e for e in kubelet["evidence"])
    for check_id in DOCKER_CHECKS:
        assert check_of(report, check_id)["status"] == "skip"


# ----- snapshots replay the same verdict ----------
@pytest.mark.parametrize("build", [er.podman_nvidia_no_spec, er.k8s_containerd17, er.k8s_crio],
                         ids=["podman", "containerd", "crio"])
def test_snapshot_of_an_engine_root_diagnoses_the_same(tmp_path: Path, build) -> None:
    root = build(tmp_path / "root")
    out = tmp_path / "snap.tar.gz"
    run = run_gpudoctor("snapshot", "--root", root, "-o", out, "--json")
    assert run.returncode == 0, run.stderr
    source, copy = report_for(root), report_for(out)
    for a, b in zip(source["checks"], copy["checks"], strict=True):
        assert (b["id"], b["status"], b["summary"], b["findings"]) == (
            a["id"], a["status"], a["summary"], a["findings"])
    assert copy["engines"] == source["engines"]
    assert copy["run_args"] == source["run_args"]


def test_toml_of_the_roots_parses() -> None:
    for text in (er.CONTAINERD_17_DEFAULT, er.NVIDIA_DROPIN_V2, er.CONTAINERD_2_CONFIG,
                 er.NVIDIA_DROPIN_V3, er.CRIO_CONF, er.CRIO_NVIDIA_DROPIN):
        tomllib.loads(text)


# ----- more of what each engine reads (each check's own rows: tests/checks/) -----------------
def test_containerd_beside_docker_is_left_to_docker_checks(tmp_path: Path) -> None:
    from tests.support import container_roots as cr

    root = cr.nvidia_all_good(tmp_path / "root")
    (root / "usr/bin").mkdir(parents=True, exist_ok=True)
    er.write_into(root, "/usr/bin/containerd", "#!/bin/sh\n", mode=0o755)
    report = report_for(root, expect_rc=0)
    assert [e["name"] for e in report["engines"]] == ["docker", "containerd"]
    assert report["engines"][0]["in_use"] is True
    assert report["engines"][1]["mode"] == "docker"
    check = check_of(report, "containerd.nvidia_runtime")
    assert check["status"] == "skip"
    assert "containerd here runs Docker's containers" in check["summary"]
    assert report["run_args"] == {"docker": ["--gpus=all"]}
    assert report["docker_run_args"] == ["--gpus=all"]


def test_text_report_prints_the_podman_run_arguments(tmp_path: Path) -> None:
    run = run_gpudoctor("check", "--root", er.podman_nvidia(tmp_path / "root"))
    assert run.returncode == 0
    lines = run.stdout.splitlines()
    at = lines.index("podman run arguments for the selected GPUs")
    assert lines[at + 1] == "  podman run --device=nvidia.com/gpu=all IMAGE"
    assert "docker run arguments for the selected GPUs" not in lines
    assert lines[-1] == "[✓] Ready: podman run --device=nvidia.com/gpu=all IMAGE"


def test_unresolvable_cdi_under_podman_points_at_podman_cdi(tmp_path: Path) -> None:
    from gpudoctor.facts import Facts, Options
    from gpudoctor.host import open_host
    from gpudoctor.verify.causes import explain_error

    text = "Error: setting up CDI devices: unresolvable CDI devices nvidia.com/gpu=all"
    podman = Facts(open_host(str(er.podman_nvidia(tmp_path / "podman", version="4.9.3",
                                                  cdi_version="0.7.0"))), Options())
    cause = explain_error(text, podman)
    assert cause is not None and cause.id == "cdi-unresolvable"
    assert cause.checks[0] == "podman.cdi"
    assert "Podman 4.9.3 looked in /etc/cdi, /var/run/cdi" in cause.details
    from tests.support import container_roots as cr

    docker = Facts(open_host(str(cr.nvidia_all_good(tmp_path / "docker"))), Options())
    assert explain_error(text, docker).checks[0] == "docker.cdi"  # type: ignore[union-attr]

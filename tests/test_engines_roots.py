"""Engines beyond Docker on host roots: Podman (rootful, rootless, 4.9 vs 5 with a CDI 0.7.0
spec), containerd 1.7 and 2.x under a kubelet, CRI-O. Each broken host is tested next to the
healthy one, through `gpudoctor --json --root` (schema-validated) as a person runs it."""

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


def test_podman_without_a_spec_fails_with_the_generate_command(tmp_path: Path) -> None:
    report = report_for(er.podman_nvidia_no_spec(tmp_path / "root"), expect_rc=1)
    podman = check_of(report, "podman.cdi")
    assert podman["status"] == "fail"
    assert podman["findings"] == ["podman.cdi.no_spec"]
    assert "unresolvable CDI devices nvidia.com/gpu=all" in podman["details"]
    assert podman["commands"] == ["sudo nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml"]


@pytest.mark.parametrize(("version", "status"), [("4.9.3", "fail"), ("5.2.2", "pass")])
def test_cdi_0_7_0_spec_needs_podman_5_1(tmp_path: Path, version: str, status: str) -> None:
    report = report_for(er.podman_nvidia(tmp_path / "root", version=version,
                                         cdi_version="0.7.0"))
    podman = check_of(report, "podman.cdi")
    assert podman["status"] == status, podman
    if status == "fail":
        assert podman["findings"] == ["podman.cdi.spec_too_new"]
        assert "CDI 0.7.0, which Podman 4.9.3 cannot read" in podman["summary"]
        assert "additionalGids" in podman["details"]
    else:
        assert podman["findings"] == []


def test_legacy_oci_hook_is_a_warning_beside_cdi(tmp_path: Path) -> None:
    report = report_for(er.podman_nvidia(tmp_path / "root", legacy_hook=True))
    podman = check_of(report, "podman.cdi")
    assert podman["status"] == "warn"
    assert podman["findings"] == ["podman.cdi.legacy_hook"]
    assert podman["commands"] == ["sudo rm /usr/share/containers/oci/hooks.d/oci-nvidia-hook.json"]


def test_rootless_podman_keeps_groups_with_crun_and_warns_with_runc(tmp_path: Path) -> None:
    good = report_for(er.podman_rootless_amd(tmp_path / "good"))
    assert good["engines"][0]["mode"] == "rootless"
    assert good["run_args"]["podman"] == ["--device=/dev/kfd", "--device=/dev/dri/renderD128",
                                          "--group-add=keep-groups"]
    assert check_of(good, "podman.cdi")["status"] == "pass"
    bad = report_for(er.podman_rootless_amd(tmp_path / "bad", runtime="runc"))
    podman = check_of(bad, "podman.cdi")
    assert podman["status"] == "warn"
    assert podman["findings"] == ["podman.cdi.keep_groups_needs_crun"]


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


def test_kubelet_node_with_nvidia_as_default_passes(tmp_path: Path) -> None:
    report = report_for(er.k8s_containerd17(tmp_path / "root", "main"), expect_rc=0)
    check = check_of(report, "containerd.nvidia_runtime")
    assert check["status"] == "pass", check
    assert any("SystemdCgroup: runc True, nvidia True" in e for e in check["evidence"])


def test_a_runtime_only_dropin_makes_containerd_1_forget_runc(tmp_path: Path) -> None:
    report = report_for(er.k8s_containerd17(tmp_path / "root", "dropin-only"), expect_rc=1)
    check = check_of(report, "containerd.nvidia_runtime")
    assert check["status"] == "fail"
    assert check["findings"][0] == "containerd.nvidia_runtime.dropin_drops_runtimes"
    assert "runc is lost" in check["summary"]
    assert "/etc/containerd/conf.d/99-nvidia.toml" in check["summary"]


def test_containerd_2_merges_its_dropin_key_by_key(tmp_path: Path) -> None:
    report = report_for(er.k8s_containerd2(tmp_path / "ok"), expect_rc=0)
    check = check_of(report, "containerd.nvidia_runtime")
    assert check["status"] == "pass", check
    assert any("config version 3, CRI plugin `io.containerd.cri.v1.runtime`" in e
               for e in check["evidence"])
    assert any("nvidia (/usr/bin/nvidia-container-runtime), runc (runc); default nvidia" in e
               for e in check["evidence"])
    missing = report_for(er.k8s_containerd2(tmp_path / "bad", dropin=False), expect_rc=1)
    assert check_of(missing, "containerd.nvidia_runtime")["findings"] == [
        "containerd.nvidia_runtime.not_declared"]


# ----- CRI-O and kubelet ----------
def test_crio_node_without_and_with_the_nvidia_dropin(tmp_path: Path) -> None:
    bad = report_for(er.k8s_crio(tmp_path / "bad"), expect_rc=1)
    assert engine_names(bad) == [("cri-o", "1.30.3", True)]
    check = check_of(bad, "crio.nvidia_runtime")
    assert check["findings"] == ["crio.nvidia_runtime.not_declared"]
    assert check["fixes"] == ["crio.configure_nvidia_runtime", "crio.restart"]
    good = report_for(er.k8s_crio(tmp_path / "good", dropin=True))
    check = check_of(good, "crio.nvidia_runtime")
    assert check["status"] == "warn"  # declared, but the device plugin's pods use crun
    assert check["findings"] == ["crio.nvidia_runtime.not_default"]
    assert any("nvidia (/usr/bin/nvidia-container-runtime, from "
               "/etc/crio/crio.conf.d/99-nvidia.toml)" in e for e in check["evidence"])


def test_kubelet_pointing_at_a_runtime_that_is_not_there(tmp_path: Path) -> None:
    root = er.k8s_containerd17(tmp_path / "root", "main")
    flags = root / "var/lib/kubelet/kubeadm-flags.env"
    flags.write_text('KUBELET_KUBEADM_ARGS="--container-runtime-endpoint='
                     'unix:///var/run/crio/crio.sock"\n')
    import json

    doc = json.loads((root / ".gpudoctor/host.json").read_text())
    for proc in doc["processes"]:
        if proc["name"] == "kubelet":
            proc["cmdline"] = [a for a in proc["cmdline"]
                               if not a.startswith("--container-runtime-endpoint")]
    (root / ".gpudoctor/host.json").write_text(json.dumps(doc))
    report = report_for(root, expect_rc=1)
    check = check_of(report, "kubelet.runtime")
    assert check["status"] == "fail"
    assert check["findings"] == ["kubelet.runtime.missing"]
    assert "cri-o, which is not installed" in check["summary"]


# ----- fixes, shown on a root ----------
def test_containerd_fix_plan_on_a_root_shows_the_dropin_and_the_kubernetes_warning(
        tmp_path: Path) -> None:
    root = er.k8s_containerd17(tmp_path / "root")
    before = (root / "etc/containerd/config.toml").read_bytes()
    run = run_gpudoctor("fix", "containerd.configure_nvidia_runtime", "containerd.restart",
                        "--root", root, "--dry-run")
    flat = " ".join(run.stdout.split())
    assert "+++ /etc/containerd/conf.d/99-nvidia.toml" in run.stdout
    assert '+imports = ["/etc/containerd/conf.d/*.toml"]' in run.stdout
    assert "BinaryName = \"/usr/bin/nvidia-container-runtime\"" in run.stdout
    assert "complete `io.containerd.grpc.v1.cri` section" in flat
    assert "Kubernetes node" in flat and "new pods" in flat
    assert "systemctl restart containerd" in flat
    assert (root / "etc/containerd/config.toml").read_bytes() == before
    assert not (root / "etc/containerd/conf.d").exists()


def test_crio_fix_plan_on_a_root(tmp_path: Path) -> None:
    root = er.k8s_crio(tmp_path / "root")
    run = run_gpudoctor("fix", "crio.configure_nvidia_runtime", "crio.restart", "--root", root,
                        "--dry-run")
    assert "+++ /etc/crio/crio.conf.d/99-nvidia.toml" in run.stdout
    added = "\n".join(line[1:] for line in run.stdout.splitlines()
                      if line.strip().startswith("+") and not line.strip().startswith("+++"))
    assert "runtime_path" in added
    assert "systemctl restart crio" in run.stdout


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


# ----- more of what each engine reads --------------------------------------------------------
def _write(root: Path, path: str, text: str, mode: int = 0o644) -> Path:
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    target.chmod(mode)
    return target


def _edit(path: Path, text: str) -> None:
    """Rewrite a config as it was before containerd started (keeps the file's time)."""
    import os

    st = path.stat()
    path.write_text(text)
    os.utime(path, (st.st_atime, st.st_mtime))


def test_podman_reads_specs_from_cdi_spec_dirs_in_containers_conf(tmp_path: Path) -> None:
    root = er.podman_nvidia(tmp_path / "root")
    spec = (root / "etc/cdi/nvidia.yaml").read_text()
    (root / "etc/cdi/nvidia.yaml").unlink()
    _write(root, "/opt/cdi/nvidia.yaml", spec)
    _write(root, "/etc/containers/containers.conf.d/50-cdi.conf",
           '[engine]\ncdi_spec_dirs = ["/opt/cdi"]\n')
    report = report_for(root, expect_rc=0)
    podman = check_of(report, "podman.cdi")
    assert podman["status"] == "pass", podman
    assert any("CDI spec folders: /opt/cdi (cdi_spec_dirs in "
               "/etc/containers/containers.conf.d/50-cdi.conf)" in e for e in podman["evidence"])
    # the same spec in /etc/cdi is not read once cdi_spec_dirs names only /opt/cdi
    (root / "opt/cdi/nvidia.yaml").rename(root / "etc/cdi/nvidia.yaml")
    report = report_for(root, expect_rc=1)
    assert check_of(report, "podman.cdi")["findings"] == ["podman.cdi.no_spec"]


def test_rootless_podman_cannot_read_a_root_only_spec(tmp_path: Path) -> None:
    root = er.podman_nvidia(tmp_path / "root", person_root=False)
    report = report_for(root, expect_rc=0)
    assert report["engines"][0]["mode"] == "rootless"
    assert check_of(report, "podman.cdi")["status"] == "pass"
    (root / "etc/cdi/nvidia.yaml").chmod(0o600)
    report = report_for(root, expect_rc=1)
    podman = check_of(report, "podman.cdi")
    assert podman["findings"] == ["podman.cdi.spec_unreadable"]
    assert podman["commands"] == ["sudo chmod 644 /etc/cdi/nvidia.yaml"]


def test_systemd_cgroup_must_match_runc_and_the_kubelet(tmp_path: Path) -> None:
    root = er.k8s_containerd17(tmp_path / "root", "main")
    config = root / "etc/containerd/config.toml"
    text = config.read_text()
    nvidia_at = text.index("runtimes.nvidia.options]")
    _edit(config, text[:nvidia_at] + text[nvidia_at:].replace("SystemdCgroup = true",
                                                              "SystemdCgroup = false"))
    report = report_for(root, expect_rc=1)
    check = check_of(report, "containerd.nvidia_runtime")
    assert check["findings"] == ["containerd.nvidia_runtime.systemd_cgroup_mismatch",
                                 "containerd.nvidia_runtime.kubelet_cgroup_mismatch"]
    assert "SystemdCgroup is True for runc but False for nvidia" in check["summary"]


def test_a_disabled_cri_plugin_on_a_kubelet_node(tmp_path: Path) -> None:
    root = er.k8s_containerd17(tmp_path / "root", "main")
    config = root / "etc/containerd/config.toml"
    _edit(config, config.read_text().replace("disabled_plugins = []",
                                             'disabled_plugins = ["cri"]'))
    check = check_of(report_for(root, expect_rc=1), "containerd.nvidia_runtime")
    assert check["findings"] == ["containerd.nvidia_runtime.cri_disabled"]


def test_config_changed_after_containerd_started_needs_a_restart(tmp_path: Path) -> None:
    import os

    root = er.k8s_containerd17(tmp_path / "root", "main")
    config = root / "etc/containerd/config.toml"
    later = er.STARTED + 3600
    os.utime(config, (later, later))
    check = check_of(report_for(root), "containerd.nvidia_runtime")
    assert check["status"] == "warn"
    assert check["findings"] == ["containerd.nvidia_runtime.restart_needed"]
    assert check["fixes"] == ["containerd.restart"]


def test_containerd_beside_docker_is_left_to_docker_checks(tmp_path: Path) -> None:
    from tests.support import container_roots as cr

    root = cr.nvidia_all_good(tmp_path / "root")
    (root / "usr/bin").mkdir(parents=True, exist_ok=True)
    _write(root, "/usr/bin/containerd", "#!/bin/sh\n", mode=0o755)
    report = report_for(root, expect_rc=0)
    assert [e["name"] for e in report["engines"]] == ["docker", "containerd"]
    assert report["engines"][0]["in_use"] is True
    assert report["engines"][1]["mode"] == "docker"
    check = check_of(report, "containerd.nvidia_runtime")
    assert check["status"] == "skip"
    assert "containerd here runs Docker's containers" in check["summary"]
    assert report["run_args"] == {"docker": ["--gpus=all"]}
    assert report["docker_run_args"] == ["--gpus=all"]


def test_podman_before_4_1_has_no_cdi(tmp_path: Path) -> None:
    report = report_for(er.podman_nvidia(tmp_path / "root", version="3.4.4"), expect_rc=1)
    podman = check_of(report, "podman.cdi")
    assert podman["findings"] == ["podman.cdi.too_old"]
    assert "stat nvidia.com/gpu=all: no such file or directory" in podman["details"]


def test_containerd_2_fix_plan_writes_only_the_runtime(tmp_path: Path) -> None:
    root = er.k8s_containerd2(tmp_path / "root", dropin=False)
    run = run_gpudoctor("fix", "containerd.configure_nvidia_runtime", "--root", root,
                        "--dry-run")
    added = [line.strip()[1:] for line in run.stdout.splitlines()
             if line.strip().startswith("+") and not line.strip().startswith("+++")]
    assert "version = 3" in added
    assert '[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.nvidia]' in added
    assert not any("runtimes.runc" in line for line in added)  # version 3 merges key by key
    # config.toml already imports conf.d/*.toml: only the drop-in is written
    assert "+++ /etc/containerd/config.toml" not in run.stdout


def test_text_report_prints_the_podman_run_arguments(tmp_path: Path) -> None:
    run = run_gpudoctor("check", "--root", er.podman_nvidia(tmp_path / "root"))
    assert run.returncode == 0
    lines = run.stdout.splitlines()
    at = lines.index("podman run arguments for the selected GPUs")
    assert lines[at + 1] == "  podman run --device=nvidia.com/gpu=all IMAGE"
    assert "docker run arguments for the selected GPUs" not in lines
    assert lines[-1] == "[✓] Ready: podman run --device=nvidia.com/gpu=all IMAGE"


def test_toolkit_dropins_in_folders_the_engine_never_reads(tmp_path: Path) -> None:
    """Toolkit 1.18.0 wrote containerd's drop-in to config.d (not imported) and 1.18 - 1.19.0
    CRI-O's to /etc/crio/conf.d (never read): declared, yet absent."""
    root = er.k8s_containerd17(tmp_path / "ctd")
    _write(root, "/etc/containerd/config.d/99-nvidia.toml", er.NVIDIA_DROPIN_V2)
    check = check_of(report_for(root, expect_rc=1), "containerd.nvidia_runtime")
    assert check["findings"] == ["containerd.nvidia_runtime.dropin_not_imported"]
    assert "/etc/containerd/config.d/99-nvidia.toml" in check["summary"]
    root = er.k8s_crio(tmp_path / "crio")
    _write(root, "/etc/crio/conf.d/99-nvidia.toml", er.CRIO_NVIDIA_DROPIN)
    check = check_of(report_for(root, expect_rc=1), "crio.nvidia_runtime")
    assert check["findings"] == ["crio.nvidia_runtime.dropin_ignored"]
    assert check["commands"][0] == "sudo mv /etc/crio/conf.d/99-nvidia.toml /etc/crio/crio.conf.d/"


def test_crio_reads_every_file_in_its_dropin_folder(tmp_path: Path) -> None:
    root = er.k8s_crio(tmp_path / "root", dropin=True)
    _write(root, "/etc/crio/crio.conf.d/99-nvidia.toml.bak", "[crio.runtime]\n")
    check = check_of(report_for(root), "crio.nvidia_runtime")
    assert "crio.nvidia_runtime.leftover_file" in check["findings"]
    assert any("/etc/crio/crio.conf.d/99-nvidia.toml.bak: read" in e for e in check["evidence"])


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

"""The container stack checks on host roots: the Docker setups this machine cannot have.

Each test builds a root (tests/support/container_roots.py), runs `gpudoctor --json --root` as
a person would, validates the report against the schema, and asserts the status, the offered
fixes and that the explanation names the file or the cause.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import yaml

from tests.support import container_roots as cr
from tests.support.cli import check_of, report_for, run_gpudoctor

CONTAINER_CHECKS = ("docker.daemon", "nvidia.toolkit", "docker.nvidia_runtime", "docker.cdi",
                    "docker.containers")


def test_everything_in_place_passes_and_gives_gpus_all(tmp_path: Path) -> None:
    report = report_for(cr.nvidia_all_good(tmp_path / "root"))
    for check_id in CONTAINER_CHECKS[:-1]:
        check = check_of(report, check_id)
        assert check["status"] == "pass", check
        assert check["fixes"] == []
    assert check_of(report, "docker.containers")["summary"] == "no containers exist"
    assert report["docker_run_args"] == ["--gpus=all"]
    daemon = check_of(report, "docker.daemon")
    assert "/etc/docker/daemon.json" in daemon["summary"]
    assert any(line.startswith("dockerd: pid 1423") for line in daemon["evidence"])
    cdi = check_of(report, "docker.cdi")
    assert "nvidia.com/gpu=all" in cdi["summary"]


def test_snap_docker_reads_its_own_file_not_the_edited_etc_one(tmp_path: Path) -> None:
    report = report_for(cr.snap_docker_etc_edited(tmp_path / "root"))
    daemon = check_of(report, "docker.daemon")
    assert daemon["status"] == "pass"
    assert "the Docker snap" in daemon["summary"]
    assert "/var/snap/docker/3265/config/daemon.json" in daemon["summary"]
    assert any("dockerd runs from /snap/docker/3265/bin/dockerd" in e for e in daemon["evidence"])
    runtime = check_of(report, "docker.nvidia_runtime")
    assert runtime["status"] == "fail"
    assert runtime["fixes"] == ["docker.configure_nvidia_runtime", "docker.reload"]
    assert "/etc/docker/daemon.json" in runtime["summary"]
    assert "does not read" in runtime["summary"]
    assert "reads /var/snap/docker/3265/config/daemon.json" in runtime["details"]
    assert "--config=/var/snap/docker/3265/config/daemon.json" in runtime["remedy"]
    assert "snap restart docker" in runtime["remedy"]


def test_rootless_docker_reads_home_config_and_needs_no_cgroups(tmp_path: Path) -> None:
    report = report_for(cr.rootless_docker(tmp_path / "root"))
    daemon = check_of(report, "docker.daemon")
    assert daemon["status"] == "pass"
    assert "rootless Docker" in daemon["summary"]
    assert "unix:///run/user/1000/docker.sock" in daemon["summary"]
    assert "/home/alice/.config/docker/daemon.json" in daemon["summary"]
    assert any("name=rootless" in e for e in daemon["evidence"])
    runtime = check_of(report, "docker.nvidia_runtime")
    assert runtime["status"] == "fail"
    assert runtime["fixes"] == ["nvidia.rootless_no_cgroups"]
    assert "no-cgroups = true" in runtime["summary"]
    assert "/etc/nvidia-container-runtime/config.toml" in runtime["details"]
    assert "bpf_prog_query" in runtime["details"]


def test_rootless_docker_with_no_cgroups_passes(tmp_path: Path) -> None:
    report = report_for(cr.rootless_docker(tmp_path / "root", no_cgroups=True))
    runtime = check_of(report, "docker.nvidia_runtime")
    assert runtime["status"] == "pass", runtime
    assert "/home/alice/.config/docker/daemon.json" in runtime["summary"]


def test_docker_desktop_is_named_and_the_vm_explained(tmp_path: Path) -> None:
    report = report_for(cr.docker_desktop(tmp_path / "root"))
    daemon = check_of(report, "docker.daemon")
    assert daemon["status"] == "fail"
    assert "Docker Desktop" in daemon["summary"]
    assert "virtual machine" in daemon["details"]
    assert "cannot give that VM the GPU" in daemon["details"]
    assert "docker context use default" in daemon["remedy"]
    assert any("desktop" in e for e in daemon["evidence"])
    for check_id in ("nvidia.toolkit", "docker.nvidia_runtime"):
        check = check_of(report, check_id)
        assert check["status"] == "skip"
        assert "VM" in check["summary"]


def test_daemon_json_with_trailing_comma_means_docker_is_down(tmp_path: Path) -> None:
    root = cr.daemon_json_trailing_comma(tmp_path / "root")
    report = report_for(root, expect_rc=1)
    daemon = check_of(report, "docker.daemon")
    assert daemon["status"] == "fail"
    assert daemon["summary"].startswith("Docker is not running")
    assert "/etc/docker/daemon.json" in daemon["summary"]
    assert "a trailing comma at line 7, column 6" in daemon["summary"]
    # dockerd's own verdict, from `dockerd --validate`
    assert "invalid character '}' looking for beginning of object key string" in daemon["details"]
    assert "dockerd refuses to start at all" in daemon["details"]
    assert "sudo systemctl restart docker" in daemon["remedy"]
    assert daemon["fixes"] == []
    runtime = check_of(report, "docker.nvidia_runtime")
    assert runtime["status"] == "skip"
    assert "cannot be parsed" in runtime["summary"]


def test_toolkit_installed_after_the_daemon_started_offers_a_restart(tmp_path: Path) -> None:
    report = report_for(cr.toolkit_installed_after_daemon(tmp_path / "root"))
    toolkit = check_of(report, "nvidia.toolkit")
    assert toolkit["status"] == "fail"
    assert toolkit["fixes"] == ["docker.reload"]
    assert "installed after dockerd started" in toolkit["summary"]
    assert "/var/lib/dpkg/info/nvidia-container-toolkit.list" in toolkit["details"]
    assert "could not select device driver" in toolkit["details"]
    assert "2026-02-11 09:33:00 UTC" in toolkit["details"]  # dockerd's start
    assert "2026-02-11 10:33:00 UTC" in toolkit["details"]  # the install, an hour later
    assert "sudo systemctl restart docker" in toolkit["remedy"]
    # --gpus is what works once Docker restarts; the runtime is no alternative here
    runtime = check_of(report, "docker.nvidia_runtime")
    assert runtime["status"] == "fail"
    assert runtime["fixes"] == ["docker.configure_nvidia_runtime", "docker.reload"]
    assert report["docker_run_args"] == ["--gpus=all"]


def test_toolkit_upgraded_in_place_after_start_still_works(tmp_path: Path) -> None:
    report = report_for(cr.toolkit_installed_after_daemon(tmp_path / "root", upgrade=True))
    toolkit = check_of(report, "nvidia.toolkit")
    assert toolkit["status"] == "pass", toolkit
    assert any("upgrade 1.17.7-1 -> 1.17.8-1" in e for e in toolkit["evidence"])


def test_mismatched_toolkit_package_versions(tmp_path: Path) -> None:
    report = report_for(cr.toolkit_versions_mismatched(tmp_path / "root"))
    toolkit = check_of(report, "nvidia.toolkit")
    assert toolkit["status"] == "fail"
    assert toolkit["fixes"] == ["nvidia.install_toolkit"]
    assert "different versions" in toolkit["summary"]
    assert "nvidia-container-toolkit 1.18.0-1" in toolkit["details"]
    assert "libnvidia-container1 1.17.8-1" in toolkit["details"]
    assert "exact same version" in toolkit["details"]
    assert "nvidia-container-toolkit=$V" in toolkit["remedy"]


def test_toolkit_missing_is_the_field_guide_error(tmp_path: Path) -> None:
    report = report_for(cr.toolkit_missing(tmp_path / "root"))
    toolkit = check_of(report, "nvidia.toolkit")
    assert toolkit["status"] == "fail"
    assert toolkit["fixes"] == ["nvidia.install_toolkit"]
    assert 'could not select device driver "nvidia" with capabilities: [[gpu]]' in \
        toolkit["details"]
    assert "nvidia-ctk runtime configure" not in toolkit["remedy"]
    assert "dpkg -i libnvidia-container1_" in toolkit["remedy"]
    assert "sudo apt-get install -y nvidia-container-toolkit" in toolkit["remedy"]


def test_stale_cdi_spec_after_a_driver_upgrade(tmp_path: Path) -> None:
    report = report_for(cr.stale_cdi_spec(tmp_path / "root"))
    cdi = check_of(report, "docker.cdi")
    assert cdi["status"] == "fail"
    assert "/etc/cdi/nvidia.yaml" in cdi["summary"]
    assert "stale" in cdi["summary"]
    assert "535.161.07" in cdi["details"]
    assert "580.95.05" in cdi["details"]
    assert "/usr/lib/x86_64-linux-gnu/libcuda.so.535.161.07" in cdi["details"]
    assert "nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml" in cdi["remedy"]
    # the hook still works, so --gpus stays the answer
    assert report["docker_run_args"] == ["--gpus=all"]


def test_cdi_is_the_way_when_only_toolkit_base_is_installed(tmp_path: Path) -> None:
    report = report_for(cr.cdi_only(tmp_path / "root"))
    assert report["docker_run_args"] == ["--device=nvidia.com/gpu=all"]
    assert check_of(report, "docker.cdi")["status"] == "pass"
    toolkit = check_of(report, "nvidia.toolkit")
    assert toolkit["status"] == "warn"
    assert "CDI works" in toolkit["summary"]


def test_docker_29_2_maps_gpus_to_cdi(tmp_path: Path) -> None:
    report = report_for(cr.cdi_only(tmp_path / "root", docker_version="29.2.0"))
    assert report["docker_run_args"] == ["--gpus=all"]


def test_runtime_args_only_where_the_runtime_is_loaded(tmp_path: Path) -> None:
    r = cr.ContainerRoot(tmp_path / "root")
    r.toolkit(installed_at=cr.DOCKERD_START - 86400)
    r.b.write("/etc/docker/daemon.json", '{"runtimes": {"nvidia": {"path": '
              '"/usr/bin/nvidia-container-runtime"}}}\n')
    # a unit that sets its own PATH without /usr/bin: dockerd never sees the hook
    r.system_dockerd(env_path="/usr/local/sbin:/usr/sbin:/sbin")
    info = cr.docker_info()
    info["Runtimes"]["nvidia"] = {"path": "/usr/bin/nvidia-container-runtime"}
    r.answers(info)
    report = report_for(r.finish())
    assert report["docker_run_args"] == ["--runtime=nvidia", "--env=NVIDIA_VISIBLE_DEVICES=all"]
    toolkit = check_of(report, "nvidia.toolkit")
    assert toolkit["status"] == "fail"
    assert "not on dockerd's PATH" in toolkit["summary"]
    assert "/usr/local/sbin:/usr/sbin:/sbin" in toolkit["details"]
    assert "ln -s /usr/bin/nvidia-container-runtime-hook" in toolkit["remedy"]
    assert check_of(report, "docker.nvidia_runtime")["status"] == "pass"


def test_root_without_docker_capture_skips_what_needs_the_daemon(tmp_path: Path) -> None:
    report = report_for(cr.not_captured(tmp_path / "root"))
    for check_id in ("docker.daemon", "docker.containers"):
        check = check_of(report, check_id)
        assert check["status"] == "skip"
        assert "host.json" in check["summary"]
    runtime = check_of(report, "docker.nvidia_runtime")
    assert runtime["status"] == "skip"
    assert "/etc/docker/daemon.json declares it" in runtime["summary"]
    assert check_of(report, "nvidia.toolkit")["status"] == "pass"


def test_reused_containers_mapping_the_igpu_or_a_gone_node(tmp_path: Path) -> None:
    report = report_for(cr.amd_containers_reused(tmp_path / "root"))
    containers = check_of(report, "docker.containers")
    assert containers["status"] == "warn"
    assert "llm-igpu" in containers["summary"] and "llm-old" in containers["summary"]
    assert "llm-good" not in containers["summary"]
    evidence = "\n".join(containers["evidence"])
    assert "llm-igpu (exited): --device /dev/dri/renderD128: now belongs to the integrated GPU" \
        in evidence
    assert "llm-old (exited): --device /dev/dri/renderD131: the device file no longer exists" \
        in evidence
    assert "llm-good" not in evidence
    assert "docker rm" in containers["remedy"]
    for check_id in ("nvidia.toolkit", "docker.nvidia_runtime"):
        assert check_of(report, check_id)["status"] == "skip"


def test_text_report_names_the_snap_file(tmp_path: Path) -> None:
    root = cr.snap_docker_etc_edited(tmp_path / "root")
    run = run_gpudoctor("check", "--root", root, "-v")
    assert run.returncode == 1
    assert "/var/snap/docker/3265/config/daemon.json" in run.stdout
    assert "docker.configure_nvidia_runtime" in run.stdout


def test_person_outside_the_docker_group_is_warned_when_root_reached_it(tmp_path: Path) -> None:
    r = cr.ContainerRoot(tmp_path / "root")
    r.b.set_user("alice", 1000, 1000, [1000, 27])  # sudo, but not docker
    r.toolkit(installed_at=cr.DOCKERD_START - 86400)
    r.system_dockerd()
    r.answers()
    root = r.finish()
    socket = root / "var/run/docker.sock"
    socket.parent.mkdir(parents=True, exist_ok=True)
    socket.write_bytes(b"")
    socket.chmod(0o660)
    os.chown(socket, 0, 988)  # root:docker, as dockerd leaves it
    daemon = check_of(report_for(root), "docker.daemon")
    assert daemon["status"] == "warn"
    assert daemon["summary"] == "alice cannot use the Docker socket without sudo"
    assert "`docker` (GID 988) with mode 0660" in daemon["details"]
    assert "sudo usermod -aG docker alice" in daemon["remedy"]


def test_remote_daemon_is_described_not_configured(tmp_path: Path) -> None:
    r = cr.ContainerRoot(tmp_path / "root")
    r.toolkit(installed_at=cr.DOCKERD_START - 86400)
    r.answers()
    r.b.set_host_json(env={"DOCKER_HOST": "tcp://10.0.0.5:2375", "HOME": "/home/alice"})
    report = report_for(r.finish())
    daemon = check_of(report, "docker.daemon")
    assert daemon["status"] == "pass"
    assert "a remote daemon" in daemon["summary"]
    assert "runs on another machine" in daemon["details"]
    runtime = check_of(report, "docker.nvidia_runtime")
    assert runtime["status"] == "skip"
    assert "tcp://10.0.0.5:2375 runs on another machine" in runtime["summary"]


def test_cdi_off_in_docker_26_with_specs_in_the_daemons_own_folder(tmp_path: Path) -> None:
    r = cr.ContainerRoot(tmp_path / "root")
    r.toolkit(installed_at=cr.DOCKERD_START - 86400, packages=["nvidia-container-toolkit-base"])
    r.b.write("/etc/docker/daemon.json", '{\n  "cdi-spec-dirs": ["/opt/cdi"]\n}\n')
    r.system_dockerd()
    r.answers(cr.docker_info("26.1.4", cdi_spec_dirs=()), version="26.1.4")
    r.driver_libs()
    spec = yaml.safe_load(cr.nvidia_cdi_yaml(cr.DRIVER, 2))
    r.cdi_spec("/opt/cdi/nvidia.json", text=json.dumps(spec))
    report = report_for(r.finish())
    cdi = check_of(report, "docker.cdi")
    assert cdi["status"] == "warn"
    assert "CDI off" in cdi["summary"]
    assert any(e.startswith("spec folders: /etc/cdi, /var/run/cdi, /opt/cdi") for e in
               cdi["evidence"])
    assert any(e.startswith("/opt/cdi/nvidia.json: cdiVersion 0.5.0, kind nvidia.com/gpu, "
                            "devices nvidia.com/gpu=all, nvidia.com/gpu=0, nvidia.com/gpu=1")
               for e in cdi["evidence"])
    assert 'could not select device driver "cdi"' in cdi["details"]
    assert '"features": {"cdi": true}' in cdi["remedy"]
    # nothing works yet: the report gives what works once the toolkit is complete
    assert report["docker_run_args"] == ["--gpus=all"]

"""The host layer: chroot semantics of host roots, host.json, and bad input handled cleanly."""

from __future__ import annotations

import json
import os
import tarfile
from pathlib import Path

import pytest

from gpudoctor.errors import DockerUnavailable, HostError, UserError
from gpudoctor.host import open_host
from gpudoctor.host.live import LiveHost
from gpudoctor.host.rootfs import RootHost, api_key
from tests.support.cli import run_gpudoctor


def make_root(tmp_path: Path, host_json: dict | str | None = None) -> Path:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/os-release").write_text('PRETTY_NAME="Test OS 1"\n')
    if host_json is not None:
        (root / ".gpudoctor").mkdir()
        text = host_json if isinstance(host_json, str) else json.dumps(host_json)
        (root / ".gpudoctor/host.json").write_text(text)
    return root


def test_absolute_link_resolves_inside_the_root(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    (root / "etc/secret").write_text("inside the root\n")
    (root / "link").symlink_to("/etc/secret")
    host = RootHost(str(root))
    assert host.read_text("/link") == "inside the root\n"
    assert host.realpath("/link") == "/etc/secret"


def test_dotdot_never_climbs_above_the_root(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    (tmp_path / "outside.txt").write_text("outside\n")
    (root / "escape").symlink_to("../../../../../outside.txt")
    (root / "outside.txt").write_text("the root's own file\n")
    host = RootHost(str(root))
    assert host.read_text("/escape") == "the root's own file\n"
    assert host.read_text("/../../outside.txt") == "the root's own file\n"


def test_relative_link_resolves_from_its_own_folder(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    dev = root / "sys/devices/pci0000:00/0000:00:01.0/0000:07:00.0"
    dev.mkdir(parents=True)
    (dev / "vendor").write_text("0x1002\n")
    (root / "sys/bus/pci/devices").mkdir(parents=True)
    (root / "sys/bus/pci/devices/0000:07:00.0").symlink_to(
        "../../../devices/pci0000:00/0000:00:01.0/0000:07:00.0")
    host = RootHost(str(root))
    assert host.read_attr("/sys/bus/pci/devices/0000:07:00.0/vendor") == "0x1002"
    assert host.realpath("/sys/bus/pci/devices/0000:07:00.0") == (
        "/sys/devices/pci0000:00/0000:00:01.0/0000:07:00.0")
    assert host.listdir("/sys/bus/pci/devices/0000:07:00.0") == ["vendor"]


def test_link_loop_is_a_host_error_not_a_hang(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    (root / "a").symlink_to("b")
    (root / "b").symlink_to("a")
    host = RootHost(str(root))
    with pytest.raises(HostError, match="too many levels of links"):
        host.read_text("/a")


def test_device_node_comes_from_host_json(tmp_path: Path) -> None:
    root = make_root(tmp_path, {"format": 1, "device_nodes": {
        "/dev/kfd": {"type": "char", "major": 235, "minor": 0, "mode": "0660", "uid": 0,
                     "gid": 110}}})
    (root / "dev").mkdir()
    (root / "dev/kfd").write_text("")
    node = RootHost(str(root)).device_node("/dev/kfd")
    assert node is not None
    assert (node.kind, node.major, node.gid, node.mode_octal) == ("char", 235, 110, "0660")


def test_host_json_processes_user_commands_and_docker(tmp_path: Path) -> None:
    root = make_root(tmp_path, {
        "format": 1, "captured_at": "2026-02-13T09:33:00Z", "captured_by": "gpudoctor 0.1.0",
        "user": {"name": "alice", "uid": 1000, "gid": 1000, "groups": [1000, 44]},
        "processes": [{"pid": 7, "ppid": 1, "uid": 0, "name": "dockerd",
                       "exe": "/usr/bin/dockerd", "cmdline": ["/usr/bin/dockerd"],
                       "env_path": "/usr/bin", "create_time": 1795000000.0}],
        "docker": {"info": {"ServerVersion": "28.2.2"}},
        "commands": {"nvidia-smi": {"argv": ["nvidia-smi", "-L"], "returncode": 0,
                                    "stdout": "GPU 0: X\n", "stderr": ""}},
    })
    host = RootHost(str(root))
    user = host.user()
    assert user is not None and user.name == "alice" and 44 in user.groups
    procs = host.processes()
    assert procs is not None and procs[0].name == "dockerd" and procs[0].env_path == "/usr/bin"
    assert host.docker_api("/info")["ServerVersion"] == "28.2.2"
    with pytest.raises(DockerUnavailable, match="did not capture"):
        host.docker_api("/version")
    result = host.run("nvidia-smi", ["nvidia-smi", "-L"])
    assert result is not None and result.ok and result.stdout == "GPU 0: X\n"
    assert host.run("rocminfo", ["rocminfo"]) is None  # not recorded -> the check skips
    assert host.now() == pytest.approx(1770975180.0)
    assert host.meta()["snapshot"]["captured_by"] == "gpudoctor 0.1.0"


def test_missing_keys_mean_not_captured(tmp_path: Path) -> None:
    host = RootHost(str(make_root(tmp_path, {"format": 1})))
    assert host.processes() is None
    assert host.user() is None
    with pytest.raises(DockerUnavailable, match="did not capture"):
        host.docker_api("/info")


def test_docker_error_is_replayed(tmp_path: Path) -> None:
    root = make_root(tmp_path, {"docker": {"error": "permission denied on /var/run/docker.sock"}})
    with pytest.raises(DockerUnavailable, match="permission denied"):
        RootHost(str(root)).docker_api("/info")


def test_api_keys_for_snapshots() -> None:
    assert api_key("/info") == "info"
    assert api_key("/v1.41/version") == "version"
    assert api_key("/containers/json?all=1") == "containers"
    assert api_key("/containers/abc/json") == "containers_abc_json"


@pytest.mark.parametrize("text, message", [
    ("{not json", "invalid JSON at line 1 column 2"),
    ("[1, 2]", "expected a JSON object"),
    ('{"format": 9}', "format 9 is not supported"),
])
def test_broken_host_json_is_a_user_error(tmp_path: Path, text: str, message: str) -> None:
    root = make_root(tmp_path, text)
    with pytest.raises(UserError, match=message):
        RootHost(str(root))
    run = run_gpudoctor("--json", "--root", root)
    assert run.returncode == 2
    assert run.stdout == ""
    assert len(run.stderr.strip().splitlines()) == 1
    assert message.split(" at ")[0] in run.stderr


def test_root_that_does_not_exist(tmp_path: Path) -> None:
    run = run_gpudoctor("--root", tmp_path / "nope", "--json")
    assert run.returncode == 2
    assert run.stderr.strip() == f"gpudoctor: error: --root {tmp_path / 'nope'}: no such folder " \
                                 "or archive"


def test_corrupt_archive_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "snap.tar.gz"
    bad.write_bytes(b"\x1f\x8b\x08\x00garbage that is not gzip")
    run = run_gpudoctor("--root", bad, "check")
    assert run.returncode == 2
    assert "snap.tar.gz" in run.stderr and len(run.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("member, kind, target, message", [
    ("../evil.txt", "file", "", "climbs out of the root"),
    ("/etc/evil.txt", "file", "", "absolute path"),
    ("sys/link", "symlink", "../../outside", "leaves the root"),
    ("dev/sda", "chr", "", "device or fifo"),
])
def test_hostile_archive_members(tmp_path: Path, member: str, kind: str, target: str,
                                 message: str) -> None:
    archive = tmp_path / "hostile.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo(member)
        if kind == "symlink":
            info.type, info.linkname = tarfile.SYMTYPE, target
        elif kind == "chr":
            info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, 8, 0
        tar.addfile(info)
    before = set(os.listdir(tmp_path))
    run = run_gpudoctor("--json", "--root", archive)
    assert run.returncode == 2
    assert message in run.stderr
    assert set(os.listdir(tmp_path)) == before  # nothing written beside the archive
    assert not (tmp_path.parent / "evil.txt").exists()


def test_unreadable_attribute_is_reported_not_fatal(tmp_path: Path) -> None:
    host = RootHost(str(make_root(tmp_path)))
    with pytest.raises(HostError, match="does not exist"):
        host.read_text("/proc/modules")
    assert host.read_attr("/sys/nothing") is None
    assert host.listdir("/sys/nothing") == []


def test_open_host_picks_the_right_kind(tmp_path: Path) -> None:
    assert isinstance(open_host(None), LiveHost)
    assert isinstance(open_host("/"), LiveHost)
    assert isinstance(open_host(str(make_root(tmp_path))), RootHost)


def test_live_host_runs_commands_with_a_timeout() -> None:
    host = LiveHost()
    result = host.run("sleep", ["sleep", "5"], timeout=0.3)
    assert result is not None and result.timed_out and not result.ok
    assert "did not finish within 0.3 s" in result.describe_failure()
    missing = host.run("nope", ["gpudoctor-no-such-command"], timeout=1)
    assert missing is not None and missing.missing
    assert "is not installed" in missing.describe_failure()

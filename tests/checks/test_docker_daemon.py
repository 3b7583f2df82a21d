"""docker.daemon in process on host roots: each way the daemon or its daemon.json goes wrong
gives its finding id, with the commands a person pastes; the healthy roots beside them give
none. The real dockerd's own verdicts are in tests/test_container_facts.py and
tests/test_container_live.py."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.support import container_roots as cr
from tests.support.check_run import result_of, verdict

ID = "docker.daemon"
RESTART = "sudo systemctl restart docker"
VALIDATE = "dockerd --validate --config-file=/etc/docker/daemon.json"


def running(root: Path, daemon_json: str | None, version: str = "28.5.1",
            extra_args: Sequence[str] = ()) -> cr.ContainerRoot:
    """A system dockerd that answers, reading /etc/docker/daemon.json."""
    r = cr.ContainerRoot(root)
    r.toolkit(installed_at=cr.DOCKERD_START - 86400)
    if daemon_json is not None:
        r.b.write("/etc/docker/daemon.json", daemon_json)
    r.system_dockerd(extra_args=extra_args)
    r.answers(cr.docker_info(version), version=version)
    return r


def stopped(root: Path, daemon_json: str | None = "{}\n") -> cr.ContainerRoot:
    """A system dockerd that is installed but does not answer."""
    r = cr.ContainerRoot(root)
    r.toolkit(installed_at=cr.DOCKERD_START - 86400)
    if daemon_json is not None:
        r.b.write("/etc/docker/daemon.json", daemon_json)
    r.system_dockerd()
    r.down()
    return r


# ----- daemon.json, while the daemon runs on what it loaded before ----------------------------
@pytest.mark.parametrize(("text", "summary"), [
    ('{\n  "labels": ["a=b"],\n}\n', "has a syntax error at line 3, column 1: a trailing comma"),
    ('{\n  // GPUs\n  "debug": true\n}\n', "has a comment at line 2, column 3"),
    ("[]\n", "is not a JSON object"),
], ids=["syntax", "comment", "not-object"])
def test_a_file_dockerd_cannot_parse_fails_the_next_restart(tmp_path: Path, text: str,
                                                           summary: str) -> None:
    result = result_of(running(tmp_path / "root", text).finish(), ID)
    assert verdict(result) == ("fail", ["docker.daemon.config_invalid"])
    assert result.summary.startswith(f"/etc/docker/daemon.json {summary}")
    assert result.commands == [VALIDATE, "python3 -m json.tool /etc/docker/daemon.json",
                               RESTART]
    assert result.fixes == []  # gpudoctor never rewrites a file it cannot parse
    assert "its next restart will fail" in result.details


def test_a_daemon_json_that_cannot_be_read_is_invalid(tmp_path: Path) -> None:
    r = running(tmp_path / "root", None)
    (r.b.root / "etc/docker/daemon.json").mkdir(parents=True)
    result = result_of(r.finish(), ID)
    assert verdict(result) == ("fail", ["docker.daemon.config_invalid"])
    assert result.summary == "/etc/docker/daemon.json cannot be read"


def test_an_unknown_key_is_named_with_the_key_it_likely_means(tmp_path: Path) -> None:
    result = result_of(running(tmp_path / "root", '{"insecure-registry": ["x"]}\n').finish(), ID)
    assert verdict(result) == ("fail", ["docker.daemon.config_unknown_keys"])
    assert result.commands == [RESTART]
    assert "`insecure-registry` (did you mean `insecure-registries`?)" in result.details


def test_an_empty_file_warns_on_docker_23_and_later(tmp_path: Path) -> None:
    result = result_of(running(tmp_path / "root", "").finish(), ID)
    assert verdict(result) == ("warn", ["docker.daemon.config_empty"])
    assert result.remedy == "Write `{}` into /etc/docker/daemon.json (or delete it)."


def test_an_empty_file_fails_where_docker_refuses_it(tmp_path: Path) -> None:
    result = result_of(running(tmp_path / "root", "", version="20.10.24").finish(), ID)
    assert verdict(result) == ("fail", ["docker.daemon.config_empty"])
    assert "This is Docker 20.10.24" in result.details


def test_a_key_set_as_flag_and_in_the_file_fails(tmp_path: Path) -> None:
    r = running(tmp_path / "root", '{"data-root": "/srv/docker"}\n',
                extra_args=["--data-root=/var/lib/docker"])
    result = result_of(r.finish(), ID)
    assert verdict(result) == ("fail", ["docker.daemon.config_flag_conflict"])
    assert result.commands == ["sudo systemctl edit docker", RESTART]
    assert '`data-root` (flag --data-root=/var/lib/docker, file "/srv/docker")' in \
        result.details


def test_a_duplicate_key_is_a_note(tmp_path: Path) -> None:
    result = result_of(running(tmp_path / "root", '{"debug": true, "debug": false}').finish(),
                       ID)
    assert verdict(result) == ("warn", ["docker.daemon.config_note"])


@pytest.mark.parametrize("text", [None, "{}\n", cr.NVIDIA_CTK_DAEMON_JSON],
                         ids=["missing", "empty-object", "nvidia-ctk"])
def test_a_file_dockerd_accepts_gives_no_finding(tmp_path: Path, text: str | None) -> None:
    result = result_of(running(tmp_path / "root", text).finish(), ID)
    assert verdict(result) == ("pass", [])
    assert result.summary == ("Docker 28.5.1 (a system daemon, run as root) answers at "
                              "unix:///var/run/docker.sock; it reads /etc/docker/daemon.json")


# ----- a daemon that does not answer ----------------------------------------------------------
def test_a_broken_file_is_why_docker_is_down(tmp_path: Path) -> None:
    result = result_of(cr.daemon_json_trailing_comma(tmp_path / "root"), ID)
    assert verdict(result) == ("fail", ["docker.daemon.config_invalid"])
    assert result.summary == ("Docker is not running: /etc/docker/daemon.json has a syntax "
                              "error at line 8, column 1: a trailing comma at line 7, column 6")
    assert result.details.startswith("No daemon answers at unix:///var/run/docker.sock: ")
    assert "dockerd refuses to start at all" in result.details
    assert "dockerd itself says: `/usr/bin/dockerd --validate" in result.details
    assert "invalid character '}' looking for beginning of object key string" in result.details
    assert "sudo systemctl restart docker" in result.remedy
    assert result.fixes == []


def test_a_stopped_daemon_with_a_valid_file_says_start_it(tmp_path: Path) -> None:
    result = result_of(stopped(tmp_path / "root").finish(), ID)
    assert verdict(result) == ("fail", ["docker.daemon.down"])
    assert result.commands == ["sudo systemctl start docker", "journalctl -u docker -n 50",
                               VALIDATE]
    assert "dockerd's own last error" not in result.details


def test_a_stopped_daemon_quotes_its_own_last_error(tmp_path: Path) -> None:
    r = cr.ContainerRoot(tmp_path / "root")  # installed, no dockerd process: the journal says why
    r.b.write("/usr/bin/dockerd", "#!/bin/sh\n", mode=0o755)
    r.down()
    r.b.add_command("journalctl-docker", ["journalctl", "-u", "docker.service", "-n", "30",
                                          "--no-pager", "-o", "cat"],
                    stdout="failed to start daemon: Error initializing network controller\n")
    result = result_of(r.finish(), ID)
    assert verdict(result) == ("fail", ["docker.daemon.down"])
    assert result.details.endswith("dockerd's own last error: failed to start daemon: Error "
                                   "initializing network controller")


def test_no_dockerd_anywhere_means_not_installed(tmp_path: Path) -> None:
    r = cr.ContainerRoot(tmp_path / "root")
    r.down()
    result = result_of(r.finish(), ID)
    assert verdict(result) == ("fail", ["docker.daemon.not_installed"])
    assert result.commands == ["sudo apt-get install docker.io",
                               "sudo systemctl enable --now docker"]


def test_a_remote_daemon_that_does_not_answer(tmp_path: Path) -> None:
    r = cr.ContainerRoot(tmp_path / "root")
    r.down()
    r.b.set_host_json(env={"DOCKER_HOST": "tcp://10.0.0.5:2375", "HOME": "/root"})
    result = result_of(r.finish(), ID)
    assert verdict(result) == ("fail", ["docker.daemon.remote_down"])
    assert result.commands == ["docker context use default"]


def test_a_remote_daemon_that_answers_is_described(tmp_path: Path) -> None:
    r = cr.ContainerRoot(tmp_path / "root")
    r.toolkit(installed_at=cr.DOCKERD_START - 86400)
    r.answers()
    r.b.set_host_json(env={"DOCKER_HOST": "tcp://10.0.0.5:2375", "HOME": "/home/alice"})
    result = result_of(r.finish(), ID)
    assert verdict(result) == ("pass", [])
    assert "a remote daemon" in result.summary
    assert "runs on another machine" in result.details


# ----- the socket -----------------------------------------------------------------------------
def socket_root(r: cr.ContainerRoot, gid: int) -> Path:
    """alice (not in the docker group) and a root-owned socket of group `gid`, mode 0660."""
    r.b.set_user("alice", 1000, 1000, [1000, 27])
    root = r.finish()
    socket = root / "var/run/docker.sock"
    socket.parent.mkdir(parents=True, exist_ok=True)
    socket.write_bytes(b"")
    socket.chmod(0o660)
    os.chown(socket, 0, gid)
    return root


def test_outside_the_docker_group_warns_when_root_reached_the_daemon(tmp_path: Path) -> None:
    result = result_of(socket_root(running(tmp_path / "root", "{}\n"), 988), ID)
    assert verdict(result) == ("warn", ["docker.daemon.socket_needs_sudo"])
    assert result.summary == "alice cannot use the Docker socket without sudo"
    assert "`docker` (GID 988) with mode 0660" in result.details
    assert "sudo usermod -aG docker alice" in result.remedy
    assert result.commands == ["sudo usermod -aG docker alice", "newgrp docker"]


def test_a_root_only_socket_warns_with_the_group_to_create(tmp_path: Path) -> None:
    result = result_of(socket_root(running(tmp_path / "root", "{}\n"), 0), ID)
    assert verdict(result) == ("warn", ["docker.daemon.socket_needs_sudo"])
    assert result.remedy == ""
    assert result.commands == ["sudo groupadd docker"]


def test_a_socket_the_person_cannot_open_is_why_docker_fails(tmp_path: Path) -> None:
    result = result_of(socket_root(stopped(tmp_path / "root"), 988), ID)
    assert verdict(result) == ("fail", ["docker.daemon.socket_denied"])
    assert result.commands == ["sudo usermod -aG docker alice", "newgrp docker"]


def test_a_root_only_socket_the_person_cannot_open(tmp_path: Path) -> None:
    result = result_of(socket_root(stopped(tmp_path / "root"), 0), ID)
    assert verdict(result) == ("fail", ["docker.daemon.socket_denied"])
    assert result.remedy == "Run docker with sudo, or give the socket a group you are in."


def test_a_person_in_the_docker_group_is_not_warned(tmp_path: Path) -> None:
    r = running(tmp_path / "root", "{}\n")
    r.b.set_user("alice", 1000, 1000, [1000, 27, 988])
    root = r.finish()
    socket = root / "var/run/docker.sock"
    socket.parent.mkdir(parents=True, exist_ok=True)
    socket.write_bytes(b"")
    socket.chmod(0o660)
    os.chown(socket, 0, 988)
    assert verdict(result_of(root, ID)) == ("pass", [])


# ----- which daemon -----------------------------------------------------------------------------
def test_docker_desktop_runs_its_engine_in_a_vm(tmp_path: Path) -> None:
    result = result_of(cr.docker_desktop(tmp_path / "root"), ID)
    assert verdict(result) == ("fail", ["docker.daemon.desktop_vm"])
    assert result.commands == ["docker context use default"]
    assert "Docker Desktop" in result.summary
    assert "virtual machine" in result.details
    assert "cannot give that VM the GPU" in result.details
    assert "docker context use default" in result.remedy
    assert any("desktop" in e for e in result.evidence)


def test_the_snap_reads_its_own_file(tmp_path: Path) -> None:
    result = result_of(cr.snap_docker_etc_edited(tmp_path / "root"), ID)
    assert verdict(result) == ("pass", [])
    assert "the Docker snap" in result.summary
    assert "/var/snap/docker/3265/config/daemon.json" in result.summary
    assert any("dockerd runs from /snap/docker/3265/bin/dockerd" in e for e in result.evidence)
    assert "sudo snap restart docker" in result.details


def test_rootless_docker_reads_the_home_file(tmp_path: Path) -> None:
    result = result_of(cr.rootless_docker(tmp_path / "root"), ID)
    assert verdict(result) == ("pass", [])
    assert "rootless Docker" in result.summary
    assert "unix:///run/user/1000/docker.sock" in result.summary
    assert "/home/alice/.config/docker/daemon.json" in result.summary
    assert any("name=rootless" in e for e in result.evidence)
    assert "no-cgroups = true" in result.details


def test_a_root_without_the_daemon_skips_and_still_reads_the_file(tmp_path: Path) -> None:
    result = result_of(cr.not_captured(tmp_path / "root"), ID)
    assert verdict(result) == ("skip", [])
    assert "host.json" in result.summary
    r = cr.ContainerRoot(tmp_path / "broken")
    r.b.write("/etc/docker/daemon.json", cr.TRAILING_COMMA_JSON)
    broken = result_of(r.finish(), ID)
    assert verdict(broken) == ("fail", ["docker.daemon.config_invalid"])
    # whether the daemon runs is unknown: the file is not said to be why it is down
    assert broken.summary.startswith("/etc/docker/daemon.json has a syntax error")
    assert "dockerd refuses to start at all" in broken.details


@pytest.mark.parametrize(("text", "finding"), [
    ('{"insecure-registry": ["x"]}\n', "docker.daemon.config_unknown_keys"),
    ("[]\n", "docker.daemon.config_invalid"),
], ids=["unknown-key", "not-object"])
def test_any_file_dockerd_refuses_is_why_it_is_down(tmp_path: Path, text: str,
                                                   finding: str) -> None:
    result = result_of(stopped(tmp_path / "root", text).finish(), ID)
    assert verdict(result) == ("fail", [finding])
    assert result.summary.startswith("Docker is not running: /etc/docker/daemon.json ")
    assert "dockerd refuses to start at all" in result.details

"""The Engine API client against a real dockerd: answers, no daemon, refused, denied, hung."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from gpudoctor.errors import DockerUnavailable
from gpudoctor.host import dockerapi
from gpudoctor.host.live import LiveHost
from tests.support.cli import check_of, run_gpudoctor, validate_report


def test_info_and_version_from_the_real_daemon(shared_dockerd) -> None:
    host = LiveHost()
    info = host.docker_api("/info", shared_dockerd.host)
    assert info["DockerRootDir"] == str(shared_dockerd.data_root)
    version = host.docker_api("/version", shared_dockerd.host)
    assert version["Version"].startswith("20.10")
    containers = dockerapi.get_json(shared_dockerd.host, "/containers/json?all=1")
    assert isinstance(containers, list)


def test_an_unknown_path_is_reported_with_the_daemons_message(shared_dockerd) -> None:
    with pytest.raises(DockerUnavailable, match=r"answered 404 to GET /containers/nope/json"):
        dockerapi.get_json(shared_dockerd.host, "/containers/nope/json")


def test_no_socket(tmp_path: Path) -> None:
    with pytest.raises(DockerUnavailable,
                       match=r"no Docker socket at .* \(is the daemon running\?\)"):
        dockerapi.get_json(f"unix://{tmp_path}/docker.sock", "/info")


def test_a_socket_nobody_listens_on(tmp_path: Path) -> None:
    path = tmp_path / "stale.sock"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))  # bound, never listening: what a crashed daemon leaves behind
    try:
        with pytest.raises(DockerUnavailable, match=r"connection refused .* no daemon listens"):
            dockerapi.get_json(f"unix://{path}", "/info", timeout=2)
    finally:
        stale.close()


def test_permission_denied_for_a_person_outside_the_group(shared_dockerd, unprivileged) -> None:
    os.chmod(shared_dockerd.socket, 0o660)  # root:root, as dockerd makes it without a group
    code = ("from gpudoctor.host import dockerapi\n"
            f"try:\n    dockerapi.get_json({shared_dockerd.host!r}, '/info')\n"
            "except Exception as exc:\n    print(type(exc).__name__, exc)\n")
    proc = subprocess.run(unprivileged.python_argv("-c", code), capture_output=True, text=True,
                          timeout=60, check=False, cwd="/", env=unprivileged.env())
    assert proc.stdout.startswith("DockerUnavailable permission denied while connecting"), (
        proc.stdout, proc.stderr)
    assert "not in the socket's group" in proc.stdout


def test_a_daemon_that_does_not_answer_times_out(dockerd_factory) -> None:
    daemon = dockerd_factory()
    os.kill(daemon.pid, signal.SIGSTOP)  # the socket still accepts; nobody answers
    try:
        started = time.monotonic()
        with pytest.raises(DockerUnavailable, match=r"did not answer within 0\.5 s"):
            dockerapi.get_json(daemon.host, "/info", timeout=0.5)
        assert time.monotonic() - started < 3

        started = time.monotonic()
        run = run_gpudoctor("--json", "--timeout", "8", env={"DOCKER_HOST": daemon.host})
        elapsed = time.monotonic() - started
        report = validate_report(run.json)
        daemon_check = check_of(report, "docker.daemon")
        assert daemon_check["status"] in ("fail", "error")
        assert "did not answer" in json.dumps(daemon_check)
        assert elapsed < 40  # bounded by the API timeouts, not by the hung daemon
    finally:
        os.kill(daemon.pid, signal.SIGCONT)
    assert daemon.is_healthy(timeout=10)

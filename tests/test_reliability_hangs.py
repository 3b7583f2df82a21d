"""Issue 18: nothing gpudoctor waits for can hang it (FIFOs, trickling sockets, hung facts).

Every case here hung gpudoctor until it was killed (at 200 s in the audit). Each test runs the
real thing (a FIFO made with mkfifo, a socket on 127.0.0.1 or AF_UNIX that sends one byte every
two seconds, a private dockerd, a docker CLI that never returns) and must end within its
timeout, saying what did not answer.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gpudoctor.errors import DockerUnavailable
from gpudoctor.facts import Facts, FactTimeout, Options
from gpudoctor.host import dockerapi
from gpudoctor.host.rootfs import RootHost
from gpudoctor.plugin import Area, Check, Result
from gpudoctor.report import Doctor
from gpudoctor.runner import run_checks
from tests.support.cli import check_of, run_gpudoctor, validate_report
from tests.support.container_roots import nvidia_all_good
from tests.support.scenarios import vm_no_gpu
from tests.support.standins import install_standins, standin_dir

SYSTEM_DAEMON_JSON = Path("/etc/docker/daemon.json")


# ----- a peer that sends one byte every two seconds, forever -------------------------------------
class Trickle:
    """A real listening socket whose every connection gets `HTTP/1.0 200 OK...` byte by byte,
    one byte per `interval` seconds: each recv() succeeds, so a per-read timeout never fires."""

    def __init__(self, sock: socket.socket, interval: float = 2.0):
        self.sock = sock
        self.interval = interval
        self.stop = threading.Event()
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.connections += 1
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        body = b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n" + b"X: y\r\n" * 10_000
        with conn:
            for byte in body:
                if self.stop.wait(self.interval):
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return


@pytest.fixture
def unix_trickle() -> Iterator[tuple[str, Trickle]]:
    folder = tempfile.mkdtemp(prefix="gd-trickle-", dir="/tmp")  # AF_UNIX paths are short
    path = os.path.join(folder, "docker.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    sock.listen(16)
    trickle = Trickle(sock)
    try:
        yield f"unix://{path}", trickle
    finally:
        trickle.stop.set()
        sock.close()
        os.unlink(path)
        os.rmdir(folder)


@pytest.fixture
def tcp_trickle() -> Iterator[tuple[str, Trickle]]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    trickle = Trickle(sock)
    try:
        yield f"tcp://127.0.0.1:{sock.getsockname()[1]}", trickle
    finally:
        trickle.stop.set()
        sock.close()


@pytest.fixture
def toolkit_bin(tmp_path: Path) -> Path:
    """The stand-in nvidia-ctk and nvidia-container-runtime on PATH (so planning goes on)."""
    folder = tmp_path / "toolkit-bin"
    install_standins(folder, ["nvidia-container-runtime"])
    target = folder / "nvidia-ctk"
    target.write_bytes((standin_dir() / "nvidia-ctk").read_bytes())
    target.chmod(0o755)
    return folder


def _system_daemon_json() -> bytes | None:
    return SYSTEM_DAEMON_JSON.read_bytes() if SYSTEM_DAEMON_JSON.exists() else None


# ----- sockets: a total deadline, not only a per-read one ---------------------------------------
@pytest.mark.parametrize("which", ["unix_trickle", "tcp_trickle"])
def test_the_engine_api_client_gives_up_on_a_trickling_peer_at_its_total_deadline(
        which: str, request: pytest.FixtureRequest) -> None:
    endpoint, trickle = request.getfixturevalue(which)
    started = time.monotonic()
    with pytest.raises(DockerUnavailable, match=r"did not answer within 3 s"):
        dockerapi.get_json(endpoint, "/info", timeout=3)
    assert 2.5 <= time.monotonic() - started < 6
    assert trickle.connections == 1


def test_fix_against_a_trickling_socket_ends_and_configures_nothing(unix_trickle, toolkit_bin,
                                                                     tmp_path: Path) -> None:
    endpoint, _trickle = unix_trickle
    before = _system_daemon_json()
    env = {"DOCKER_HOST": endpoint, "GPUDOCTOR_LOCK_FILE": str(tmp_path / "fix.lock"),
           "PATH": f"{toolkit_bin}:{os.environ['PATH']}"}
    started = time.monotonic()
    run = run_gpudoctor("fix", "docker.configure_nvidia_runtime", "--yes", "--timeout", "5",
                        env=env, timeout=90)
    elapsed = time.monotonic() - started
    assert elapsed < 60, elapsed
    assert run.returncode == 1, (run.stdout, run.stderr)
    # Issue 18 item 4: the daemon (and so its configuration file) is unknown: nothing written.
    assert "cannot tell which Docker daemon serves" in run.stdout
    assert "did not answer within 5 s" in run.stdout
    assert "DOCKER_HOST=unix:///PATH/docker.sock" in run.stdout
    assert _system_daemon_json() == before
    dry = run_gpudoctor("fix", "docker.configure_nvidia_runtime", "--dry-run", "--json",
                        "--timeout", "5", env=env, timeout=90)
    [plan] = json.loads(dry.stdout)["plans"]
    assert plan["blocked"].startswith("gpudoctor cannot tell which Docker daemon serves "
                                      f"{endpoint} (the daemon at ")
    assert plan["steps"] == []


def test_check_against_a_trickling_socket_ends_within_its_timeouts(unix_trickle) -> None:
    endpoint, _trickle = unix_trickle
    started = time.monotonic()
    run = run_gpudoctor("--json", "--timeout", "8", env={"DOCKER_HOST": endpoint}, timeout=90)
    assert time.monotonic() - started < 45
    report = validate_report(run.json)
    assert run.returncode == 1
    assert "did not answer within 5 s" in json.dumps(check_of(report, "docker.daemon"))


# ----- files that are FIFOs ----------------------------------------------------------------------
def test_a_fifo_daemon_json_in_a_host_root_is_refused_not_waited_on(tmp_path: Path) -> None:
    root = nvidia_all_good(tmp_path / "root")
    daemon_json = root / "etc/docker/daemon.json"
    daemon_json.unlink()
    os.mkfifo(daemon_json)
    started = time.monotonic()
    run = run_gpudoctor("--json", "--root", root, "--timeout", "5", timeout=60)
    assert time.monotonic() - started < 30
    report = validate_report(run.json)
    text = json.dumps(report)
    assert "is a FIFO (named pipe), not a regular file" in text
    out = tmp_path / "snap.tar.gz"
    snap = run_gpudoctor("snapshot", "--root", root, "-o", out, "--timeout", "5", timeout=90)
    assert snap.returncode == 0, snap.stderr
    assert out.stat().st_size > 0
    assert daemon_json.is_fifo()


def test_a_fifo_host_json_is_a_one_line_error(tmp_path: Path) -> None:
    root = vm_no_gpu(tmp_path / "root")
    host_json = root / ".gpudoctor/host.json"
    host_json.unlink()
    os.mkfifo(host_json)
    run = run_gpudoctor("--json", "--root", root, timeout=30)
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and "is a FIFO (named pipe)" in run.stderr


@pytest.mark.docker
def test_fix_with_a_fifo_as_daemon_json_ends_and_says_why(dockerd_factory, toolkit_bin,
                                                           tmp_path: Path) -> None:
    d = dockerd_factory(config="{}\n", extra_path=[toolkit_bin])
    d.config_file.unlink()
    os.mkfifo(d.config_file)  # dockerd read it at start; now it is a FIFO
    env = {"DOCKER_HOST": d.host, "GPUDOCTOR_LOCK_FILE": str(tmp_path / "fix.lock"),
           "PATH": f"{toolkit_bin}:{os.environ['PATH']}"}
    started = time.monotonic()
    run = run_gpudoctor("fix", "docker.configure_nvidia_runtime", "--yes", "--timeout", "10",
                        env=env, timeout=120)
    assert time.monotonic() - started < 90
    assert run.returncode == 1, (run.stdout, run.stderr)
    assert f"cannot read {d.config_file}: is a FIFO (named pipe), not a regular file" in \
        run.stdout
    assert d.config_file.is_fifo()


# ----- a fact a timed-out check left unfinished -------------------------------------------------
def test_waiting_for_a_fact_a_hung_check_holds_ends_at_the_callers_deadline(
        tmp_path: Path) -> None:
    release = threading.Event()

    class Hangs(Check):
        id, title, area = "test.hangs", "Holds the gpus fact forever", Area.OTHER

        def run(self, facts: Facts) -> Result:
            facts.memo("gpus", lambda: release.wait(120))  # what a hung read would do
            return Result.passed("never")

    class Waits(Check):
        id, title, area = "test.waits", "Needs the gpus fact", Area.OTHER
        timeout = 30.0  # its own, longer timeout: --timeout wins over it

        def run(self, facts: Facts) -> Result:
            time.sleep(0.1)
            facts.gpus  # noqa: B018 - asking is the point
            return Result.passed("never")

    host = RootHost(str(vm_no_gpu(tmp_path / "root")))
    doctor = Doctor(host=host, options=Options(check_timeout=1.0, timeout_given=True))
    started = time.monotonic()
    try:
        doctor.outcomes = run_checks([Hangs, Waits], doctor.fresh_facts())
        statuses = {o.id: (o.result.status.value, o.result.summary) for o in doctor.outcomes}
        assert statuses["test.hangs"] == ("error", "timed out after 1 s")
        assert statuses["test.waits"][0] == "error"
        assert time.monotonic() - started < 3
        started = time.monotonic()
        report = doctor.report()  # the main thread asks for the same fact
        assert time.monotonic() - started < 2.5
        assert report["gpus"] == [] and report["host"]["kernel"] == "6.8.0-45-generic"
        with pytest.raises(FactTimeout, match="still not known after waiting 1 s"):
            doctor.facts.gpus  # noqa: B018
        assert doctor.exit_code() == 1  # a host that could not be judged is not healthy
    finally:
        release.set()


# ----- --timeout -------------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "0", "-1", "1e400", "soon"])
def test_timeout_must_be_a_positive_finite_number(value: str) -> None:
    run = run_gpudoctor("--json", f"--timeout={value}", timeout=30)
    assert run.returncode == 2, (value, run.stderr)
    assert run.stdout == "" and run.stderr.count("\n") == 1
    assert run.stderr.startswith("gpudoctor: error: argument --timeout: ")


def test_timeout_applies_to_every_check_when_given(tmp_path: Path) -> None:
    class Slow(Check):
        id, title, area = "test.slow", "Declares 30 s of its own", Area.OTHER
        timeout = 30.0

        def run(self, facts: Facts) -> Result:
            time.sleep(5)
            return Result.passed("late")

    host = RootHost(str(vm_no_gpu(tmp_path / "root")))
    started = time.monotonic()
    [outcome] = run_checks([Slow], Facts(host, Options(check_timeout=0.5, timeout_given=True)))
    assert outcome.result.summary == "timed out after 0.5 s"
    assert time.monotonic() - started < 2
    [outcome] = run_checks([Slow], Facts(host, Options(check_timeout=0.5)))  # the default
    assert outcome.result.summary == "late"  # its own 30 s apply when --timeout is not given


# ----- verify with a docker CLI that never returns ---------------------------------------------
@pytest.mark.docker
def test_verify_says_the_docker_cli_timed_out_not_that_the_image_is_missing(
        shared_dockerd, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    hung = bin_dir / "docker"
    hung.write_text("#!/bin/sh\n# a docker CLI stuck on a dead credential helper\nexec sleep 600\n")
    hung.chmod(0o755)
    env = {"DOCKER_HOST": shared_dockerd.host, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    started = time.monotonic()
    run = run_gpudoctor("verify", "--json", "--image", "busybox:latest", "--",
                        "--device=/dev/null", env=env, timeout=120)
    assert time.monotonic() - started < 60
    doc = json.loads(run.stdout)
    assert run.returncode == 1
    assert doc["cause"]["id"] == "docker-cli-timed-out"
    assert "did not finish within" in doc["summary"] and "not present" not in doc["summary"]


def test_a_fifo_given_as_bundle_is_refused_not_read(tmp_path: Path) -> None:
    fifo = tmp_path / "bundle.tar.gz"
    os.mkfifo(fifo)
    run = run_gpudoctor("fix", "nvidia.install_toolkit", "--bundle", fifo, "--dry-run",
                        "--timeout", "5", env={"GPUDOCTOR_LOCK_FILE": str(tmp_path / "l")},
                        timeout=90)
    assert run.returncode == 2, (run.stdout, run.stderr)
    assert run.stderr == (f"gpudoctor: error: --bundle {fifo}: it is a FIFO (named pipe), not a "
                          "folder or a .tar.gz archive\n")


def test_the_overall_deadline_interrupts_a_wait_that_nothing_else_bounds() -> None:
    from gpudoctor.deadline import DeadlineExceeded, overall_deadline

    before = signal.getsignal(signal.SIGALRM)
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded, match=r"^the test did not finish within 0.5 s"), \
            overall_deadline(0.5, "the test"):
        threading.Event().wait(20)  # what a hung read in the main thread would do
    assert time.monotonic() - started < 2
    assert signal.getsignal(signal.SIGALRM) is before
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_the_pciids_download_gives_up_on_a_trickling_server_at_its_total_deadline(
        tcp_trickle) -> None:
    from gpudoctor.fixes.pciids_update import download
    from gpudoctor.plugin import FixFailed

    endpoint, trickle = tcp_trickle
    url = endpoint.replace("tcp://", "http://") + "/pci.ids"
    started = time.monotonic()
    with pytest.raises(FixFailed, match=r"did not finish sending within 3 s"):
        download(url, 16 * 1024 * 1024, lambda line: None, timeout=5, total=3)
    assert 2.5 <= time.monotonic() - started < 5
    assert trickle.connections == 1

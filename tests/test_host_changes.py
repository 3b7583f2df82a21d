"""gpudoctor.host.changes (commands, signals, scratch folders) and the Host helpers fixes use.

Real processes throughout: a timed-out or interrupted command must leave nothing running, not
even what it started in the background.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gpudoctor.host import changes
from gpudoctor.host.live import LiveHost
from gpudoctor.host.rootfs import RootHost


def _gone(pid: int, within: float = 5.0) -> bool:
    """True once `pid` no longer runs (a zombie waiting for its parent counts as gone)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


# ----- execute ------------------------------------------------------------------------------------
def test_output_exit_status_and_input() -> None:
    result = changes.execute(["sh", "-c", "cat; echo oops >&2; exit 3"], 10, input="héllo\n")
    assert (result.returncode, result.stdout, result.stderr) == (3, "héllo\n", "oops\n")
    assert not result.ok
    assert result.describe_failure() == "`sh -c cat; echo oops >&2; exit 3` exited with status " \
        "3: oops"


def test_stdin_is_empty_without_input() -> None:
    result = changes.execute(["cat"], 10)
    assert result.ok and result.stdout == ""


def test_env_replaces_the_environment() -> None:
    result = changes.execute(["/bin/sh", "-c", "echo \"$ONLY:$HOME\""], 10, env={"ONLY": "x"})
    assert result.stdout == "x:\n"


def test_missing_and_not_executable(tmp_path: Path) -> None:
    missing = changes.execute(["gpudoctor-no-such-tool"], 10)
    assert missing.missing and missing.returncode is None and missing.stderr == ""
    assert missing.describe_failure() == "`gpudoctor-no-such-tool` is not installed"
    script = tmp_path / "tool"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o644)
    refused = changes.execute([str(script)], 10)
    assert refused.missing and "Permission denied" in refused.stderr


def test_timeout_kills_what_the_command_started(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    started = time.monotonic()
    result = changes.execute(
        ["sh", "-c", f"sleep 60 & echo $! > {pidfile}; echo begun; wait"], 0.5)
    assert result.timed_out and result.timeout == 0.5 and result.returncode is None
    assert result.stdout == "begun\n"
    assert time.monotonic() - started < 10
    assert _gone(int(pidfile.read_text()))
    assert "did not finish within 0.5 s" in result.describe_failure()


def test_an_interruption_while_waiting_kills_the_command(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.5)
        with pytest.raises(KeyboardInterrupt):
            changes.execute(["sh", "-c", f"echo $$ > {pidfile}; exec sleep 60"], 30)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert _gone(int(pidfile.read_text()))


def test_own_session_keeps_terminal_signals_away() -> None:
    """A command gets its own session (Ctrl-C at gpudoctor's terminal does not reach it)."""
    session = ["sh", "-c", "cut -d' ' -f6 /proc/$$/stat"]  # field 6: the session id
    assert int(changes.execute(session, 10).stdout) != os.getsid(0)
    assert int(changes.execute(session, 10, new_session=False).stdout) == os.getsid(0)


# ----- signals ------------------------------------------------------------------------------------
def test_signal_is_delivered() -> None:
    proc = subprocess.Popen(["sh", "-c", "trap 'echo got; exit 0' USR1; "
                             "while :; do sleep 0.05; done"], stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(0.3)  # let the shell set its trap
        changes.send_signal(proc.pid, signal.SIGUSR1)
        out, _ = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert out == "got\n"


def test_signal_to_a_finished_process_is_a_clear_error() -> None:
    proc = subprocess.Popen(["true"])
    proc.wait(timeout=10)
    with pytest.raises(changes.ProcessGone, match=f"process {proc.pid} is no longer running"):
        changes.send_signal(proc.pid, signal.SIGHUP)


def test_signal_refused_is_a_clear_error() -> None:
    if os.geteuid() != 0:  # an unprivileged user may not signal init
        with pytest.raises(changes.SignalRefused, match="not allowed to send SIGHUP to process 1"):
            changes.send_signal(1, signal.SIGHUP)
        return
    target = subprocess.Popen(["sleep", "60"])
    try:
        # Imported as root, then the child becomes nobody before it signals root's process.
        code = (f"import os\nfrom gpudoctor.host import changes\n"
                f"os.setgroups([])\nos.setgid(65534)\nos.setuid(65534)\n"
                f"try:\n    changes.send_signal({target.pid}, 15)\n"
                f"except changes.SignalRefused as exc:\n    print(exc)\n")
        run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             timeout=60, check=False)
        assert run.stdout == f"not allowed to send SIGTERM to process {target.pid}\n", run.stderr
        assert target.poll() is None
    finally:
        target.kill()
        target.wait(timeout=10)


# ----- scratch folders ----------------------------------------------------------------------------
def test_scratch_folder_is_private_and_removed_after_the_block() -> None:
    with changes.scratch("gd-test-") as folder:
        assert os.path.basename(folder).startswith("gd-test-")
        assert os.stat(folder).st_mode & 0o777 == 0o700
        path = changes.write_scratch(folder, "compose.yaml", "a: 1\n")
        assert Path(path).read_text() == "a: 1\n"
        with pytest.raises(FileExistsError):
            changes.write_scratch(folder, "compose.yaml", b"again")
        with pytest.raises(ValueError, match="plain file name"):
            changes.write_scratch(folder, "../escape", b"x")
    assert not os.path.exists(folder)


def test_write_scratch_takes_a_stream_and_refuses_other_folders(tmp_path: Path) -> None:
    folder = changes.scratch_dir("gd-test-")
    try:
        source = tmp_path / "pkg.deb"
        source.write_bytes(os.urandom(300_000))
        with source.open("rb") as stream:
            copy = changes.write_scratch(folder, "pkg.deb", stream)
        assert Path(copy).read_bytes() == source.read_bytes()
        with pytest.raises(ValueError, match="not one of gpudoctor's scratch folders"):
            changes.write_scratch(str(tmp_path), "x", b"x")
    finally:
        changes.remove_scratch(folder)
    assert not os.path.exists(folder)
    changes.remove_scratch(str(tmp_path))  # not ours: left alone
    assert source.exists()


def test_scratch_folders_are_removed_at_exit() -> None:
    code = ("from gpudoctor.host import changes\n"
            "f = changes.scratch_dir('gd-test-')\n"
            "changes.write_scratch(f, 'x', b'x')\n"
            "print(f)\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True)
    folder = run.stdout.strip()
    assert folder and not os.path.exists(folder)


# ----- Host helpers -------------------------------------------------------------------------------
def _root_with_log(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "var/log").mkdir(parents=True)
    (root / "var/log/dockerd.log").write_text("old line\nnew line\n")
    (root / "dev/dri/by-path").mkdir(parents=True)
    (root / "dev/dri/renderD128").write_text("")
    (root / "dev/dri/by-path/pci-0000:03:00.0-render").symlink_to("../renderD128")
    return root


def test_read_range_reads_from_an_offset_on_both_host_kinds(tmp_path: Path) -> None:
    root = _root_with_log(tmp_path)
    live = LiveHost()
    log = str(root / "var/log/dockerd.log")
    assert live.read_range(log, 9, 1024) == b"new line\n"
    assert live.read_range(log, 9, 3) == b"new"
    assert live.read_range(log, 100, 10) == b""
    host = RootHost(str(root))
    assert host.read_range("/var/log/dockerd.log", 9, 1024) == b"new line\n"
    assert host.read_range("/var/log/dockerd.log", 0, 3) == b"old"
    for h, path in ((live, str(root / "nope")), (host, "/nope")):
        with pytest.raises(Exception, match="does not exist"):
            h.read_range(path, 0, 10)


def test_link_target(tmp_path: Path) -> None:
    root = _root_with_log(tmp_path)
    host = RootHost(str(root))
    assert host.link_target("/dev/dri/by-path/pci-0000:03:00.0-render") == "/dev/dri/renderD128"
    assert host.link_target("/dev/dri/renderD128") is None
    assert host.link_target("/dev/dri/missing") is None
    live = LiveHost()
    link = root / "dev/dri/by-path/pci-0000:03:00.0-render"
    assert live.link_target(str(link)) == str(root / "dev/dri/renderD128")
    assert live.link_target(str(root / "dev/dri/renderD128")) is None


def test_mount_and_write_permission_are_known_only_live(tmp_path: Path) -> None:
    live = LiveHost()
    assert live.read_only_mount(str(tmp_path)) is False
    assert live.writable(str(tmp_path)) is True
    assert live.read_only_mount(str(tmp_path / "missing")) is None
    root = _root_with_log(tmp_path)
    host = RootHost(str(root))
    assert host.read_only_mount("/var/log") is None
    assert host.writable("/var/log") is None

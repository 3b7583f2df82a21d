"""Issue 18: nothing clobbered, nothing left behind, nobody else can block a fix, honest exits.

Real device nodes (mknod), FIFOs, sockets, an immutable file (chattr +i), a real lock held by
another process, the `nobody` user, a private dockerd reading a daemon.json that is not UTF-8.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from gpudoctor.host import changes, safefile
from gpudoctor.host.leftovers import private_temp_dir, sweep
from tests.support.cli import REPO, run_gpudoctor
from tests.support.container_roots import nvidia_all_good
from tests.support.scenarios import vm_no_gpu
from tests.support.standins import install_standins, standin_dir


# ----- item 1: snapshot -o never replaces what is not a regular file ----------------------------
def _specials(folder: Path) -> dict[str, Path]:
    null = folder / "null"
    os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # what /dev/null is
    fifo = folder / "fifo"
    os.mkfifo(fifo)
    sock_path = folder / "sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(sock_path))
    sock.close()
    link = folder / "link"
    link.symlink_to(null)
    return {"a character device": null, "a FIFO (named pipe)": fifo, "a socket": sock_path,
            "a symbolic link": link}


def test_snapshot_output_refuses_devices_fifos_sockets_and_links(tmp_path: Path) -> None:
    root = vm_no_gpu(tmp_path / "root")
    for kind, target in _specials(tmp_path).items():
        before = os.lstat(target)
        run = run_gpudoctor("snapshot", "--root", root, "-o", target, timeout=60)
        assert run.returncode == 2, (kind, run.stdout, run.stderr)
        assert run.stderr == (f"gpudoctor: error: refusing to write the snapshot to {target}: "
                              f"it is {kind}; give a new file name or an existing regular "
                              "file\n")
        after = os.lstat(target)
        assert (after.st_mode, after.st_ino, after.st_rdev) == \
            (before.st_mode, before.st_ino, before.st_rdev)
    assert not list(tmp_path.glob(".gpudoctor-snapshot-*"))  # no partial archive left
    folder = tmp_path / "a-folder"
    folder.mkdir()
    run = run_gpudoctor("snapshot", "--root", root, "-o", folder, timeout=60)
    assert run.returncode == 2 and run.stderr == (
        f"gpudoctor: error: refusing to write the snapshot to {folder}: it is a folder; give a "
        f"file name, e.g. -o {folder}/snapshot.tar.gz\n")
    assert list(folder.iterdir()) == []
    regular = tmp_path / "old.tar.gz"
    regular.write_bytes(b"an older snapshot")
    run = run_gpudoctor("snapshot", "--root", root, "-o", regular, timeout=60)
    assert run.returncode == 0, run.stderr
    assert regular.read_bytes()[:2] == b"\x1f\x8b"


# ----- item 5: the fix lock -----------------------------------------------------------------------
HOLD = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
os.write(fd, b"pid 999999, started 2020-01-01 00:00:00\\n")  # a stale note of an old run
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(60)
"""


def test_the_lock_names_its_real_holder_never_a_stale_note(tmp_path: Path) -> None:
    lock = tmp_path / "fix.lock"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(lock)], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(safefile.LockBusy) as busy, safefile.fix_lock(str(lock), wait=0.3):
            pass
        message = str(busy.value)
        assert f"another gpudoctor fix is running (pid {holder.pid}: {sys.executable} -c" in \
            message
        assert "999999" not in message
    finally:
        holder.kill()
        holder.wait()
    with safefile.fix_lock(str(lock), wait=0):
        assert lock.read_text().startswith(f"pid {os.getpid()},")
    assert lock.read_text() == ""  # no note of a finished run is left for others to misread


@pytest.mark.machine
def test_the_default_lock_is_in_a_root_only_folder_no_other_user_can_open(
        monkeypatch: pytest.MonkeyPatch, unprivileged) -> None:
    monkeypatch.delenv("GPUDOCTOR_LOCK_FILE", raising=False)
    path = safefile.lock_path()
    assert path == "/run/gpudoctor/fix.lock"
    with safefile.fix_lock(wait=5):
        folder = os.lstat("/run/gpudoctor")
        assert stat.S_ISDIR(folder.st_mode) and folder.st_uid == 0
        assert stat.S_IMODE(folder.st_mode) == 0o700
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    # What blocked every fix before: any user opening the lock file and holding a shared lock.
    attempt = ("import fcntl, os, sys\n"
               "try:\n"
               "    fd = os.open(sys.argv[1], os.O_RDONLY)\n"
               "    fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)\n"
               "    print('held')\n"
               "except OSError as exc:\n"
               "    print('refused', exc.errno)\n")
    run = subprocess.run(unprivileged.python_argv("-c", attempt, path), capture_output=True,
                         text=True, env=unprivileged.env(), timeout=30, check=False)
    assert run.stdout.strip() == f"refused {errno.EACCES}", (run.stdout, run.stderr)


def test_a_lock_folder_someone_else_owns_or_a_link_is_refused(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign"
    foreign.mkdir(mode=0o700)
    os.chown(foreign, 65534, 65534)
    with pytest.raises(safefile.LockBusy, match="owned by UID 65534"):
        safefile.private_lock_dir(str(foreign))
    link = tmp_path / "link"
    link.symlink_to(tmp_path)
    with pytest.raises(safefile.LockBusy, match="not a folder"):
        safefile.private_lock_dir(str(link))
    loose = tmp_path / "loose"
    loose.mkdir()
    loose.chmod(0o1777)
    safefile.private_lock_dir(str(loose))
    assert stat.S_IMODE(loose.stat().st_mode) == 0o700


# ----- item 7: a daemon.json that is not UTF-8 ---------------------------------------------------
@pytest.mark.docker
def test_a_daemon_json_with_latin1_bytes_is_configured_keeping_them(dockerd_factory,
                                                                   tmp_path: Path) -> None:
    toolkit_bin = tmp_path / "toolkit-bin"
    install_standins(toolkit_bin, ["nvidia-container-runtime"])
    ctk = toolkit_bin / "nvidia-ctk"
    ctk.write_bytes((standin_dir() / "nvidia-ctk").read_bytes())
    ctk.chmod(0o755)
    d = dockerd_factory(config="{}\n", extra_path=[toolkit_bin])
    original = b'{\n  "labels": ["owner=Jos\xe9", "site=M\xfcnchen"]\n}\n'  # Latin-1, not UTF-8
    d.config_file.write_bytes(original)
    d.restart()  # dockerd starts with it: the file is valid for dockerd
    env = {"DOCKER_HOST": d.host, "GPUDOCTOR_LOCK_FILE": str(tmp_path / "fix.lock"),
           "PATH": f"{toolkit_bin}:{os.environ['PATH']}"}
    run = run_gpudoctor("fix", "docker.configure_nvidia_runtime", "docker.reload", "--yes",
                        env=env, timeout=180)
    assert run.returncode == 0, (run.stdout, run.stderr)
    assert "changed since the plan was made" not in run.stdout
    written = d.config_file.read_bytes()
    assert written == (b'{\n  "labels": ["owner=Jos\xe9", "site=M\xfcnchen"],\n  "runtimes": {\n'
                       b'    "nvidia": {\n      "args": [],\n      "path": '
                       b'"nvidia-container-runtime"\n    }\n  }\n}\n')
    [backup] = d.config_file.parent.glob("daemon.json.gpudoctor-*.bak")
    assert backup.read_bytes() == original
    assert "nvidia" in d.info()["Runtimes"]
    again = run_gpudoctor("fix", "docker.configure_nvidia_runtime", "--yes", env=env,
                          timeout=180)
    assert again.returncode == 0 and "nothing to do" in again.stdout
    assert d.config_file.read_bytes() == written


# ----- item 9: leftovers --------------------------------------------------------------------------
def _big_snapshot(tmp_path: Path) -> Path:
    """A snapshot archive with 400 MiB of zeros in it: it takes a moment to unpack."""
    root = vm_no_gpu(tmp_path / "root")
    big = root / "var/log/big.log"
    big.parent.mkdir(parents=True, exist_ok=True)
    with open(big, "wb") as fh:
        fh.truncate(400 * 1024 * 1024)
    archive = tmp_path / "big.tar.gz"
    subprocess.run(["tar", "-C", str(root), "-czf", str(archive), "."], check=True, timeout=300)
    big.unlink()
    return archive


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_terminated_root_archive_run_leaves_no_unpacked_folder(tmp_path: Path,
                                                                  sig: signal.Signals) -> None:
    archive = _big_snapshot(tmp_path)
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = dict(os.environ, TMPDIR=str(temp), NO_COLOR="1")
    proc = subprocess.Popen([sys.executable, "-m", "gpudoctor", "--json", "--root", str(archive)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            cwd=REPO)
    deadline = time.monotonic() + 60
    while not list(temp.glob(f"gpudoctor-root-{proc.pid}-*")) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert list(temp.glob(f"gpudoctor-root-{proc.pid}-*")), "the archive was never unpacked"
    proc.send_signal(sig)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, err
    assert err == (f"gpudoctor: terminated by {sig.name}; its temporary files were removed\n")
    assert list(temp.iterdir()) == []


def test_a_termination_while_the_folder_is_made_waits_until_it_is_remembered(
        tmp_path: Path, monkeypatch) -> None:
    """The race a loaded machine hit: SIGTERM after mkdtemp, before anyone knew the folder.
    With cli's own handler: the signal is raised once the folder is remembered, not before."""
    from gpudoctor import cli

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    remembered: list[str] = []

    def remember(folder: str) -> None:
        os.kill(os.getpid(), signal.SIGTERM)  # arrives in the middle of the registration
        time.sleep(0.05)  # ...and its handler has run by now, in this (the main) thread
        remembered.append(folder)

    previous = signal.signal(signal.SIGTERM, cli._terminate)
    try:
        with pytest.raises(cli.Terminated):
            private_temp_dir("gpudoctor-root-", remember)
    finally:
        signal.signal(signal.SIGTERM, previous)
    [made] = list(tmp_path.iterdir())
    assert remembered == [str(made)]  # registered for removal before the signal unwound


def test_fix_and_verify_handlers_also_wait_for_a_folder_being_made() -> None:
    """SignalHold (what `fix` and `verify` install) honours the same hold as cli's handler."""
    from gpudoctor.host.signals import SignalHold
    from gpudoctor.host.termination import hold

    steps: list[str] = []
    with SignalHold().installed(), pytest.raises(KeyboardInterrupt, match="SIGTERM"):
        with hold():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.05)
            steps.append("folder made and remembered")
        steps.append("never reached")
    assert steps == ["folder made and remembered"]


def test_leftovers_of_killed_runs_are_removed_at_the_next_start(tmp_path: Path,
                                                                 monkeypatch) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    dead = subprocess.Popen(["true"])
    dead.wait()
    mine_dead = [temp / f"gpudoctor-root-{dead.pid}-abc123", temp / f"gpudoctor-ctk-{dead.pid}-x"]
    for folder in mine_dead:
        (folder / "etc").mkdir(parents=True)
        (folder / "etc/big").write_bytes(b"0" * 4096)
    alive = temp / f"gpudoctor-root-{os.getpid()}-def456"  # a run that is still going
    alive.mkdir()
    foreign = temp / f"gpudoctor-root-{dead.pid}-foreign"  # another user's: not ours to remove
    foreign.mkdir()
    os.chown(foreign, 65534, 65534)
    link = temp / f"gpudoctor-root-{dead.pid}-link"
    link.symlink_to(tmp_path)
    archive = tmp_path / "snap.tar.gz"
    root = vm_no_gpu(tmp_path / "root")
    subprocess.run(["tar", "-C", str(root), "-czf", str(archive), "."], check=True, timeout=60)
    run = run_gpudoctor("--json", "--root", archive, env={"TMPDIR": str(temp)}, timeout=60)
    assert run.returncode in (0, 1), run.stderr
    assert not mine_dead[0].exists()
    assert alive.is_dir() and foreign.is_dir() and link.is_symlink() and tmp_path.is_dir()
    # Planning's scratch folders (nvidia-ctk is asked about a copy of daemon.json) likewise.
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    with changes.scratch("gpudoctor-ctk-") as scratch:
        assert Path(scratch).name.startswith(f"gpudoctor-ctk-{os.getpid()}-")
        assert not mine_dead[1].exists()
    assert sweep("gpudoctor-root-", str(temp)) == []


def test_a_failed_write_of_an_immutable_file_leaves_no_backup(tmp_path: Path) -> None:
    target = tmp_path / "daemon.json"
    target.write_text("{}\n")
    subprocess.run(["chattr", "+i", str(target)], check=True, timeout=10)
    try:
        with pytest.raises(safefile.UnsafeWrite, match="Operation not permitted"):
            safefile.atomic_write(str(target), b'{"debug": true}\n')
        assert sorted(p.name for p in tmp_path.iterdir()) == ["daemon.json"]
        assert target.read_text() == "{}\n"
    finally:
        subprocess.run(["chattr", "-i", str(target)], check=True, timeout=10)


# ----- item 10: exit codes and wording -----------------------------------------------------------
def test_a_check_in_error_makes_the_exit_code_1(tmp_path: Path) -> None:
    root = nvidia_all_good(tmp_path / "root")
    healthy = run_gpudoctor("--json", "--root", root, timeout=60)
    assert healthy.returncode == 0, healthy.stdout  # no false alarm next to the broken one
    host_json = root / ".gpudoctor/host.json"
    doc = json.loads(host_json.read_text())
    doc["processes"] = "not a list"  # the daemon's process cannot be known: not judged
    host_json.write_text(json.dumps(doc))
    run = run_gpudoctor("--json", "--root", root, timeout=60)
    statuses = {c["id"]: c["status"] for c in run.json["checks"]}
    assert statuses["docker.daemon"] == "error"
    assert "fail" not in statuses.values()
    assert run.returncode == 1
    text = run_gpudoctor("check", "--root", root, timeout=60)
    assert text.returncode == 1


def test_a_host_json_nested_too_deeply_is_bad_input_exit_2(tmp_path: Path) -> None:
    root = vm_no_gpu(tmp_path / "root")
    depth = 200_000
    (root / ".gpudoctor/host.json").write_text('{"format": 1, "x": ' + "[" * depth
                                               + "]" * depth + "}")
    run = run_gpudoctor("--json", "--root", root, timeout=60)
    assert run.returncode == 2
    assert run.stderr == (f"gpudoctor: error: {root}/.gpudoctor/host.json: its JSON is nested "
                          "too deeply to be a host.json\n")


def test_a_daemon_json_that_is_not_an_object_is_explained_without_line_none(
        tmp_path: Path) -> None:
    root = nvidia_all_good(tmp_path / "root")
    (root / "etc/docker/daemon.json").write_text('["runtimes"]\n')
    run = run_gpudoctor("fix", "docker.configure_nvidia_runtime", "--dry-run", "--json",
                        "--root", root, timeout=60)
    [plan] = json.loads(run.stdout)["plans"]
    assert "None" not in plan["blocked"]
    assert plan["blocked"] == (
        "/etc/docker/daemon.json: the top level is a JSON list, but dockerd needs an object "
        "(`{ ... }`): it will not start with this file. gpudoctor never overwrites a file it "
        "cannot parse: make its top level a JSON object (`{ ... }`) (dockerd cannot read it "
        "either), then run this fix again")
    deep = nvidia_all_good(tmp_path / "deep")
    (deep / "etc/docker/daemon.json").write_text('{"a": ' + "[" * 100_000 + "]" * 100_000 + "}")
    run = run_gpudoctor("--json", "--root", deep, timeout=60)
    assert run.returncode == 1, run.stderr
    assert "nested thousands of levels deep" in run.stdout

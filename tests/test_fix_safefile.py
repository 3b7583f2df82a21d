"""gpudoctor.host.safefile: atomic replacement keeping mode, owner and extended attributes, backups
beside the file, links followed, the fix lock across processes (released by the kernel even on
SIGKILL), and clean-up of temporary files left by killed runs."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gpudoctor.host import safefile
from tests.support.cli import REPO


def test_replace_keeps_mode_owner_xattrs_and_keeps_a_backup(tmp_path):
    path = tmp_path / "daemon.json"
    path.write_bytes(b"old\n")
    os.chown(path, 65534, 65534)
    path.chmod(0o600)
    os.setxattr(path, "user.origin", b"person")
    result = safefile.atomic_write(str(path), b"new\n")
    assert path.read_bytes() == b"new\n"
    st = path.stat()
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (65534, 65534, 0o600)
    assert os.getxattr(path, "user.origin") == b"person"
    assert result.backup is not None and not result.created
    backup = Path(result.backup)
    assert backup.parent == tmp_path and backup.name.startswith("daemon.json.gpudoctor-")
    assert backup.read_bytes() == b"old\n"
    bst = backup.stat()
    assert (bst.st_uid, stat.S_IMODE(bst.st_mode)) == (65534, 0o600)
    assert sorted(path.parent.glob(f"{path.name}.gpudoctor-*.bak")) == [backup]
    # A second backup in the same second gets its own name.
    second = safefile.atomic_write(str(path), b"newer\n")
    assert second.backup != result.backup
    assert Path(second.backup).read_bytes() == b"new\n"


def test_a_link_is_followed_and_kept(tmp_path):
    real = tmp_path / "real" / "daemon.json"
    real.parent.mkdir()
    real.write_text("{}\n")
    link = tmp_path / "etc" / "daemon.json"
    link.parent.mkdir()
    link.symlink_to(real)
    result = safefile.atomic_write(str(link), b'{"a": 1}\n')
    assert link.is_symlink() and real.read_text() == '{"a": 1}\n'
    assert result.path == str(real)
    assert Path(result.backup).parent == link.parent


def test_a_new_file_gets_parents_and_0644_and_restore_removes_it(tmp_path):
    path = tmp_path / "a" / "b" / "new.list"
    result = safefile.atomic_write(str(path), b"deb x /\n")
    assert result.created and result.backup is None
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    safefile.restore(str(path), None)
    assert not path.exists()


def test_only_regular_files_are_replaced(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(safefile.UnsafeWrite, match="not a regular file"):
        safefile.atomic_write(str(fifo), b"x")
    with pytest.raises(safefile.UnsafeWrite):
        safefile.atomic_write(str(tmp_path), b"x")


def test_restore_puts_the_backup_back(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"one")
    result = safefile.atomic_write(str(path), b"two")
    safefile.restore(str(path), result.backup)
    assert path.read_bytes() == b"one"


def test_diff_marks_missing_newlines_and_new_files():
    diff = safefile.unified_diff(b'{"a": 1}', b'{"a": 2}\n', "/etc/docker/daemon.json")
    assert diff.splitlines()[:2] == ["--- /etc/docker/daemon.json", "+++ /etc/docker/daemon.json"]
    assert '-{"a": 1}\n\\ No newline at end of file\n+{"a": 2}\n' in diff
    created = safefile.unified_diff(None, b"x\n", "/etc/new")
    assert created.startswith("--- /dev/null\n+++ /etc/new\n")
    assert safefile.unified_diff(b"same\n", b"same\n", "/x") == ""


def test_temporaries_of_dead_writers_are_cleaned_but_not_live_ones(tmp_path):
    path = tmp_path / "daemon.json"
    path.write_text("{}\n")
    dead = tmp_path / ".daemon.json.gpudoctor-999999-abc123.tmp"
    dead_backup = tmp_path / ".daemon.json.gpudoctor-20260101-000000.bak.gpudoctor-999999-x.tmp"
    live = tmp_path / f".daemon.json.gpudoctor-{os.getpid()}-abc123.tmp"
    other = tmp_path / ".other.gpudoctor-999999-abc123.tmp"
    for leftover in (dead, dead_backup, live, other):
        leftover.write_text("partial")
    safefile.atomic_write(str(path), b'{"a": 1}\n')
    assert not dead.exists() and not dead_backup.exists()
    assert live.exists() and other.exists()


HOLDER = """
import sys, time
from gpudoctor.host import safefile
with safefile.fix_lock(sys.argv[1], wait=0):
    print("held", flush=True)
    time.sleep(60)
"""


def test_the_lock_excludes_other_processes_and_dies_with_its_holder(tmp_path):
    lock = str(tmp_path / "gpudoctor.lock")
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, lock], cwd=REPO,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        waited: list[str] = []
        started = time.monotonic()
        with pytest.raises(safefile.LockBusy) as busy, \
                safefile.fix_lock(lock, wait=0.5, on_wait=waited.append):
            pass
        assert 0.5 <= time.monotonic() - started < 3
        assert f"another gpudoctor fix is running (pid {holder.pid}: " in str(busy.value)
        assert waited and f"pid {holder.pid}" in waited[0]
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        with safefile.fix_lock(lock, wait=0) as had_to_wait:
            assert had_to_wait is False
            assert Path(lock).read_text().startswith(f"pid {os.getpid()},")
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
